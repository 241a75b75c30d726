import FerryTestSupport
import FerryPeer
import FerryTracker
import FerryWire
import Foundation
import NIOCore
import Testing

extension EndToEndTests {
    @Suite("Tracker over loopback")
    struct TrackerTests {
        @Test("three peers announce; lookups of one and many names; not found")
        func threePeersAndLookups() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let a = sampleBytes(count: 1000, seed: 1)
            let b = sampleBytes(count: 2000, seed: 2)
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["a.txt": a, "b.md": b])
            let p3 = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["a.txt": a])
            let p4 = try await TestPeer.start(host: host(4), tracker: tracker.endpoint, in: temporary, files: ["c.bin": b])

            let client = try await tracker.connect()
            let one = try await client.lookup(["a.txt"])
            #expect(one.count == 1)
            guard case .found(let groups) = one.first?.outcome else { Issue.record("a.txt not found"); return }
            #expect(groups.count == 1)
            #expect(groups.first?.size == 1000)
            #expect(groups.first?.holders.map(\.host) == [host(2), host(3)])
            #expect(groups.first?.holders.allSatisfy { $0.tcpPort == 5555 } == true)

            let many = try await client.lookup(["b.md", "c.bin", "nope.txt", "a.txt"])
            #expect(many.map(\.name) == ["b.md", "c.bin", "nope.txt", "a.txt"])
            guard case .found(let bGroups) = many[0].outcome, case .found(let cGroups) = many[1].outcome else {
                Issue.record("b.md or c.bin not found")
                return
            }
            #expect(bGroups.map { $0.holders.map(\.host) } == [[host(2)]])
            #expect(cGroups.map { $0.holders.map(\.host) } == [[host(4)]])
            #expect(bGroups[0].digest == cGroups[0].digest)
            #expect(many[2].outcome == .notFound)

            let listed = try await client.list("*.txt")
            #expect(listed.map(\.name) == ["a.txt"])
            #expect(listed.first?.holderCount == 2)

            await client.close()
            for peer in [p2, p3, p4] { await peer.kill() }
            await tracker.stop()
        }

        @Test("a killed peer is gone from lookups within 10 s")
        func killedPeerLeavesIndex() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 100, seed: 3)
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["x": bytes])
            let p3 = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["x": bytes])
            let client = try await tracker.connect()
            #expect(try await holders(of: "x", client) == [host(2), host(3)])

            await p2.kill()
            #expect(try await eventually(within: Sanitizers.patience(.seconds(10))) { try await holders(of: "x", client) == [host(3)] })
            await p3.kill()
            #expect(try await eventually(within: Sanitizers.patience(.seconds(10))) { try await client.lookup(["x"]).first?.outcome == .notFound })
            await client.close()
            await tracker.stop()
        }

        /// The idle timeout (for a connection without `HELLO`) is far longer here: the heartbeat
        /// timeout must apply from `HELLO` on, not from the idle timer's first wake-up (it did not).
        @Test("a peer that stops sending heartbeats is dropped after the heartbeat timeout")
        func silentPeerIsDropped() async throws {
            let tracker = try await TestTracker.start(heartbeatTimeout: .seconds(1), idleTimeout: .seconds(120))
            let silent = try await tracker.connect()
            _ = try await silent.hello(tcpPort: 5555, udpPort: 0)
            let digest = ContentDigest(bytes: [UInt8](repeating: 7, count: 32))!
            _ = try await silent.announce([SharedFileEntry(name: SharedFileName("quiet.txt")!, size: 1, digest: digest)])
            let client = try await tracker.connect()
            guard case .found = try await client.lookup(["quiet.txt"]).first?.outcome else {
                Issue.record("the announced file is not found")
                return
            }
            // The silent connection sends nothing more; the tracker must notice on its own.
            #expect(try await eventually(within: Sanitizers.patience(.seconds(10))) { try await client.lookup(["quiet.txt"]).first?.outcome == .notFound })
            await silent.closed()
            await client.close()
            await tracker.stop()
        }

        @Test("a restarted tracker starts with every peer offline and gets them back within 10 s")
        func trackerRestart() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let database = temporary.path + "/tracker.sqlite"
            let first = try await TestTracker.start(database: database)
            let bytes = sampleBytes(count: 10, seed: 4)
            let p2 = try await TestPeer.start(host: host(2), tracker: first.endpoint, in: temporary, files: ["r.txt": bytes])
            let p3 = try await TestPeer.start(host: host(3), tracker: first.endpoint, in: temporary, files: ["r.txt": bytes])
            await first.stop()

            let second = try await TestTracker.start(port: first.port, database: database)
            let client = try await second.connect()
            let restarted = ContinuousClock.now
            #expect(try await eventually(within: Sanitizers.patience(.seconds(10))) {
                try await holders(of: "r.txt", client).sorted() == [host(2), host(3)]
            })
            #expect(ContinuousClock.now - restarted < .seconds(10))
            await client.close()
            await p2.kill()
            await p3.kill()
            await second.stop()
        }

        @Test("peers with different content under one name are grouped by SHA-256, most held first")
        func differentContentUnderOneName() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let common = sampleBytes(count: 500, seed: 5)
            let other = sampleBytes(count: 600, seed: 6)
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["same.txt": other])
            let p3 = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["same.txt": common])
            let p4 = try await TestPeer.start(host: host(4), tracker: tracker.endpoint, in: temporary, files: ["same.txt": common])
            let client = try await tracker.connect()
            guard case .found(let groups) = try await client.lookup(["same.txt"]).first?.outcome else {
                Issue.record("same.txt not found")
                return
            }
            #expect(groups.map(\.size) == [500, 600])
            #expect(groups.map { $0.holders.map(\.host) } == [[host(3), host(4)], [host(2)]])
            #expect(groups[0].digest != groups[1].digest)
            await client.close()
            for peer in [p2, p3, p4] { await peer.kill() }
            await tracker.stop()
        }

        @Test("garbage and over-long lines get error codes while another client keeps working")
        func garbageDoesNotHurtOthers() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["ok.txt": [1, 2, 3]])
            let client = try await tracker.connect()
            try await RawClient.withConnection(host: "127.0.0.1", port: tracker.port) { raw in
                try await raw.send(Array(repeating: UInt8(ascii: "x"), count: 10_000) + [UInt8(ascii: "\n")])
                #expect(try await raw.readReply().first?.hasPrefix("402 ") == true)
                // The normal client is served while the raw one misbehaves.
                #expect(try await holders(of: "ok.txt", client) == [host(2)])

                try await raw.send([0x53, 0x45, 0x00, 0x4E, 0x44, 0x0A])  // "SE\0ND\n"
                #expect(try await raw.readReply().first?.hasPrefix("400 ") == true)
                try await raw.send([0xFF, 0xFE, 0x41, 0x0A])  // not UTF-8
                #expect(try await raw.readReply().first?.hasPrefix("400 ") == true)
                try await raw.send("FROBNICATE now\n")
                #expect(try await raw.readReply().first?.hasPrefix("401 ") == true)
                try await raw.send("SEND ../etc/passwd, ok.txt\n")
                let reply = try await raw.readReply()
                #expect(reply.first?.hasPrefix("403-BADNAME") == true)
                #expect(reply.last == "200 SEND 2")
                try await raw.send("ADD 1 zz a\n")
                #expect(try await raw.readReply().first?.hasPrefix("400 ") == true)
                try await raw.send("UPDATE 1\n")
                #expect(try await raw.readReply().first?.hasPrefix("405 ") == true)

                // Random bytes, then the connection still answers.
                var generator = SeededGenerator(seed: 42)
                var noise = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &generator) }
                noise.append(UInt8(ascii: "\n"))
                try await raw.send(noise)
                try await raw.send("PING\n")
                var sawPong = false
                for _ in 0..<200 {
                    guard let line = try await raw.readLine() else { break }
                    if line == "200 PONG" {
                        sawPong = true
                        break
                    }
                    #expect(TrackerReplyLine(parsing: line)?.status.isSuccess == false)
                }
                #expect(sawPong)
            }
            #expect(try await holders(of: "ok.txt", client) == [host(2)])
            await client.close()
            await p2.kill()
            await tracker.stop()
        }

        @Test("added, changed and removed files are announced within 10 s")
        func shareChangesAreAnnounced() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["old.txt": [1]])
            let client = try await tracker.connect()
            try write([1, 2, 3, 4], to: p2.folder + "/new.txt")
            #expect(try await eventually { try await holders(of: "new.txt", client) == [host(2)] })
            try FileManager.default.removeItem(atPath: p2.folder + "/old.txt")
            #expect(try await eventually { try await client.lookup(["old.txt"]).first?.outcome == .notFound })
            try write([9, 9], to: p2.folder + "/new.txt")
            #expect(try await eventually {
                guard case .found(let groups) = try await client.lookup(["new.txt"]).first?.outcome else { return false }
                return groups.first?.size == 2
            })
            await client.close()
            await p2.kill()
            await tracker.stop()
        }
    }
}

/// The hosts holding `name`, in the tracker's order (empty when not found).
func holders(of name: String, _ client: TrackerConnection) async throws -> [String] {
    guard case .found(let groups) = try await client.lookup([name]).first?.outcome else { return [] }
    return groups.flatMap { $0.holders.map(\.host) }
}

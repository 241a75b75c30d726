import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import Testing

extension EndToEndTests {
    /// Issue 9: peers that are still downloading a file serve the chunks they have verified (partial
    /// holders), so that a crowd of downloaders of one file serve each other. Hosts 110 and up.
    @Suite("Partial holders over loopback", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct PartialHolderTests {
        /// 3 MiB: twelve chunks of 256 KiB.
        static let size = 3 << 20
        static let chunkSize: UInt64 = 256 << 10
        static let name = SharedFileName("big.bin")!

        /// Whether the tracker lists a holder on `host` for big.bin, partial or not.
        static func listed(_ host: String, partial: Bool, by tracker: TrackerConnection) async throws -> Bool {
            let results = try await tracker.lookup([name.rawValue])
            guard case .found(let groups) = results.first?.outcome else { return false }
            return groups.contains { group in
                group.holders.contains { $0.host == host && group.partial.contains($0) == partial }
            }
        }

        @Test("a downloading peer is listed as a partial holder, says which chunks it has, serves only those, and is unlisted when done")
        func partialHolderServes() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 1101)
            let seeder = try await TestPeer.start(host: host(110), tracker: tracker.endpoint, in: temporary,
                                                  files: ["big.bin": bytes], rateLimit: ByteRate(bytesPerSecond: 512 << 10))
            let early = try await TestPeer.start(host: host(111), tracker: tracker.endpoint, in: temporary)
            let earlyRun = Task { await early.node.downloader().download(["big.bin"]) }
            let lookups = try await tracker.connect()

            #expect(try await eventually(within: .seconds(30)) { try await Self.listed(host(111), partial: true, by: lookups) })
            let digest = try ContentHasher.digest(ofFileAt: seeder.folder + "/big.bin")
            let chunks = try await PieceLayerFetcher(localHost: "127.0.0.1")
                .chunks(of: Self.name, size: UInt64(Self.size), digest: digest, chunkSize: Self.chunkSize, from: early.holder).get()
            #expect(chunks.count == 12)
            let have = try #require(chunks.firstIndex(of: true), "listed as partial with no chunk: \(chunks)")
            // A verified chunk comes back as it is in the file.
            let start = UInt64(have) * Self.chunkSize
            let reply = try await RawClient.withConnection(host: host(111), port: 5555) { client in
                try await client.send("GET \(start) \(start + Self.chunkSize) \"big.bin\"\n")
                return try await client.readToEnd()
            }
            let header = Array("200 \(Self.size) \(digest.hex) \(start) \(Self.chunkSize)\n".utf8)
            #expect(Array(reply.prefix(header.count)) == header)
            #expect(Array(reply.dropFirst(header.count)) == Array(bytes[Int(start)..<Int(start + Self.chunkSize)]))
            // A chunk it does not have is refused, never sent from the part file. The download goes on
            // meanwhile: a chunk missing from the bitmap can be verified before the GET reaches the
            // peer. Then the bitmap read after the reply must show it, and another missing chunk is
            // tried (a peer serving unverified bytes would answer 200 for a chunk still missing).
            var bitmap = chunks
            var refused = false
            for _ in 0..<5 {
                guard let missing = bitmap.firstIndex(of: false) else { break }
                let start = UInt64(missing) * Self.chunkSize
                let answer = try await RawClient.withConnection(host: host(111), port: 5555) { client in
                    try await client.send("GET \(start) \(start + Self.chunkSize) \"big.bin\"\n")
                    return try await client.readToEnd()
                }
                let text = String(decoding: answer.prefix(200), as: UTF8.self)
                if text.hasPrefix("416 ") {
                    refused = true
                    break
                }
                #expect(text.hasPrefix("200 "), "\(text)")
                bitmap = try await PieceLayerFetcher(localHost: "127.0.0.1")
                    .chunks(of: Self.name, size: UInt64(Self.size), digest: digest, chunkSize: Self.chunkSize, from: early.holder).get()
                #expect(bitmap[missing], "chunk \(missing) was served before it was verified: \(text)")
                guard bitmap[missing] else { break }
            }
            // Every chunk may have arrived before a refusal could be seen (a very slow run): then
            // there was nothing left to refuse.
            #expect(refused || !bitmap.contains(false), "\(bitmap)")
            // A peer that starts later fetches from it too.
            let late = try await TestPeer.start(host: host(112), tracker: tracker.endpoint, in: temporary)
            let lateOutcome = try #require(await late.node.downloader().download(["big.bin"]).first)
            #expect(lateOutcome.status == .ok, "\(lateOutcome.message ?? "") \(lateOutcome.attempts)")
            expectFile(late.node.configuration.downloadFolder + "/big.bin", holds: bytes)
            let fromEarly = lateOutcome.sourceRecords.first { $0.peer.hasPrefix(host(111) + ":") }
            #expect((fromEarly?.chunks ?? 0) > 0, "\(lateOutcome.sourceRecords)")

            let earlyOutcome = try #require(await earlyRun.value.first)
            #expect(earlyOutcome.status == .ok, "\(earlyOutcome.message ?? "")")
            expectFile(early.node.configuration.downloadFolder + "/big.bin", holds: bytes)
            // Its downloads folder is not shared: once done, it no longer holds the file. A new lookup
            // connection: the first one may have been silent for longer than the tracker's 10 s idle
            // timeout while the downloads ran (seen under the thread sanitizer).
            await lookups.close()
            let lookupsNow = try await tracker.connect()
            #expect(try await eventually { try await !Self.listed(host(111), partial: true, by: lookupsNow) })
            #expect(try await !Self.listed(host(111), partial: false, by: lookupsNow))
            await lookupsNow.close()
            for peer in [seeder, early, late] { await peer.kill() }
            await tracker.stop()
        }

        @Test("a partial holder killed while serving costs its chunks in flight; the download completes from the others")
        func partialHolderKilled() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 1102)
            let seeder = try await TestPeer.start(host: host(113), tracker: tracker.endpoint, in: temporary,
                                                  files: ["big.bin": bytes], rateLimit: ByteRate(bytesPerSecond: 1 << 20))
            let partial = try await TestPeer.start(host: host(114), tracker: tracker.endpoint, in: temporary)
            let partialRun = Task { await partial.node.downloader().download(["big.bin"]) }
            let lookups = try await tracker.connect()
            #expect(try await eventually(within: .seconds(30)) { try await Self.listed(host(114), partial: true, by: lookups) })
            await lookups.close()

            let into = try temporary.subfolder("into")
            let killed = NIOLockedValueBox(false)
            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into) { event in
                // Killed as soon as this download has it among its sources.
                if case .sources(_, let active, _, _) = event, active.contains(where: { $0.hasPrefix(host(114) + ":") }),
                   killed.withLockedValue({ let first = !$0; $0 = true; return first }) {
                    Task { await partial.kill() }
                }
            }.first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            expectFile(into + "/big.bin", holds: bytes)
            #expect(killed.withLockedValue { $0 }, "the partial holder never became a source")
            #expect(outcome.attempts.contains { $0.peer.hasPrefix(host(114) + ":") && $0.error != nil }, "\(outcome.attempts)")
            #expect(outcome.sourceRecords.map(\.chunks).reduce(0, +) == 12)
            _ = await partialRun.value
            await seeder.kill()
            await tracker.stop()
        }

        @Test("a small flash crowd: four peers at once from one slow seeder serve each other, and all finish")
        func flashCrowd() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 1103)
            let seeder = try await TestPeer.start(host: host(115), tracker: tracker.endpoint, in: temporary,
                                                  files: ["big.bin": bytes], rateLimit: ByteRate(bytesPerSecond: 1 << 20))
            var crowd: [TestPeer] = []
            for index in 0..<4 {
                crowd.append(try await TestPeer.start(host: host(116 + index), tracker: tracker.endpoint, in: temporary))
            }
            let outcomes = await withTaskGroup(of: DownloadOutcome?.self) { group in
                for peer in crowd { group.addTask { await peer.node.downloader().download(["big.bin"]).first } }
                return await group.reduce(into: [DownloadOutcome]()) { if let outcome = $1 { $0.append(outcome) } }
            }
            #expect(outcomes.count == 4)
            for outcome in outcomes { #expect(outcome.status == .ok, "\(outcome.message ?? "")") }
            for peer in crowd { expectFile(peer.node.configuration.downloadFolder + "/big.bin", holds: bytes) }
            // The seeder's upload alone would serve 4 × 3 MiB; the crowd took chunks from each other.
            let fromCrowd = outcomes.flatMap(\.sourceRecords).filter { !$0.peer.hasPrefix(host(115) + ":") }.map(\.chunks).reduce(0, +)
            let fromSeeder = outcomes.flatMap(\.sourceRecords).filter { $0.peer.hasPrefix(host(115) + ":") }.map(\.chunks).reduce(0, +)
            #expect(fromCrowd > 0, "every chunk came from the seeder")
            #expect(fromCrowd + fromSeeder == 48)
            for peer in crowd + [seeder] { await peer.kill() }
            await tracker.stop()
        }
    }
}

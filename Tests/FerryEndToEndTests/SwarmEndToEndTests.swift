import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EndToEndTests {
    /// Issue 9: one file from several holders at once, every chunk checked against the piece layer.
    /// Hosts 90 and up.
    @Suite("Swarm downloads over loopback", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct SwarmTests {
        /// 3 MiB: twelve chunks of 256 KiB.
        static let size = 3 << 20

        /// Peers on hosts 90, 91, … sharing `bytes` as `big.bin`, each capped at `rate` bytes per
        /// second so that no one source can finish alone before the others connect.
        static func holders(_ count: Int, bytes: [UInt8], tracker: TestTracker, in temporary: TemporaryFolder,
                            rate: ByteRate? = ByteRate(bytesPerSecond: 4 << 20)) async throws -> [TestPeer] {
            var peers: [TestPeer] = []
            for index in 0..<count {
                peers.append(try await TestPeer.start(host: host(90 + index), tracker: tracker.endpoint, in: temporary,
                                                      files: ["big.bin": bytes], rateLimit: rate))
            }
            return peers
        }

        @Test("four holders share the work, over TCP and over UDP", arguments: [Transport.tcp, .udp])
        func fourHolders(_ transport: Transport) async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 901)
            let peers = try await Self.holders(4, bytes: bytes, tracker: tracker, in: temporary)
            let into = try temporary.subfolder("into")
            let counted = NIOLockedValueBox<Int>(0)
            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into, transports: [transport]) { event in
                if case .sources(_, let active, _, _) = event { counted.withLockedValue { $0 = max($0, active.count) } }
            }.first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "") \(outcome.attempts)")
            expectFile(into + "/big.bin", holds: bytes)
            let sources = outcome.sourceRecords
            #expect(sources.count == 4, "\(sources)")
            #expect(sources.allSatisfy { $0.transport == transport })
            #expect(sources.map(\.chunks).reduce(0, +) == 12, "\(sources)")
            #expect(sources.filter { $0.chunks > 0 }.count >= 2, "one source did all the work: \(sources)")
            #expect(sources.allSatisfy { $0.badChunks == 0 })
            #expect(counted.withLockedValue { $0 } >= 2)
            #expect(outcome.attempts.allSatisfy { $0.error == nil }, "\(outcome.attempts)")
            #expect(outcome.peer == sources.max { $0.bytes < $1.bytes }?.peer)
            #expect(outcome.jsonLine.contains(#""sources":[{"peer":"#))
            #expect(!FileManager.default.fileExists(atPath: into + "/big.bin.part"))
            #expect(!FileManager.default.fileExists(atPath: into + "/.big.bin.state.part"))
            for peer in peers { await peer.kill() }
            await tracker.stop()
        }

        @Test("a holder that serves corrupt chunks is dropped after two, and the file completes")
        func corruptHolder() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 902)
            // The liar announces the file through a peer that serves nothing, and answers on its address.
            let announcer = try await TestPeer.start(host: host(95), tracker: tracker.endpoint, in: temporary,
                                                     files: ["big.bin": bytes], serveFiles: false)
            let liar = try await LyingHolder.start(host: host(95), port: 5555, size: UInt64(Self.size),
                                                   digest: try ContentHasher.digest(ofFileAt: announcer.folder + "/big.bin"),
                                                   corrupting: bytes)
            let peers = try await Self.holders(3, bytes: bytes, tracker: tracker, in: temporary)
            let into = try temporary.subfolder("into")
            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into).first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            expectFile(into + "/big.bin", holds: bytes)
            let bad = try #require(outcome.sourceRecords.first { $0.peer.hasPrefix(host(95) + ":") }, "\(outcome.sourceRecords)")
            #expect(bad.chunks == 0)
            #expect((1...2).contains(bad.badChunks), "\(bad)")
            #expect(outcome.sourceRecords.map(\.chunks).reduce(0, +) == 12)
            if bad.badChunks == 2 {
                #expect(outcome.attempts.contains { $0.peer == bad.peer && $0.error == .hashMismatch }, "\(outcome.attempts)")
            }
            await liar.stop()
            await announcer.kill()
            for peer in peers { await peer.kill() }
            await tracker.stop()
        }

        @Test("a holder killed mid-transfer costs the chunks it had in flight; the others finish", arguments: [Transport.tcp, .udp])
        func holderKilled(_ transport: Transport) async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 905)
            // 1 MiB/s each: the kill (in a task) must land well before the last chunk; at 2 MiB/s the
            // download once finished first, in endgame, with no attempt of the dead peer failing.
            let peers = try await Self.holders(3, bytes: bytes, tracker: tracker, in: temporary, rate: ByteRate(bytesPerSecond: 1 << 20))
            let into = try temporary.subfolder("into")
            let killed = NIOLockedValueBox(false)
            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into, transports: [transport]) { event in
                if case .progress(_, let received, _) = event, received >= 3 << 18,
                   killed.withLockedValue({ let first = !$0; $0 = true; return first }) {
                    Task { await peers[0].kill() }
                }
            }.first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            expectFile(into + "/big.bin", holds: bytes)
            let dead = try #require(outcome.sourceRecords.first { $0.peer.hasPrefix(host(90) + ":") })
            #expect(outcome.attempts.contains { $0.peer == dead.peer && $0.error != nil }, "\(outcome.attempts)")
            // Thrown away: at most the chunk each source was receiving when it ended.
            let fetched = outcome.sourceRecords.map(\.bytes).reduce(0, +)
            #expect(fetched <= UInt64(Self.size) + 3 << 18, "\(fetched) bytes fetched")
            #expect(outcome.sourceRecords.map(\.chunks).reduce(0, +) == 12)
            for peer in peers.dropFirst() { await peer.kill() }
            await tracker.stop()
        }

        /// Chunks the record in `folder` says are verified, or 0.
        static func recordedChunks(in folder: String) -> Int {
            guard let text = contents(of: folder + "/.big.bin.state.part"),
                  let record = PartRecord(parsing: String(decoding: text, as: UTF8.self)) else { return 0 }
            return record.chunks?.verified.filter { $0 }.count ?? 0
        }

        @Test("`ferry get` killed with SIGKILL halfway: the next run fetches only the chunks it had not verified",
              .enabled(if: ProcessSignalTests.binary != nil))
        func resumesAfterKill() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 906)
            let peers = try await Self.holders(3, bytes: bytes, tracker: tracker, in: temporary, rate: ByteRate(bytesPerSecond: 512 << 10))
            let into = try temporary.subfolder("into")
            let process = try ProcessSignalTests.launch(["get", "big.bin", "--server", "127.0.0.1:\(tracker.port)", "--host", "127.0.0.1",
                                                         "--downloads", into], home: temporary.path)
            // The record is the only way to see into the other process: polled, within a bound.
            let halfway = await eventually(within: .seconds(30)) { Self.recordedChunks(in: into) >= 4 }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(halfway)
            let kept = Self.recordedChunks(in: into)
            #expect(kept >= 4 && kept < 12, "\(kept) chunks recorded")

            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into).first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            expectFile(into + "/big.bin", holds: bytes)
            let fetched = outcome.sourceRecords.map(\.bytes).reduce(0, +)
            let missing = UInt64(12 - kept) << 18
            #expect(fetched <= missing + UInt64(outcome.sourceRecords.count) << 18, "\(fetched) bytes fetched for \(missing) missing")
            for peer in peers { await peer.kill() }
            await tracker.stop()
        }

        @Test("--max-sources 1 takes one holder at a time, as before")
        func oneSource() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 903)
            let peers = try await Self.holders(2, bytes: bytes, tracker: tracker, in: temporary, rate: nil)
            let into = try temporary.subfolder("into")
            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into, maximumSources: 1).first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            expectFile(into + "/big.bin", holds: bytes)
            #expect(outcome.attempts.count == 1)
            #expect(outcome.sourceRecords == [DownloadOutcome.SourceRecord(peer: host(90) + ":5555", transport: .tcp, bytes: UInt64(Self.size))])
            for peer in peers { await peer.kill() }
            await tracker.stop()
        }

        @Test("a download stopped part-way goes on from its verified chunks, fetching only the missing ones")
        func resumesFromVerifiedChunks() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 904)
            let peers = try await Self.holders(3, bytes: bytes, tracker: tracker, in: temporary, rate: ByteRate(bytesPerSecond: 1 << 20))
            let into = try temporary.subfolder("into")
            // The first run is stopped once a few chunks are verified, as a kill would stop it: the
            // record is rewritten after each chunk, so it holds what was verified by then.
            let halfway = AsyncStream<Void>.makeStream()
            let first = Task {
                try await download(["big.bin"], from: tracker, into: into) { event in
                    if case .progress(_, let received, _) = event, received >= 4 << 18 { halfway.continuation.yield() }
                }
            }
            var iterator = halfway.stream.makeAsyncIterator()
            _ = await iterator.next()
            first.cancel()
            _ = try? await first.value
            let text = try #require(contents(of: into + "/.big.bin.state.part"))
            let record = try #require(PartRecord(parsing: String(decoding: text, as: UTF8.self)))
            let kept = try #require(record.chunks).verified.filter { $0 }.count
            #expect(kept >= 4 && kept < 12, "\(kept) chunks kept")

            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into).first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            expectFile(into + "/big.bin", holds: bytes)
            let fetched = outcome.sourceRecords.map(\.bytes).reduce(0, +)
            let missing = UInt64(12 - kept) << 18
            #expect(outcome.sourceRecords.map(\.chunks).reduce(0, +) == 12 - kept)
            #expect(fetched <= missing + UInt64(outcome.sourceRecords.count) << 18, "\(fetched) bytes fetched for \(missing) missing")
            for peer in peers { await peer.kill() }
            await tracker.stop()
        }
    }
}

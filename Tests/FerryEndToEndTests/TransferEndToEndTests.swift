import FerryTestSupport
import FerryPeer
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEndTests {
    @Suite("TCP transfers over loopback")
    struct TransferTests {
        @Test("several files download in parallel, verified; a missing name is not_found")
        func parallelDownloads() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let files = ["a.bin": sampleBytes(count: 3 << 20, seed: 10), "b.txt": sampleBytes(count: 777, seed: 11),
                         "c.bin": sampleBytes(count: 1 << 20, seed: 12)]
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary,
                                              files: ["a.bin": files["a.bin"]!, "b.txt": files["b.txt"]!])
            let p3 = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["c.bin": files["c.bin"]!])
            let running = NIOLockedValueBox((now: 0, most: 0))
            let into = try temporary.subfolder("client")
            let outcomes = try await download(["a.bin", "b.txt", "c.bin", "missing.txt"], from: tracker, into: into) { event in
                switch event {
                case .attemptStarted: running.withLockedValue { $0.now += 1; $0.most = max($0.most, $0.now) }
                case .finished(let outcome) where !outcome.attempts.isEmpty: running.withLockedValue { $0.now -= 1 }
                default: break
                }
            }
            #expect(outcomes.map(\.status) == [.ok, .ok, .ok, .notFound])
            for (name, bytes) in files {
                expectFile(into + "/" + name, holds: bytes, "\(name) differs")
            }
            #expect(outcomes[0].peer == "\(host(2)):5555")
            #expect(outcomes[2].peer == "\(host(3)):5555")
            #expect(outcomes[0].attempts.count == 1 && outcomes[0].attempts[0].error == nil)
            #expect(running.withLockedValue { $0.most } >= 2, "downloads did not overlap")
            #expect(!FileManager.default.fileExists(atPath: into + "/missing.txt"))
            await p2.kill()
            await p3.kill()
            await tracker.stop()
        }

        @Test("the first candidate is dead: connect_failed, then the next peer")
        func firstCandidateDead() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 200_000, seed: 20)
            let dead = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["f": bytes], serveFiles: false)
            let alive = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["f": bytes])
            let into = try temporary.subfolder("client")
            let outcome = try #require(try await download(["f"], from: tracker, into: into).first)
            #expect(outcome.status == .ok)
            #expect(outcome.peer == "\(host(3)):5555")
            #expect(outcome.attempts.map(\.error) == [.connectFailed, nil])
            #expect(outcome.attempts.map(\.peer) == ["\(host(2)):5555", "\(host(3)):5555"])
            expectFile(into + "/f", holds: bytes)
            await dead.kill()
            await alive.kill()
            await tracker.stop()
        }

        @Test("a peer killed mid-transfer: the next peer resumes from the offset received")
        func killedMidTransferResumes() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let size = 8 << 20
            let bytes = sampleBytes(count: size, seed: 30)
            let slow = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["movie.mkv": bytes],
                                                rateLimit: ByteRate(bytesPerSecond: 4 << 20))
            let other = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["movie.mkv": bytes])
            let into = try temporary.subfolder("client")
            let killed = NIOLockedValueBox(false)
            let outcome = try #require(try await download(["movie.mkv"], from: tracker, into: into, maximumSources: 1) { event in
                if case .progress(_, let received, _) = event, received > size / 4,
                   killed.withLockedValue({ let first = !$0; $0 = true; return first }) {
                    Task { await slow.kill() }
                }
            }.first)
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.count == 2)
            let first = outcome.attempts[0]
            let second = outcome.attempts[1]
            #expect(first.peer == "\(host(2)):5555")
            #expect(first.error == .closedEarly)
            #expect(first.bytes > 0 && first.bytes < UInt64(size))
            #expect(second.peer == "\(host(3)):5555" && second.error == nil)
            #expect(second.bytes == UInt64(size) - first.bytes, "the second peer was not asked from the offset received")
            #expect(first.bytes + second.bytes < 2 * UInt64(size))
            expectFile(into + "/movie.mkv", holds: bytes)
            await other.kill()
            await tracker.stop()
        }

        @Test("a peer serving wrong bytes: mismatch detected, next peer used, no corrupt file left")
        func wrongBytesAreDetected() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 1 << 20, seed: 40)
            let rotten = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["data.bin": bytes])
            let good = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["data.bin": bytes])
            // Bit rot: other bytes, same size, same modification time, so the peer still believes its hash.
            try corruptKeepingModificationTime(rotten.folder + "/data.bin")
            let into = try temporary.subfolder("client")
            let outcome = try #require(try await download(["data.bin"], from: tracker, into: into, maximumSources: 1).first)
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.map(\.error) == [.hashMismatch, nil])
            #expect(outcome.attempts.map(\.peer) == ["\(host(2)):5555", "\(host(3)):5555"])
            #expect(outcome.attempts[1].bytes == UInt64(bytes.count), "after a mismatch the next peer must start from 0")
            expectFile(into + "/data.bin", holds: bytes)
            #expect(try FileManager.default.contentsOfDirectory(atPath: into) == ["data.bin"])
            await rotten.kill()
            await good.kill()
            await tracker.stop()
        }

        @Test("issue 8: a holder first in the list sends half the file wrong and closes; the download still succeeds")
        func lyingHolderFirst() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 1 << 20, seed: 42)
            // The liar announces the real file (so its size and SHA-256 are right) but serves half of it wrong.
            let announcer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary,
                                                     files: ["data.bin": bytes], serveFiles: false)
            let digest = try ContentHasher.digest(ofFileAt: announcer.folder + "/data.bin")
            let liar = try await LyingHolder.start(host: host(2), port: 5555, size: UInt64(bytes.count), digest: digest)
            let honest = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["data.bin": bytes])
            let into = try temporary.subfolder("client")
            let outcome = try #require(try await download(["data.bin"], from: tracker, into: into, maximumSources: 1).first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            #expect(outcome.attempts.map(\.peer) == ["\(host(2)):5555", "\(host(3)):5555", "\(host(2)):5555", "\(host(3)):5555"])
            #expect(outcome.attempts.map(\.error) == [.hashMismatch, .hashMismatch, .closedEarly, nil],
                    "both sources of the failed round are blamed, not only the one that finished")
            #expect(outcome.attempts.map(\.bytes) == [UInt64(bytes.count / 2), UInt64(bytes.count / 2), UInt64(bytes.count / 2), UInt64(bytes.count)],
                    "the honest peer was not asked for the whole file alone")
            expectFile(into + "/data.bin", holds: bytes)
            #expect(liar.requests == 2)
            await liar.stop()
            await announcer.kill()
            await honest.kill()
            await tracker.stop()
        }

        @Test("when every holder serves wrong bytes the download fails and leaves no file")
        func onlyRottenHolders() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let rotten = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary,
                                                  files: ["data.bin": sampleBytes(count: 4096, seed: 41)])
            try corruptKeepingModificationTime(rotten.folder + "/data.bin")
            let into = try temporary.subfolder("client")
            let outcome = try #require(try await download(["data.bin"], from: tracker, into: into).first)
            #expect(outcome.status == .failed)
            #expect(outcome.attempts.allSatisfy { $0.error == .hashMismatch })
            #expect(try FileManager.default.contentsOfDirectory(atPath: into).filter { !$0.hasSuffix(".part") }.isEmpty)
            await rotten.kill()
            await tracker.stop()
        }

        @Test("raw requests for ../, absolute paths, links leading out and bad ranges are refused")
        func hostileRequestsAreRefused() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let secret = temporary.path + "/secret.txt"
            try write(Array("top secret".utf8), to: secret)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["ok.txt": Array("hello".utf8)])
            try FileManager.default.createSymbolicLink(atPath: peer.folder + "/escape.txt", withDestinationPath: secret)
            try FileManager.default.createSymbolicLink(atPath: peer.folder + "/inside.txt", withDestinationPath: peer.folder + "/ok.txt")
            peer.node.share.rescan()

            let cases: [(String, String)] = [
                ("GET 0 * ../secret.txt\n", "403 "),
                ("GET 0 * \"../secret.txt\"\n", "403 "),
                ("GET 0 * \(secret)\n", "403 "),
                ("GET 0 * ..\n", "403 "),
                ("GET 0 * escape.txt\n", "404 "),
                ("GET 0 * nothere.txt\n", "404 "),
                ("GET 9 * ok.txt\n", "416 "),
                ("GET 3 1 ok.txt\n", "416 "),
                ("GET -1 * ok.txt\n", "400 "),
                ("HELLO\n", "400 "),
                (String(repeating: "A", count: 5000) + "\n", "402 "),
            ]
            for (request, expected) in cases {
                let reply = try await RawClient.withConnection(host: host(2), port: 5555) { raw in
                    try await raw.send(request)
                    return try await raw.readLine()
                }
                #expect(reply?.hasPrefix(expected) == true, "\(request.prefix(40)) answered \(reply ?? "nothing")")
            }
            // A link that stays inside the share is served; the reply carries the bytes and nothing more.
            let served = try await RawClient.withConnection(host: host(2), port: 5555) { raw in
                try await raw.send("GET 1 * inside.txt\n")
                let header = try await raw.readLine()
                return (header, try await raw.readToEnd())
            }
            #expect(served.0?.hasPrefix("200 5 ") == true && served.0?.hasSuffix(" 1 4") == true)
            #expect(served.1 == Array("ello".utf8))
            await peer.kill()
            await tracker.stop()
        }

        @Test("a zero-byte file, and names with spaces, commas and Unicode")
        func emptyFilesAndUnusualNames() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let files: [String: [UInt8]] = [
                "empty.dat": [],
                "résumé final.txt": Array("cv".utf8),
                " edge spaces ": Array("spaces".utf8),
                "日本語, with comma.md": sampleBytes(count: 4000, seed: 50),
            ]
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: files)
            let into = try temporary.subfolder("client")
            let names = files.keys.sorted()
            let outcomes = try await download(names, from: tracker, into: into)
            #expect(outcomes.map(\.status) == Array(repeating: .ok, count: names.count))
            for name in names {
                expectFile(into + "/" + name, holds: files[name], "\(name) differs")
            }
            await peer.kill()
            await tracker.stop()
        }

        @Test("an existing file: same content is skipped, other content refused unless overwrite")
        func existingFiles() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 10_000, seed: 60)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["same.bin": bytes, "mine.bin": bytes])
            let into = try temporary.subfolder("client")
            try write(bytes, to: into + "/same.bin")
            let mine = Array("my own work".utf8)
            try write(mine, to: into + "/mine.bin")

            let first = try await download(["same.bin", "mine.bin"], from: tracker, into: into)
            #expect(first.map(\.status) == [.skipped, .refused])
            #expect(first.allSatisfy { $0.attempts.isEmpty })
            expectFile(into + "/mine.bin", holds: mine, "an existing file was overwritten without --overwrite")

            let second = try await download(["mine.bin"], from: tracker, into: into, overwrite: true)
            #expect(second.map(\.status) == [.ok])
            expectFile(into + "/mine.bin", holds: bytes)
            await peer.kill()
            await tracker.stop()
        }

        @Test("a part file from an earlier run, recorded as this content, is resumed, not downloaded again")
        func partFileIsResumed() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 500_000, seed: 70)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["big.iso": bytes])
            let into = try temporary.subfolder("client")
            try write(Array(bytes[0..<123_456]), to: into + "/big.iso.part")
            let digest = try ContentHasher.digest(ofFileAt: peer.folder + "/big.iso")
            try write(Array(PartFile.recordLine(size: 500_000, digest: digest).utf8), to: into + "/.big.iso.state.part")
            let outcome = try #require(try await download(["big.iso"], from: tracker, into: into).first)
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.map(\.bytes) == [UInt64(500_000 - 123_456)])
            expectFile(into + "/big.iso", holds: bytes)
            await peer.kill()
            await tracker.stop()
        }

        /// Sixteen clients, each from its own address: from one address, 16 swarm downloads open 32
        /// connections against the peers' cap of 8 per address, and a `busy` holder is not waited for
        /// (a known gap: see the notes of issue 10). With lookups answered at once, they all start together.
        @Test("16 concurrent downloads of one file from two peers, by 16 clients")
        func sixteenConcurrentDownloads() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 2 << 20, seed: 80)
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["popular.bin": bytes])
            let p3 = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["popular.bin": bytes])
            let outcomes = try await withThrowingTaskGroup(of: (String, DownloadOutcome?).self) { group in
                for index in 0..<16 {
                    let into = try temporary.subfolder("client-\(index)")
                    group.addTask {
                        (into, try await download(["popular.bin"], from: tracker, into: into, localHost: "127.0.3.\(index + 1)").first)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.count == 16)
            for (folder, outcome) in outcomes {
                #expect(outcome?.status == .ok, "\(outcome?.message ?? "") \(outcome?.attempts.map { "\($0.peer) \($0.error?.rawValue ?? "ok") \($0.message ?? "")" } ?? [])")
                expectFile(folder + "/popular.bin", holds: bytes)
            }
            await p2.kill()
            await p3.kill()
            await tracker.stop()
        }

        @Test("the upload rate limit is never exceeded by more than 10 % (a loose check; the pacing arithmetic is tested on an injected clock)")
        func rateLimitHolds() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let limit: UInt64 = 2 << 20
            let bytes = sampleBytes(count: 5 << 20, seed: 90)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["slow.bin": bytes],
                                                rateLimit: ByteRate(bytesPerSecond: limit))
            let into = try temporary.subfolder("client")
            let clock = ContinuousClock()
            let started = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
            let outcome = try #require(try await download(["slow.bin"], from: tracker, into: into) { event in
                if case .attemptStarted = event { started.withLockedValue { $0 = clock.now } }
            }.first)
            let seconds = (clock.now - started.withLockedValue { $0! }).seconds
            let rate = Double(bytes.count) / seconds
            #expect(outcome.status == .ok)
            #expect(rate <= Double(limit) * 1.10, "rate \(rate) B/s is over the limit \(limit)")
            // A loaded machine only slows a transfer down, so the lower bound is loose.
            #expect(rate >= Double(limit) * 0.25, "rate \(rate) B/s is far under the limit \(limit)")
            await peer.kill()
            await tracker.stop()
        }
    }
}

/// Replaces a file's bytes with others of the same size and puts its modification time back.
func corruptKeepingModificationTime(_ path: String) throws {
    var info = stat()
    #expect(stat(path, &info) == 0)
    let size = Int(info.st_size)
    try write(sampleBytes(count: size, seed: 999), to: path)
    var times = [info.st_atim, info.st_mtim]
    #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
}

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
    /// Issue 8, items 9, 12 and 13: the downloader's part files, progress floor and local errors, over loopback.
    @Suite("Download safety: part files, the progress floor, local errors")
    struct DownloadSafetyTests {
        /// A downloader with a configuration of the test's own, asking `tracker`.
        static func downloadWith(_ names: [String], from tracker: TestTracker, configuration: Downloader.Configuration,
                             events: @escaping @Sendable (DownloadEvent) -> Void = { _ in }) async throws -> [DownloadOutcome] {
            let connection = try await tracker.connect()
            let downloader = Downloader(configuration: configuration, holders: connection, logger: quietLogger)
            let outcomes = await downloader.download(names, events: events)
            await connection.close()
            return outcomes
        }

        /// Writes `bytes` at `offset` of the file at `path`, as another program would.
        static func scribble(_ bytes: [UInt8], at offset: UInt64, into path: String) {
            let fd = open(path, O_WRONLY)
            #expect(fd >= 0)
            #expect(pwrite(fd, bytes, bytes.count, off_t(offset)) == bytes.count)
            close(fd)
        }

        @Test("issue 9: a trickling holder is left for the next one once a window brings less than the floor")
        func tricklingHolderIsLeft() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 512 << 10, seed: 100)
            let slow = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["slow.bin": bytes],
                                                rateLimit: ByteRate(bytesPerSecond: 8 << 10))
            let fast = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["slow.bin": bytes])
            let into = try temporary.subfolder("client")
            // A 1 s window and a 64 KiB/s floor stand for the 30 s and 1 KiB/s defaults; the slow peer sends 8 KiB/s.
            // One source at a time: the floor is the one-source path's way past a trickling holder.
            let configuration = Downloader.Configuration(folder: into, maximumSources: 1, transports: [.tcp], localHost: "127.0.0.1",
                                                         progressWindow: .seconds(1), minimumRate: 64 << 10)
            let outcome = try #require(try await Self.downloadWith(["slow.bin"], from: tracker, configuration: configuration).first)
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.map(\.error) == [.tooSlow, nil])
            #expect(outcome.attempts.map(\.peer) == ["\(host(2)):5555", "\(host(3)):5555"])
            #expect(outcome.attempts[0].bytes + outcome.attempts[1].bytes == UInt64(bytes.count), "the next holder did not resume")
            expectFile(into + "/slow.bin", holds: bytes)
            await slow.kill()
            await fast.kill()
            await tracker.stop()
        }

        @Test("issue 12: a second download of one name into one folder fails at once; the first one ends well")
        func twoDownloadsOfOneName() async throws {
            // Before the fix both downloads wrote NAME.part, and one failed with "cannot rename … .part".
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 2 << 20, seed: 101)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["one.bin": bytes],
                                                rateLimit: ByteRate(bytesPerSecond: 1 << 20))
            let into = try temporary.subfolder("client")
            let configuration = Downloader.Configuration(folder: into, transports: [.tcp], localHost: "127.0.0.1")
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            async let first = Self.downloadWith(["one.bin"], from: tracker, configuration: configuration) { event in
                if case .progress = event { startedContinuation.yield() }
            }
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()                  // the first download holds the part file
            let second = try #require(try await Self.downloadWith(["one.bin"], from: tracker, configuration: configuration).first)
            #expect(second.status == .failed)
            #expect(second.attempts.isEmpty)
            #expect(second.message?.contains("another download of \"one.bin\" into \(into) is running") == true, "\(second.message ?? "")")
            let firstOutcome = try #require(try await first.first)
            startedContinuation.finish()
            #expect(firstOutcome.status == .ok)
            expectFile(into + "/one.bin", holds: bytes)
            #expect(try FileManager.default.contentsOfDirectory(atPath: into) == ["one.bin"], "a part file or record was left")
            await peer.kill()
            await tracker.stop()
        }

        @Test("issue 12: a stale part file of other content is discarded, not resumed, and no peer is blamed")
        func stalePartFileOfOtherContent() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 300_000, seed: 102)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["report.pdf": bytes])
            let into = try temporary.subfolder("client")
            // An earlier version of the file, half downloaded, with the record of that version.
            let older = sampleBytes(count: 280_000, seed: 103)
            try write(Array(older[..<100_000]), to: into + "/report.pdf.part")
            try write(Array("ferry-part 1 280000 \(String(repeating: "ab", count: 32))\n".utf8), to: into + "/.report.pdf.state.part")
            let outcome = try #require(try await download(["report.pdf"], from: tracker, into: into).first)
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.map(\.error) == [nil], "an innocent peer was blamed")
            #expect(outcome.attempts.map(\.bytes) == [UInt64(bytes.count)], "the stale bytes were resumed")
            expectFile(into + "/report.pdf", holds: bytes)
            await peer.kill()
            await tracker.stop()
        }

        @Test("issue 12: a file appearing at the final name during the download is not replaced")
        func fileAppearsAtFinalName() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 1 << 20, seed: 104)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["notes.txt": bytes],
                                                rateLimit: ByteRate(bytesPerSecond: 4 << 20))
            let into = try temporary.subfolder("client")
            let mine = Array("written by hand while the download ran".utf8)
            let wrote = NIOLockedValueBox(false)
            let outcome = try #require(try await download(["notes.txt"], from: tracker, into: into) { event in
                if case .progress = event, wrote.withLockedValue({ let first = !$0; $0 = true; return first }) {
                    try? write(mine, to: into + "/notes.txt")
                }
            }.first)
            #expect(outcome.status == .refused)
            #expect(outcome.message?.contains("appeared with other content during the download and was not replaced") == true)
            expectFile(into + "/notes.txt", holds: mine, "the file that appeared was replaced")
            expectFile(into + "/notes.txt.part", holds: bytes, "the verified download was not kept")
            await peer.kill()
            await tracker.stop()
        }

        @Test("issue 12: bytes of the part file damaged on disk during the download are caught by the digest")
        func partFileDamagedOnDisk() async throws {
            // Before the fix the digest came from the bytes in flight: 4 KiB zeroed in the .part still
            // ended `sha256 verified` with a wrong file under the final name.
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 8 << 20, seed: 105)
            let first = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["disk.img": bytes])
            let second = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["disk.img": bytes])
            let into = try temporary.subfolder("client")
            let damaged = NIOLockedValueBox(false)
            let outcome = try #require(try await download(["disk.img"], from: tracker, into: into, maximumSources: 1) { event in
                // The first bytes on disk, before the read-back (which waits for `readBackChunk`) reaches them.
                if case .progress(_, let received, _) = event, received >= 4096,
                   received < PartFile.readBackChunk,
                   damaged.withLockedValue({ let first = !$0; $0 = true; return first }) {
                    Self.scribble([UInt8](repeating: 0, count: 4096), at: 0, into: into + "/disk.img.part")
                }
            }.first)
            #expect(damaged.withLockedValue { $0 })
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.map(\.error) == [.hashMismatch, nil])
            #expect(outcome.attempts.map(\.peer) == ["\(host(2)):5555", "\(host(3)):5555"])
            expectFile(into + "/disk.img", holds: bytes)
            await first.kill()
            await second.kill()
            await tracker.stop()
        }

        @Test("issue 13: a full disk stops the download at once with disk_full; the part file is kept and counted",
              .enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
        func diskFull() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 3 << 20, seed: 106)
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["huge.bin": bytes])
            let p3 = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["huge.bin": bytes])
            let into = try temporary.subfolder("tiny-disk")
            try #require(mount("tmpfs", into, "tmpfs", 0, "size=1m") == 0, "mount: \(String(cString: strerror(errno)))")
            defer { umount2(into, Int32(MNT_DETACH)) }
            let outcome = try #require(try await download(["huge.bin"], from: tracker, into: into, maximumSources: 1).first)
            #expect(outcome.status == .failed)
            #expect(outcome.attempts.count == 1, "a local error was retried against another holder")
            #expect(outcome.attempts.first?.error == .diskFull)
            #expect(outcome.message?.contains("No space left on device") == true, "\(outcome.message ?? "")")
            var info = stat()
            #expect(stat(into + "/huge.bin.part", &info) == 0, "the part file was not kept")
            #expect(info.st_size > 0)
            #expect(outcome.attempts.first?.bytes == UInt64(info.st_size), "the attempt's bytes differ from the part file's size")
            #expect(outcome.bytes == UInt64(info.st_size))
            await p2.kill()
            await p3.kill()
            await tracker.stop()
        }

        @Test("issue 9: a full disk stops a swarm download at once: no other source, no second round, verified chunks kept",
              .enabled(if: getuid() == 0, "mounting a small tmpfs needs root"))
        func diskFullInSwarm() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 3 << 20, seed: 107)
            let p2 = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["huge.bin": bytes])
            let p3 = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["huge.bin": bytes])
            let into = try temporary.subfolder("tiny-disk")
            try #require(mount("tmpfs", into, "tmpfs", 0, "size=1m") == 0, "mount: \(String(cString: strerror(errno)))")
            defer { umount2(into, Int32(MNT_DETACH)) }
            let outcome = try #require(try await download(["huge.bin"], from: tracker, into: into).first)
            #expect(outcome.status == .failed)
            #expect(outcome.message?.contains("No space left on device") == true, "\(outcome.message ?? "")")
            #expect(outcome.attempts.contains { $0.error == .diskFull }, "\(outcome.attempts)")
            #expect(outcome.attempts.allSatisfy { $0.error == nil || $0.error == .diskFull }, "\(outcome.attempts)")
            // Requests that ended before the disk filled are attempts too; after the first disk_full,
            // only the other lanes' requests already in flight end (two holders, two lanes each).
            let firstLocal = try #require(outcome.attempts.firstIndex { $0.error == .diskFull })
            #expect(outcome.attempts.count - firstLocal - 1 <= 3, "a local error was retried: \(outcome.attempts)")
            var info = stat()
            #expect(stat(into + "/huge.bin.part", &info) == 0, "the part file was not kept")
            let record = contents(of: into + "/.huge.bin.state.part").flatMap { PartRecord(parsing: String(decoding: $0, as: UTF8.self)) }
            #expect(record?.chunks != nil, "the record of the verified chunks was not kept")
            await p2.kill()
            await p3.kill()
            await tracker.stop()
        }
    }
}

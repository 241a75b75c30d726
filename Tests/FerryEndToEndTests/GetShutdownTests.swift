import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import ServiceLifecycle
import Testing

extension EndToEndTests {
    /// `ferry get` on SIGINT/SIGTERM: the downloads stop, every `.part` file stays for a later resume, and
    /// the run reports itself interrupted (the command then exits 130 or 143). Driven through the same
    /// `ServiceGroup` as the command, with the signal replaced by `triggerGracefulShutdown()`.
    @Suite("ferry get: graceful shutdown", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct GetShutdownTests {
        @Test("a stopped get keeps its part file and reports itself interrupted")
        func stoppedGetKeepsPart() async throws {
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let bytes = sampleBytes(count: 8 << 20, seed: 11)
            // Slow enough (256 KiB/s: 32 s for the 8 MiB) that the download is still running when it
            // is stopped, even if the test's task waits seconds for a thread (under a sanitizer).
            let peer = try await TestPeer.start(host: host(70), tracker: tracker.endpoint, in: temporary,
                                                files: ["slow.bin": bytes], rateLimit: ByteRate(bytesPerSecond: 256 << 10))
            let downloads = try temporary.subfolder("get")
            let events = EventLog<DownloadEvent>()
            let download = OneShotDownload(
                names: ["slow.bin"],
                configuration: .init(server: tracker.endpoint, localHost: "127.0.0.1",
                                     downloader: .init(folder: downloads, localHost: "127.0.0.1")),
                logger: quietLogger, events: events.append)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: download, successTerminationBehavior: .gracefullyShutdownGroup)], logger: quietLogger))
            let task = Task { try await group.run() }
            #expect(await events.wait { if case .progress(_, let received, _) = $0 { received > 0 } else { false } })
            await group.triggerGracefulShutdown()
            let ran = await withinWatchdog(Sanitizers.patience(.seconds(10))) { try await task.value }
            await peer.kill()
            await tracker.stop()

            let finished = try #require(ran, "the get did not stop")
            #expect(finished.failure == nil, "\(finished)")
            guard case .interrupted = download.result else {
                Issue.record("expected interrupted, got \(String(describing: download.result))")
                return
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: downloads)
            #expect(!left.contains("slow.bin"), "\(left)")
            let part = try #require(left.first { $0.hasSuffix(".part") }, "no part file: \(left)")
            let size = try #require(FileManager.default.attributesOfItem(atPath: downloads + "/" + part)[.size] as? Int)
            #expect(size > 0)
        }
    }
}

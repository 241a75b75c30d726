@testable import FerryPeer
import FerryTestSupport
import FerryUDP
import FerryWire
import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

@Suite("UDPFileServer: graceful shutdown over loopback")
struct UDPFileServerTests {
    @Test("graceful shutdown: a running transfer goes on for the grace period, then its client gets CLOSE(busy) and resumes elsewhere")
    func gracefulShutdownClosesTransfers() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let shared = try folder.subfolder("share")
        let downloads = try folder.subfolder("downloads")
        try Data(repeating: 9, count: 8 << 20).write(to: URL(fileURLWithPath: shared + "/big"))
        let share = try Share(folder: shared, cache: nil, logger: quietLogger)
        share.rescan()
        let file = try #require(share.file(named: fileName("big")))
        let listening = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int.self)
        // 256 KiB/s: the 8 MiB transfer is still running when the grace period ends, even when the
        // test's task waits seconds for a thread after the first bytes (under a sanitizer, at 2 MiB/s,
        // the transfer had ended before the test asked for the shutdown).
        let server = UDPFileServer(configuration: .init(host: "127.0.0.1", port: 0, shutdownGracePeriod: .milliseconds(300),
                                                        rateLimiter: RateLimiter(bytesPerSecond: 256 << 10)),
                                   share: share, logger: quietLogger) { listening.succeed($0.port ?? 0) }
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let port = try await listening.futureResult.get()
        let part = try await PartFile.open(folder: downloads, name: file.name, digest: file.digest, expectedSize: file.size)
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let fetching = Task {
            var told = false
            let fetcher = UDPFetcher(configuration: UDPConfiguration(idleTimeout: .seconds(600)))
            return await fetcher.fetch(file.name, size: file.size, digest: file.digest,
                                       from: Holder(host: "127.0.0.1", tcpPort: UInt16(port), udpPort: UInt16(port)),
                                       into: part) { _ in
                if !told {
                    told = true
                    startedContinuation.yield()
                }
            }
        }
        var iterator = started.makeAsyncIterator()
        await iterator.next()
        await group.triggerGracefulShutdown()
        let result = await fetching.value
        #expect(result.error == .busy, "\(result.error.map { "\($0)" } ?? "none"): \(result.message ?? "")")
        #expect(result.message == "the peer is shutting down")
        #expect(result.bytes > 0 && result.bytes < file.size)
        try await running.value
    }
}

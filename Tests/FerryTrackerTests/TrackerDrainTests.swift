import FerryTestSupport
import FerryWire
@testable import FerryTracker
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Tracker: a client that sends without reading, then resets", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
struct TrackerDrainTests {
    /// The `PING`s the tracker has answered, from its metrics.
    static func pingsAnswered(_ server: TrackerServer) async -> Int {
        let text = await server.metrics.collect(connections: 0, peers: 0, entries: 0)
        let line = text.split(separator: "\n").first { $0.hasPrefix("ferry_tracker_requests_total{") && $0.contains("verb=\"PING\"") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Int($0) } ?? 0
    }

    @Test("its requests still in the socket when it resets are not answered: the event loop is not held by them")
    func resetFlooderIsNotDrainedIntoAnswers() async throws {
        // A loop of the test's own for the tracker and the flooder: the tracker answers tens of
        // thousands of PINGs before it stops reading, which under a sanitizer held the shared loops
        // long enough to fail other suites' tests.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = try SQLiteTrackerStore(path: ":memory:")
        let listening = group.next().makePromise(of: Int.self)
        // The flooder is not read, so not heard: the idle timeout (10 s) would close it before the
        // reset when filling the buffers takes long (it took longer under a sanitizer).
        let server = TrackerServer(configuration: .init(host: "127.0.0.1", port: 0, idleTimeout: .seconds(600)), store: store,
                                   logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, group: group) { listening.succeed($0.port ?? 0) }
        let run = Task { try await server.run() }
        let port = try await listening.futureResult.get()

        // A client that never reads (a small receive buffer of its own), writing PINGs until the
        // tracker stops reading it and every buffer between them is full.
        let flooder = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .channelOption(.autoRead, value: false)
            .connect(host: "127.0.0.1", port: port).get()
        let block = ByteBuffer(string: String(repeating: "PING\n", count: 2000))
        #expect(await eventually(within: .seconds(30)) {
            flooder.writeAndFlush(block, promise: nil)
            return server.statistics.waitingForReader == 1
        })
        // Now fill the tracker's receive buffer: writes stop completing.
        for _ in 0..<2000 {
            let promise = flooder.eventLoop.makePromise(of: Void.self)
            flooder.writeAndFlush(block, promise: promise)
            let write = promise.futureResult
            let completed: Bool = await withCheckedContinuation { continuation in
                let resumed = NIOLockedValueBox(false)
                let resume: @Sendable (Bool) -> Void = { value in
                    let first = resumed.withLockedValue { done in
                        defer { done = true }
                        return !done
                    }
                    if first { continuation.resume(returning: value) }
                }
                write.whenComplete { _ in resume(true) }
                flooder.eventLoop.scheduleTask(in: .milliseconds(300)) { resume(false) }
            }
            if !completed { break }
        }
        let beforeReset = await Self.pingsAnswered(server)
        #expect(beforeReset > 0)

        // Reset: the tracker's socket still holds up to its whole receive buffer of PINGs.
        try await (flooder as! any SocketOptionProvider).setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        try await flooder.close()
        #expect(await eventually { server.statistics.connections == 0 })
        let afterReset = await Self.pingsAnswered(server)
        // Before the fix, the tracker answered every PING left in its socket (tens of thousands, held
        // on the event loop for seconds in a debug build).
        #expect(afterReset - beforeReset < 100, "answered \(afterReset - beforeReset) PINGs of a client that had reset")

        run.cancel()
        _ = try? await run.value
        try await group.shutdownGracefully()
    }
}

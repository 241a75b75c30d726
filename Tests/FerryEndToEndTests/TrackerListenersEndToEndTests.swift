import FerryTestSupport
import FerryTracker
import FerryWire
import Logging
import NIOCore
import NIOPosix
import Testing

/// A tracker on several event loops listens once per loop, on one port (`SO_REUSEPORT`).
@Suite("Tracker: one listening socket per event loop", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
struct TrackerListenersEndToEndTests {
    /// A tracker on a group of its own with `loops` threads, and its port.
    static func start(loops: Int, port: Int = 0) async throws -> (TrackerServer, Int, Task<Void, any Error>, MultiThreadedEventLoopGroup) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
        let listening = group.next().makePromise(of: Int.self)
        let server = TrackerServer(
            configuration: .init(host: "127.0.0.1", port: port), store: try SQLiteTrackerStore(path: ":memory:"),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, group: group) { listening.succeed($0.port ?? 0) }
        let run = Task {
            do {
                try await server.run()
            } catch {
                listening.fail(error)
                throw error
            }
        }
        return (server, try await listening.futureResult.get(), run, group)
    }

    @Test("every connection is answered, whichever loop's socket takes it; stopped, the tracker frees the port")
    func everyListenerAnswers() async throws {
        let (_, port, run, group) = try await Self.start(loops: 3)
        // The kernel spreads connections over the three sockets by their addresses and ports: among
        // 30, each socket takes some (all on one: a chance of 3 in 3^30).
        for index in 0..<30 {
            let reply = try await RawClient.withConnection(host: "127.0.0.1", port: port) { raw in
                try await raw.send("PING\n")
                return try await raw.readReply()
            }
            #expect(reply == ["200 PONG"], "connection \(index)")
        }
        run.cancel()
        try await run.value
        // No socket of the group is left open: an ordinary socket takes the port again.
        let again = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: port).get()
        try await again.close()
        try await group.shutdownGracefully()
    }

    @Test("a second tracker on the port of a running one is refused, not let in to share its clients")
    func secondTrackerOnTheSamePortIsRefused() async throws {
        let (_, port, run, group) = try await Self.start(loops: 2)
        let second = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = TrackerServer(
            configuration: .init(host: "127.0.0.1", port: port), store: try SQLiteTrackerStore(path: ":memory:"),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, group: second)
        // Joined to the first's sockets, it would run until stopped: a bounded wait, then a failure.
        let attempt = Task { try await server.run() }
        let outcome: Result<Void, any Error>? = await withTaskGroup(of: Result<Void, any Error>?.self) { waiting in
            waiting.addTask { await attempt.result }
            waiting.addTask {
                try? await Task.sleep(for: Sanitizers.patience(.seconds(10)))
                return nil
            }
            let first = await waiting.next()!
            attempt.cancel()
            waiting.cancelAll()
            return first
        }
        var error: TrackerServer.ListenError?
        switch outcome {
        case .failure(let failure)?: error = failure as? TrackerServer.ListenError
        case .success?: Issue.record("the second tracker stopped without an error")
        case nil: Issue.record("the second tracker ran, sharing the port with the first")
        }
        #expect(error != nil)
        #expect(error?.description == "cannot listen on 127.0.0.1:\(port): address already in use (another `ferry server`?); pass --host or --port")
        // The first still answers.
        let reply = try await RawClient.withConnection(host: "127.0.0.1", port: port) { raw in
            try await raw.send("PING\n")
            return try await raw.readReply()
        }
        #expect(reply == ["200 PONG"])
        run.cancel()
        try await run.value
        try await second.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}

import FerryTestSupport
import FerryTracker
import NIOPosix
import Testing

/// A tracker on several event loops listens once per loop, on one port (`SO_REUSEPORT`).
@Suite("Tracker: one listening socket per event loop", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
struct TrackerListenersEndToEndTests {
    static func ping(_ port: Int) async throws -> [String] {
        try await RawClient.withConnection(host: "127.0.0.1", port: port) { raw in
            try await raw.send("PING\n")
            return try await raw.readReply()
        }
    }

    @Test("every connection is answered, whichever loop's socket takes it; stopped, the tracker frees the port")
    func everyListenerAnswers() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        let tracker = try await TestTracker.start(group: group)
        // The kernel spreads connections over the three sockets by their addresses and ports: among
        // 30, each socket takes some (all on one: a chance of 3 in 3^30).
        for index in 0..<30 {
            #expect(try await Self.ping(tracker.port) == ["200 PONG"], "connection \(index)")
        }
        await tracker.stop()
        // No socket of the group is left open: an ordinary socket takes the port again.
        let again = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: tracker.port).get()
        try await again.close()
        try await group.shutdownGracefully()
    }

    @Test("a second tracker on the port of a running one is refused, not let in to share its clients")
    func secondTrackerOnTheSamePortIsRefused() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let tracker = try await TestTracker.start(group: group)
        let second = TrackerServer(
            configuration: .init(host: "127.0.0.1", port: tracker.port), store: try SQLiteTrackerStore(path: ":memory:"),
            logger: quietLogger, group: group)
        // Joined to the first's sockets, it would run until stopped: `nil` from the watchdog.
        let outcome = await withinWatchdog(Sanitizers.patience(.seconds(10))) { try await second.run() }
        #expect(outcome != nil, "the second tracker ran, sharing the port with the first")
        let error = outcome?.failure as? TrackerServer.ListenError
        #expect(error?.description == "cannot listen on 127.0.0.1:\(tracker.port): address already in use (another `ferry server`?); pass --host or --port")
        #expect(try await Self.ping(tracker.port) == ["200 PONG"], "the first still answers")
        await tracker.stop()
        try await group.shutdownGracefully()
    }
}

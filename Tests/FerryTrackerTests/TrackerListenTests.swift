import FerryWire
@testable import FerryTracker
import Logging
import NIOCore
import NIOPosix
import Testing

@Suite("Tracker: an address that is taken")
struct TrackerListenTests {
    @Test("a tracker whose port is taken fails with a sentence, as the peer does, not NIO's error")
    func addressInUse() async throws {
        // Something else listens on the port first.
        let taken = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(taken.localAddress?.port)
        let store = try SQLiteTrackerStore(path: ":memory:")
        let server = TrackerServer(configuration: .init(host: "127.0.0.1", port: port), store: store,
                                   logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let error = await #expect(throws: TrackerServer.ListenError.self) { try await server.run() }
        #expect(error?.description == "cannot listen on 127.0.0.1:\(port): address already in use (another `ferry server`?); pass --host or --port")
        try await taken.close()
    }

    @Test("when one listening socket of a tracker closes, the others are closed with it and the wait ends", .timeLimit(.minutes(1)))
    func oneListenerClosingClosesTheOthers() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let listeners: [any Channel] = [
            try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get(),
            try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get(),
            try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get(),
        ]
        let waiting = Task { await TrackerServer.untilOneCloses(listeners) }
        try await listeners[1].close()
        await waiting.value
        for listener in listeners { #expect(!listener.isActive) }
    }
}

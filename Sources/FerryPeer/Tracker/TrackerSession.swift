import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The peer's lasting control session with the tracker: connects, says `HELLO`, announces the share,
/// sends heartbeats, announces changes of the share as `ADD`/`REMOVE`, and reconnects with capped
/// exponential backoff (at most ``maximumBackoff``) when the tracker goes away, announcing the whole
/// share again.
public final class TrackerSession: Service, Sendable, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var server: Endpoint
        /// The address connections leave from (`nil` or `0.0.0.0`: the system chooses).
        public var localHost: String?
        public var sourcePort: Int?
        /// The ports this peer serves files on, as announced.
        public var tcpPort: Int
        public var udpPort: Int

        public init(server: Endpoint, localHost: String? = nil, sourcePort: Int? = nil, tcpPort: Int, udpPort: Int) {
            self.server = server
            self.localHost = localHost
            self.sourcePort = sourcePort
            self.tcpPort = tcpPort
            self.udpPort = udpPort
        }
    }

    public static let maximumBackoff: Duration = .seconds(5)
    static let tick: Duration = .milliseconds(500)

    private let configuration: Configuration
    private let share: Share?
    private let logger: Logger
    private let group: any EventLoopGroup
    private let current = NIOLockedValueBox<TrackerConnection?>(nil)

    public init(configuration: Configuration, share: Share?, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.share = share
        self.logger = logger
        self.group = group
    }

    /// The live connection, or an error that says the tracker is out of reach.
    public func connection() throws(PeerError) -> TrackerConnection {
        guard let connection = current.withLockedValue({ $0 }), connection.isActive else {
            throw PeerError(.trackerUnavailable,
                            "not connected to the tracker at \(configuration.server); reconnecting, try again shortly")
        }
        return connection
    }

    /// Waits (up to `timeout`) until the session is connected and has announced the share.
    public func waitUntilConnected(timeout: Duration = .seconds(10)) async throws -> TrackerConnection {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if let connection = try? connection() { return connection }
            guard clock.now < deadline else { return try connection() }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    public var description: String { "TrackerSession(\(configuration.server))" }

    public func run() async throws {
        await cancelWhenGracefulShutdown { [self] in await connectLoop() }
    }

    private func connectLoop() async {
        var backoff: Duration = .milliseconds(250)
        var everConnected = false
        var failuresLogged = false
        while !Task.isCancelled {
            var attempt: TrackerConnection?
            do {
                let connection = try await TrackerConnection.connect(
                    to: configuration.server, localHost: configuration.localHost,
                    sourcePort: configuration.sourcePort, group: group)
                attempt = connection
                let seenAs = try await connection.hello(tcpPort: configuration.tcpPort, udpPort: configuration.udpPort)
                logger.notice(everConnected ? "reconnected to the tracker" : "connected to the tracker",
                              metadata: ["tracker": "\(configuration.server)", "seen-as": "\(seenAs)"])
                everConnected = true
                failuresLogged = false
                backoff = .milliseconds(250)
            } catch {
                await attempt?.close()
                if Task.isCancelled { return }
                if !failuresLogged {
                    logger.warning("cannot reach the tracker; retrying",
                                   metadata: ["tracker": "\(configuration.server)", "error": "\(error)"])
                    failuresLogged = true
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, Self.maximumBackoff)
                continue
            }
            await serve(attempt!)
            current.withLockedValue { $0 = nil }
            if Task.isCancelled { return }
            logger.warning("lost the tracker; reconnecting", metadata: ["tracker": "\(configuration.server)"])
            try? await Task.sleep(for: backoff)
        }
    }

    /// Announces and keeps the connection alive until it closes or the task is cancelled.
    private func serve(_ connection: TrackerConnection) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await connection.closed() }
            group.addTask { [self] in
                var announced: ShareSnapshot?
                var announcedVersion = -1
                var sinceHeartbeat: Duration = .zero
                do {
                    while !Task.isCancelled {
                        if let share, share.version != announcedVersion {
                            announcedVersion = share.version
                            announced = try await announce(share.snapshot, since: announced, on: connection)
                            if current.withLockedValue({ $0 }) == nil { current.withLockedValue { $0 = connection } }
                        } else if share == nil, current.withLockedValue({ $0 }) == nil {
                            current.withLockedValue { $0 = connection }
                        }
                        try await Task.sleep(for: Self.tick)
                        sinceHeartbeat += Self.tick
                        if sinceHeartbeat >= .seconds(TrackerLimits.heartbeatInterval) {
                            sinceHeartbeat = .zero
                            _ = try await connection.send(.ping)
                        }
                    }
                } catch {
                    if !Task.isCancelled {
                        logger.debug("tracker session error", metadata: ["error": "\(error)"])
                    }
                }
                await connection.close()
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func announce(_ snapshot: ShareSnapshot, since old: ShareSnapshot?, on connection: TrackerConnection) async throws -> ShareSnapshot {
        guard let old else {
            let reply = try await connection.announce(snapshot.entries)
            for refused in reply.lines {
                logger.warning("the tracker refused a file", metadata: ["reason": "\(refused.text)"])
            }
            logger.notice("announced \(snapshot.files.count) file\(snapshot.files.count == 1 ? "" : "s")")
            return snapshot
        }
        let (added, removed) = snapshot.changes(since: old)
        for entry in added { _ = try await connection.send(.add(entry)) }
        for name in removed {
            let reply = try await connection.send([TrackerRequest.remove(name).line])
            if !reply.final.status.isSuccess, reply.final.status != .notFound { _ = try reply.checked() }
        }
        if !added.isEmpty || !removed.isEmpty {
            logger.info("announced changes", metadata: ["added": "\(added.count)", "removed": "\(removed.count)"])
        }
        return snapshot
    }
}

import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The peer's lasting control session with the tracker: connects, says `HELLO`, announces the share,
/// sends heartbeats, announces changes of the share as `ADD`/`REMOVE` (and the files it is
/// downloading as `ADD … PARTIAL`, see ``PartialShares``), and reconnects with capped
/// exponential backoff (at most ``maximumBackoff``) when the tracker goes away (it closed the
/// connection, said `421`, reset it, or stopped answering within the reply timeout), announcing the
/// whole share again. Given several trackers (`--server a:4444,b:4444`), it holds one connection,
/// to the first that answers, and on losing it tries the same tracker once and then the next ones
/// in order: trackers sharing one PostgreSQL index behave as one, so any of them will do.
///
/// It says `HELLO` only once `waitUntilReady` returns: a peer registers after its servers are bound,
/// so a peer that cannot serve never shows up in the index. On graceful shutdown it says `QUIT`
/// (unregistering at once) before it closes; when cancelled outright it just closes.
public final class TrackerSession: Service, Sendable, CustomStringConvertible {
    public struct Configuration: Sendable {
        /// The trackers, in order of preference (never empty).
        public var servers: [Endpoint]
        /// The address connections leave from (`nil` or `0.0.0.0`: the system chooses).
        public var localHost: String?
        public var sourcePort: Int?
        /// The ports this peer serves files on, as announced.
        public var tcpPort: Int
        public var udpPort: Int
        /// How often the peer says `PING` (the tracker drops a peer silent for its heartbeat timeout).
        public var heartbeatInterval: Duration
        /// How long each request may wait for its reply before the connection is taken for dead.
        public var replyTimeout: Duration

        public init(servers: [Endpoint], localHost: String? = nil, sourcePort: Int? = nil, tcpPort: Int, udpPort: Int,
                    heartbeatInterval: Duration = .seconds(TrackerLimits.heartbeatInterval),
                    replyTimeout: Duration = TrackerConnection.replyTimeout) {
            precondition(!servers.isEmpty, "at least one tracker")
            self.servers = servers
            self.localHost = localHost
            self.sourcePort = sourcePort
            self.tcpPort = tcpPort
            self.udpPort = udpPort
            self.heartbeatInterval = heartbeatInterval
            self.replyTimeout = replyTimeout
        }

        public init(server: Endpoint, localHost: String? = nil, sourcePort: Int? = nil, tcpPort: Int, udpPort: Int,
                    heartbeatInterval: Duration = .seconds(TrackerLimits.heartbeatInterval),
                    replyTimeout: Duration = TrackerConnection.replyTimeout) {
            self.init(servers: [server], localHost: localHost, sourcePort: sourcePort, tcpPort: tcpPort, udpPort: udpPort,
                      heartbeatInterval: heartbeatInterval, replyTimeout: replyTimeout)
        }
    }

    /// What the session did, for displays and tests.
    public enum Event: Sendable, Equatable {
        /// `HELLO` was accepted by `tracker`, which sees the peer as `seenAs`.
        case registered(seenAs: String, tracker: Endpoint)
        /// The whole share was announced (`UPDATE`), `files` files.
        case announced(files: Int)
        /// A `PING` was answered.
        case heartbeat
        /// The connection ended; the session reconnects.
        case lost(reason: String)
        /// Graceful shutdown: `QUIT` was said and the connection closed.
        case left
    }

    public static let maximumBackoff: Duration = .seconds(5)
    static let initialBackoff: Duration = .milliseconds(250)
    static let tick: Duration = .milliseconds(500)

    private let configuration: Configuration
    private let share: Share?
    private let partials: PartialShares?
    private let logger: Logger
    private let group: any EventLoopGroup
    private let waitUntilReady: @Sendable () async throws -> Void
    private let events: @Sendable (Event) -> Void
    private let current = NIOLockedValueBox<TrackerConnection?>(nil)
    private let registeredWith = NIOLockedValueBox<Endpoint?>(nil)

    /// - Parameters:
    ///   - waitUntilReady: returns when the peer may register (its servers are bound); throws if it
    ///     never may.
    ///   - events: called as the session registers, announces, hears heartbeats and loses the tracker.
    public init(configuration: Configuration, share: Share?, partials: PartialShares? = nil, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                waitUntilReady: @escaping @Sendable () async throws -> Void = {},
                events: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.configuration = configuration
        self.share = share
        self.partials = partials
        self.logger = logger
        self.group = group
        self.waitUntilReady = waitUntilReady
        self.events = events
    }

    /// The live connection, or an error that says the tracker is out of reach.
    public func connection() throws(PeerError) -> TrackerConnection {
        guard let connection = current.withLockedValue({ $0 }), connection.isActive else {
            throw PeerError(.trackerUnavailable,
                            "not connected to the tracker at \(Endpoint.describe(configuration.servers)); reconnecting, try again shortly")
        }
        return connection
    }

    /// The tracker this session is registered with, while it is connected.
    public var connectedTracker: Endpoint? {
        guard (try? connection()) != nil else { return nil }
        return registeredWith.withLockedValue { $0 }
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

    public var description: String { "TrackerSession(\(Endpoint.describe(configuration.servers)))" }

    public func run() async throws {
        await cancelWhenGracefulShutdown { [self] in
            do {
                try await waitUntilReady()
            } catch {
                return  // stopped before the peer could serve: it never registers
            }
            await connectLoop()
        }
    }

    private func connectLoop() async {
        var rotation = TrackerRotation(count: configuration.servers.count)
        var backoff = Self.initialBackoff
        var everConnected = false
        // Each tracker's failure is logged once until the session connects again.
        var failuresLogged: Set<Int> = []
        while !Task.isCancelled {
            let server = configuration.servers[rotation.current]
            var attempt: TrackerConnection?
            do {
                let connection = try await TrackerConnection.connect(
                    to: server, localHost: configuration.localHost,
                    sourcePort: configuration.sourcePort, replyTimeout: configuration.replyTimeout, group: group)
                attempt = connection
                let seenAs = try await connection.hello(tcpPort: configuration.tcpPort, udpPort: configuration.udpPort)
                logger.notice(everConnected ? "reconnected to the tracker" : "connected to the tracker",
                              metadata: ["tracker": "\(server)", "seen-as": "\(seenAs)"])
                registeredWith.withLockedValue { $0 = server }
                events(.registered(seenAs: seenAs, tracker: server))
                everConnected = true
                failuresLogged = []
                backoff = Self.initialBackoff
                rotation.connected()
            } catch {
                await attempt?.close()
                if Task.isCancelled { return }
                if failuresLogged.insert(rotation.current).inserted {
                    logger.warning("cannot reach the tracker; retrying",
                                   metadata: ["tracker": "\(server)", "error": "\(error)"])
                }
                // A round of every tracker failed: wait before the next round, longer each time.
                if rotation.failed() {
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, Self.maximumBackoff)
                }
                continue
            }
            let reason = await serve(attempt!)
            current.withLockedValue { $0 = nil }
            if Task.isCancelled { return }
            logger.warning("lost the tracker; reconnecting", metadata: ["tracker": "\(server)", "reason": "\(reason)"])
            events(.lost(reason: reason))
            rotation.lost()
            try? await Task.sleep(for: backoff)
        }
    }

    /// Announces and keeps the connection alive until it closes or the task is cancelled; returns why
    /// it ended.
    private func serve(_ connection: TrackerConnection) async -> String {
        let failure = NIOLockedValueBox<String?>(nil)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await connection.closed() }
            group.addTask { [self] in
                do {
                    try await keepAlive(connection)
                } catch {
                    if !(error is CancellationError) { failure.withLockedValue { $0 = "\(error)" } }
                    if !Task.isCancelled {
                        logger.debug("tracker session error", metadata: ["error": "\(error)"])
                    }
                }
                // Every way out closes the connection, which ends the other child.
                if Task.isShuttingDownGracefully {
                    // Cancelled by graceful shutdown: say QUIT from a task that is not cancelled, so
                    // that the tracker forgets this peer at once.
                    await Task { await connection.close() }.value
                    events(.left)
                } else {
                    await connection.close()
                }
            }
            await group.next()
            group.cancelAll()
        }
        // Our own failure (a reply timeout) first; else what the tracker did to the connection.
        return failure.withLockedValue { $0 }
            ?? connection.endReason?.message
            ?? TrackerRequestHandler.closedByTracker.message
    }

    /// Announces the share (all of it first, then its changes) and says `PING` every heartbeat
    /// interval; throws when the connection fails.
    private func keepAlive(_ connection: TrackerConnection) async throws {
        var announced: ShareSnapshot?
        var announcedVersion = -1
        var partial = AnnouncedPartials()
        var sinceHeartbeat: Duration = .zero
        let tick = min(Self.tick, configuration.heartbeatInterval)
        while !Task.isCancelled {
            var firstAnnouncement: Int?
            if let share, share.version != announcedVersion {
                announcedVersion = share.version
                if announced == nil { firstAnnouncement = share.snapshot.files.count }
                announced = try await announce(share.snapshot, since: announced, on: connection)
                partials?.retire(sharedNames: announced!.files.keys)
            }
            if let partials, connection.acceptsPartialHolders, partials.version != partial.version {
                try await announce(partials, shared: announced ?? ShareSnapshot(), into: &partial, on: connection)
            }
            // The connection serves requests once the share is announced; whoever hears `.announced`
            // finds it current.
            if current.withLockedValue({ $0 }) !== connection { current.withLockedValue { $0 = connection } }
            if let files = firstAnnouncement { events(.announced(files: files)) }
            try await Task.sleep(for: tick)
            sinceHeartbeat += tick
            if sinceHeartbeat >= configuration.heartbeatInterval {
                sinceHeartbeat = .zero
                _ = try await connection.send(.ping)
                events(.heartbeat)
            }
        }
    }

    /// The partial files announced on one connection, and the ``PartialShares/version`` announced.
    private struct AnnouncedPartials {
        var version = -1
        var entries: [SharedFileName: SharedFileEntry] = [:]
    }

    /// Announces the files in progress that have verified chunks as `ADD … PARTIAL`, and `REMOVE`s
    /// those that ended. A name the share has is the share's to announce: the complete file's `ADD`
    /// replaces the partial one on the tracker, so it is neither announced as partial nor removed.
    private func announce(_ partials: PartialShares, shared: ShareSnapshot, into announced: inout AnnouncedPartials,
                          on connection: TrackerConnection) async throws {
        announced.version = partials.version
        var wanted: [SharedFileName: SharedFileEntry] = [:]
        for entry in partials.announceable where shared.files[entry.name] == nil { wanted[entry.name] = entry }
        for (name, entry) in wanted.sorted(by: { $0.key < $1.key }) where announced.entries[name] != entry {
            _ = try await connection.send(.add(entry))
            announced.entries[name] = entry
        }
        for name in announced.entries.keys.sorted() where wanted[name] == nil {
            announced.entries[name] = nil
            guard shared.files[name] == nil else { continue }
            let reply = try await connection.send([TrackerRequest.remove(name).line])
            if !reply.final.status.isSuccess, reply.final.status != .notFound { _ = try reply.checked() }
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
        for entry in added { _ = try await connection.send(.add(connection.announceable(entry))) }
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

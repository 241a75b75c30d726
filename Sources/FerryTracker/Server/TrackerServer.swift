import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tracker: accepts control connections on TCP and answers the line protocol of docs/PROTOCOL.md.
///
/// Each connection is a ``TrackerConnectionHandler`` on its event loop: lookups are answered there
/// from the ``MemoryTrackerIndex``, everything else in turns of its own ``TrackerConversation``. A slow,
/// silent or hostile client costs one socket and bounded memory, and never holds up another:
/// - connections are capped in all and per address (``ConnectionAdmission``), and one that has not said
///   `HELLO` is closed after ``TrackerLimits/idleTimeout`` silent seconds;
/// - a connection whose replies are not read stops being read (``TrackerLimits/outboundBufferHighWaterMark``);
/// - registered peers that stay silent past the heartbeat timeout are closed and leave the index;
/// - on graceful shutdown the tracker stops accepting, sends `421` to every connection and closes it,
///   and returns once all are closed.
public struct TrackerServer: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var heartbeatTimeout: TimeAmount
        /// How long a connection that has not said `HELLO` may stay silent.
        public var idleTimeout: TimeAmount
        public var maximumConnections: Int
        public var maximumConnectionsPerAddress: Int
        /// See ``TrackerLimits/helloTakeoverQuietPeriod``.
        public var helloTakeoverQuietPeriod: TimeAmount

        public init(
            host: String = "0.0.0.0",
            port: Int = 4444,
            heartbeatTimeout: TimeAmount = .seconds(Int64(TrackerLimits.heartbeatTimeout)),
            idleTimeout: TimeAmount = .seconds(Int64(TrackerLimits.idleTimeout)),
            maximumConnections: Int = TrackerLimits.maximumConnections,
            maximumConnectionsPerAddress: Int = TrackerLimits.maximumConnectionsPerAddress,
            helloTakeoverQuietPeriod: TimeAmount = .seconds(Int64(TrackerLimits.helloTakeoverQuietPeriod))
        ) {
            self.host = host
            self.port = port
            self.heartbeatTimeout = heartbeatTimeout
            self.idleTimeout = idleTimeout
            self.maximumConnections = maximumConnections
            self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
            self.helloTakeoverQuietPeriod = helloTakeoverQuietPeriod
        }

        /// Descriptors the tracker keeps for itself besides its connections: the listening socket, the
        /// SQLite database (a writer and readers, each with its WAL and shared-memory files), the event
        /// loops, standard streams.
        public static let reservedDescriptors = 128

        /// The connection cap that fits in `descriptorLimit` open descriptors, after the reserve.
        public static func maximumConnections(descriptorLimit: Int) -> Int {
            max(1, min(TrackerLimits.maximumConnections, descriptorLimit - reservedDescriptors))
        }

        var admissionLimits: ConnectionAdmission.Limits {
            ConnectionAdmission.Limits(
                total: maximumConnections, perAddress: maximumConnectionsPerAddress,
                reservedForNewAddresses: min(TrackerLimits.reservedConnectionsForNewAddresses, maximumConnections / 8))
        }
    }

    /// What the tracker holds now; every figure goes back to 0 as connections close.
    public struct Statistics: Sendable, Equatable {
        /// Connections admitted and not yet closed.
        public var connections: Int
        /// Addresses with at least one admitted connection.
        public var addresses: Int
        /// Peer endpoints held by a registered connection.
        public var endpoints: Int
        /// Bytes held by pending `UPDATE`s.
        public var pendingUpdateBytes: Int
        /// Connections whose replies wait for the client to read (not read meanwhile).
        public var waitingForReader: Int

        public init(connections: Int, addresses: Int, endpoints: Int, pendingUpdateBytes: Int, waitingForReader: Int = 0) {
            self.waitingForReader = waitingForReader
            self.connections = connections
            self.addresses = addresses
            self.endpoints = endpoints
            self.pendingUpdateBytes = pendingUpdateBytes
        }
    }

    /// Where lookups are answered from.
    public enum IndexMode: Sendable {
        /// From the ``MemoryTrackerIndex`` of this tracker, on the event loop; the store is its durable
        /// record, written behind (SQLite). The fastest, for one tracker.
        case inMemory
        /// From the store itself, for every request: several trackers share it (PostgreSQL) and answer
        /// as one. `sessionsLost` yields when the store lost this tracker's sessions (its lease ran out):
        /// every connection is then closed, so that its peer registers again.
        case shared(sessionsLost: AsyncStream<Void>)
    }

    let configuration: Configuration
    let indexMode: IndexMode
    /// The index in memory, followed by the durable store given to ``init(configuration:store:indexMode:logger:group:onListening:)``
    /// (``IndexMode/inMemory`` only).
    public let journal: TrackerJournal
    /// The store as given.
    let store: any TrackerStore
    let logger: Logger
    private let group: any EventLoopGroup
    private let onListening: @Sendable (SocketAddress) -> Void
    let connections: TrackerConnections
    let endpoints: PeerEndpointTable
    let updateBudget = ByteBudget(limit: TrackerLimits.maximumPendingUpdateBytesInAll)
    let waitingForReader = NIOLockedValueBox(0)
    /// This tracker's metrics, in a registry of its own (``TrackerObservability`` serves them).
    public let metrics = TrackerMetrics()
    private let boundAddress = NIOLockedValueBox<SocketAddress?>(nil)

    /// The bound address while the tracker accepts connections; `nil` before and after.
    public var listeningAddress: SocketAddress? { boundAddress.withLockedValue { $0 } }

    /// - Parameters:
    ///   - store: the durable record of the index (SQLite), or with ``IndexMode/shared(sessionsLost:)`` the
    ///     index itself.
    ///   - indexMode: where lookups are answered from.
    ///   - onListening: called once with the bound address (useful with port 0).
    public init(
        configuration: Configuration,
        store: any TrackerStore,
        indexMode: IndexMode = .inMemory,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.journal = TrackerJournal(durable: store, logger: logger)
        self.store = store
        self.indexMode = indexMode
        self.logger = logger
        self.group = group
        self.onListening = onListening
        self.connections = TrackerConnections(limits: configuration.admissionLimits)
        self.endpoints = PeerEndpointTable(quietPeriod: configuration.helloTakeoverQuietPeriod)
    }

    public var description: String { "TrackerServer(\(configuration.host):\(configuration.port))" }

    public var statistics: Statistics {
        let counts = connections.counts
        return Statistics(
            connections: counts.connections, addresses: counts.addresses,
            endpoints: endpoints.count, pendingUpdateBytes: updateBudget.inUse,
            waitingForReader: waitingForReader.withLockedValue { $0 })
    }

    public func run() async throws {
        let (store, sessionsLost): (any TrackerStore, AsyncStream<Void>?) = switch indexMode {
        case .inMemory: (journal, nil)
        case .shared(let sessionsLost): (self.store, sessionsLost)
        }
        try await store.markAllPeersOffline()
        let services = TrackerServices(
            index: journal.index, store: store, answersLookupsOnLoop: sessionsLost == nil, connections: connections, endpoints: endpoints,
            updateBudget: updateBudget, waitingForReader: waitingForReader,
            heartbeatTimeout: configuration.heartbeatTimeout, idleTimeout: configuration.idleTimeout, logger: logger,
            metrics: metrics)
        let listeners = try await Self.listening(on: configuration) {
            try await Self.bindListeners(on: Array(group.makeIterator()), host: configuration.host, port: configuration.port) {
                loop, sharesPort in
                ServerBootstrap(group: loop, childGroup: loop)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .serverChannelOption(.socketOption(Self.reusePort), value: sharesPort ? 1 : 0)
                    .serverChannelOption(.backlog, value: 1024)
                    .serverChannelOption(.maxMessagesPerRead, value: 16)
                    // Accepted sockets inherit these from the listening one: no system call per connection.
                    .serverChannelOption(.socketOption(.so_keepalive), value: 1)
                    .serverChannelOption(.socketOption(.tcp_nodelay), value: 1)
                    .serverChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(TrackerLimits.socketSendBufferSize))
                    .serverChannelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(TrackerLimits.socketReceiveBufferSize))
                    .childChannelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let options = channel.syncOptions!
                            try options.setOption(.writeBufferWaterMark, value: .init(
                                low: TrackerLimits.outboundBufferLowWaterMark, high: TrackerLimits.outboundBufferHighWaterMark))
                            try options.setOption(.maxMessagesPerRead, value: 1)
                            // Requests are lines: reads start at 1 KiB and grow, while they come full, up to
                            // the bound (an 8 KiB buffer made for every new connection showed in `perf`).
                            try options.setOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                                minimum: 1 << 10, initial: 1 << 10, maximum: TrackerLimits.receiveBufferSize))
                            try channel.pipeline.syncOperations.addHandler(TrackerConnectionHandler(services: services))
                        }
                    }
            }
        }
        let address = listeners[0].localAddress!
        logger.notice("tracker listening", metadata: ["address": "\(address.displayString)"])
        boundAddress.withLockedValue { $0 = address }
        onListening(address)

        let journal = self.journal
        let connections = self.connections
        await withDiscardingTaskGroup { group in
            if let sessionsLost {
                group.addTask { await Self.closeAll(connections, whenever: sessionsLost) }
            } else {
                group.addTask { await journal.run() }
            }
            // Until cancelled or told to shut down gracefully: then stop accepting, send `421` to every
            // connection and close it.
            await withTaskCancellationOrGracefulShutdownHandler {
                await Self.untilOneCloses(listeners)
            } onCancelOrGracefulShutdown: {
                for listener in listeners { listener.close(promise: nil) }
            }
            boundAddress.withLockedValue { $0 = nil }
            for close in connections.beginShutdown() {
                close(TrackerReplyLine(status: .closing, isFinal: true, text: "tracker shutting down"))
            }
            await connections.drained()
            journal.stop()
            // In shared mode the one task left waits for lost sessions: it ends here. (The journal's
            // writer, in memory mode, ends by itself after writing what is left.)
            if sessionsLost != nil { group.cancelAll() }
        }
        logger.notice("tracker stopped")
    }

    /// Closes every connection each time `sessionsLost` yields, until cancelled.
    private static func closeAll(_ connections: TrackerConnections, whenever sessionsLost: AsyncStream<Void>) async {
        for await _ in sessionsLost {
            for close in connections.closers() {
                close(TrackerReplyLine(status: .closing, isFinal: true, text: "the tracker lost its place in the shared index; connect again"))
            }
        }
    }

    static func encode(_ lines: [TrackerReplyLine]) -> ByteBuffer {
        var buffer = ByteBuffer()
        append(lines, to: &buffer)
        return buffer
    }

    static func append(_ lines: [TrackerReplyLine], to buffer: inout ByteBuffer) {
        for line in lines {
            buffer.writeString(line.line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
    }
}

extension TrackerServer {
    /// The tracker could not listen on its address: a sentence for people, as the peer says it.
    public struct ListenError: Error, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var underlying: any Error

        /// Why, in a few words: "address already in use".
        public var reason: String {
            guard let error = underlying as? IOError else { return "\(underlying)" }
            return String(cString: strerror(error.errnoCode)).lowercased()
        }

        public var description: String {
            "cannot listen on \(host):\(port): \(reason) (another `ferry server`?); pass --host or --port"
        }
    }

    /// `SO_REUSEPORT`, which NIO does not name.
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)

    /// Binds one listening socket per event loop, each accepting onto its own loop: the kernel spreads
    /// new connections over them (`SO_REUSEPORT`), and a connection is never handed from the thread
    /// that accepted it to another (a task and a wake-up of that thread per connection: with a new
    /// connection per lookup, the rate went from 0.65× opentracker's to 0.8×). One loop, one socket,
    /// without the option.
    ///
    /// Any socket of the same user that sets `SO_REUSEPORT` may join such a group: a second `ferry
    /// server` on the port would share the clients of the first instead of failing. So the address is
    /// claimed first by an ordinary socket, which fails as it always did when the port is taken (and
    /// picks the port when given 0), and closed just before the group binds.
    /// - Parameter bootstrap: the bootstrap for a loop; `true` when its socket joins the group.
    static func bindListeners(
        on loops: [any EventLoop], host: String, port: Int,
        _ bootstrap: (any EventLoop, Bool) -> ServerBootstrap
    ) async throws -> [any Channel] {
        guard loops.count > 1 else { return [try await bootstrap(loops[0], false).bind(host: host, port: port).get()] }
        let claim = try await ServerBootstrap(group: loops[0])
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { $0.close() }
            .bind(host: host, port: port)
            .get()
        let claimed = claim.localAddress?.port ?? port
        try await claim.close()
        var listeners: [any Channel] = []
        do {
            for loop in loops { listeners.append(try await bootstrap(loop, true).bind(host: host, port: claimed).get()) }
        } catch {
            for listener in listeners { try? await listener.close() }
            throw error
        }
        return listeners
    }

    /// Returns once one of `listeners` has closed, having closed the others: a tracker that listens on
    /// some of its loops only would refuse the clients the kernel gives to the others.
    static func untilOneCloses(_ listeners: [any Channel]) async {
        await withDiscardingTaskGroup { group in
            let closed = AsyncStream.makeStream(of: Void.self)
            for listener in listeners {
                group.addTask {
                    try? await listener.closeFuture.get()
                    closed.continuation.yield()
                }
            }
            for await _ in closed.stream { break }
            for listener in listeners { listener.close(promise: nil) }
        }
    }

    /// Runs `bind`, turning its failure into a ``ListenError``.
    static func listening<Listener>(on configuration: Configuration, _ bind: () async throws -> Listener) async throws -> Listener {
        do {
            return try await bind()
        } catch {
            throw ListenError(host: configuration.host, port: configuration.port, underlying: error)
        }
    }
}

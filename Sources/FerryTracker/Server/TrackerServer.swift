import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The tracker: accepts control connections on TCP and answers the line protocol of docs/PROTOCOL.md.
///
/// Each connection runs in its own child task with its own ``TrackerConversation``; a slow, silent or
/// hostile client costs one task and one socket and never holds up another. Registered peers that stay
/// silent past the heartbeat timeout are closed and leave the index.
public struct TrackerServer: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var heartbeatTimeout: TimeAmount
        public var idleTimeout: TimeAmount
        public var maximumConnections: Int

        public init(
            host: String = "0.0.0.0",
            port: Int = 4444,
            heartbeatTimeout: TimeAmount = .seconds(Int64(TrackerLimits.heartbeatTimeout)),
            idleTimeout: TimeAmount = .seconds(Int64(TrackerLimits.idleTimeout)),
            maximumConnections: Int = TrackerLimits.maximumConnections
        ) {
            self.host = host
            self.port = port
            self.heartbeatTimeout = heartbeatTimeout
            self.idleTimeout = idleTimeout
            self.maximumConnections = maximumConnections
        }
    }

    private let configuration: Configuration
    private let store: any TrackerStore
    private let logger: Logger
    private let group: any EventLoopGroup
    private let onListening: @Sendable (SocketAddress) -> Void

    /// - Parameter onListening: called once with the bound address (useful with port 0).
    public init(
        configuration: Configuration,
        store: any TrackerStore,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.group = group
        self.onListening = onListening
    }

    public var description: String { "TrackerServer(\(configuration.host):\(configuration.port))" }

    public func run() async throws {
        try await store.markAllPeersOffline()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maximumLineLength: TrackerLimits.maximumLineLength)))
                    return try NIOAsyncChannel<LineFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let address = server.channel.localAddress!
        logger.notice("tracker listening", metadata: ["address": "\(address.displayString)"])
        onListening(address)

        let connections = NIOLockedValueBox(0)
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            let admitted = connections.withLockedValue { count in
                                guard count < configuration.maximumConnections else { return false }
                                count += 1
                                return true
                            }
                            group.addTask {
                                if admitted {
                                    await handle(connection)
                                    connections.withLockedValue { $0 -= 1 }
                                } else {
                                    await refuse(connection)
                                }
                            }
                        }
                    }
                }
            }
        } catch is CancellationError {
            logger.info("tracker stopped")
        }
    }

    private func refuse(_ connection: NIOAsyncChannel<LineFrame, ByteBuffer>) async {
        try? await connection.executeThenClose { _, outbound in
            try await outbound.write(Self.encode([
                TrackerReplyLine(status: .closing, isFinal: true, text: "too many connections; try again later")
            ]))
        }
    }

    private func handle(_ connection: NIOAsyncChannel<LineFrame, ByteBuffer>) async {
        let remote = connection.channel.remoteAddress
        let host = remote?.ipAddress ?? "unknown"
        let logger = {
            var logger = self.logger
            logger[metadataKey: "client"] = "\(remote?.displayString ?? "unknown")"
            return logger
        }()
        var conversation = TrackerConversation(store: store, observedHost: host, logger: logger)
        let liveness = NIOLockedValueBox(Liveness(lastHeard: .now(), registered: false))
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await watch(liveness, channel: connection.channel, outbound: outbound, logger: logger)
                    }
                    for try await frame in inbound {
                        liveness.withLockedValue { $0.lastHeard = .now() }
                        guard let response = await conversation.handle(frame) else { continue }
                        liveness.withLockedValue { $0.registered = conversation.isRegistered }
                        try await outbound.write(Self.encode(response.lines))
                        if response.close { break }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
        if conversation.isRegistered { logger.info("peer gone") }
        // Even when the server is being cancelled, the peer must leave the index.
        let finished = conversation
        await Task { await finished.finish() }.value
    }

    private struct Liveness {
        var lastHeard: NIODeadline
        var registered: Bool
    }

    /// Closes the connection when it stays silent too long: the heartbeat timeout for a registered
    /// peer, the idle timeout for anyone else.
    private func watch(
        _ liveness: NIOLockedValueBox<Liveness>,
        channel: any Channel,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        logger: Logger
    ) async throws {
        while true {
            try await Task.sleep(for: .milliseconds(500))
            let (lastHeard, registered) = liveness.withLockedValue { ($0.lastHeard, $0.registered) }
            let limit = registered ? configuration.heartbeatTimeout : configuration.idleTimeout
            if NIODeadline.now() - lastHeard > limit {
                logger.info(registered ? "peer missed its heartbeats; dropping it" : "idle connection closed")
                try? await outbound.write(Self.encode([
                    TrackerReplyLine(status: .closing, isFinal: true, text: "no message for \(limit.nanoseconds / 1_000_000_000) s; closing")
                ]))
                try? await channel.close()
                return
            }
        }
    }

    static func encode(_ lines: [TrackerReplyLine]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for line in lines {
            buffer.writeString(line.line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        return buffer
    }
}

import FerryUDP
import FerryWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The peer's UDP file server: Ferry's reliable UDP protocol (docs/PROTOCOL.md) on the same port
/// number as TCP. All transfers share the one socket; a ``UDPServerHandler`` on the event loop
/// demultiplexes them by connection ID.
///
/// On graceful shutdown it takes no new transfer (CLOSE(busy)), lets running ones go on for
/// ``Configuration/shutdownGracePeriod``, then sends each client CLOSE(busy) and closes the socket.
/// Cancelling ``run()`` does the same without the grace period.
public struct UDPFileServer: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var connection: UDPConfiguration
        /// Transfers at once (each holds an open file); more get CLOSE(busy).
        public var maximumConnections: Int
        /// Transfers one IP address may hold at once; more get CLOSE(busy).
        public var maximumConnectionsPerAddress: Int
        /// On graceful shutdown, how long running transfers may go on before each gets CLOSE(busy).
        public var shutdownGracePeriod: TimeAmount
        /// The read-ahead windows of all transfers together, in bytes.
        public var readAheadBudget: Int
        /// The peer's upload cap, shared with the TCP file server.
        public var rateLimiter: RateLimiter?

        /// - Parameter datagramSize: the UDP payload of every full datagram; `nil` lets each
        ///   connection find its path's: it starts at 1200 bytes, which cross any path without IP
        ///   fragmentation, and probes 1452, 1472 and 8192 (path MTU discovery; see
        ///   ``UDPConfiguration/standardProbeSizes``).
        public init(host: String = "0.0.0.0", port: Int = 5555, datagramSize: Int? = nil,
                    maximumConnections: Int = 256, maximumConnectionsPerAddress: Int = 16,
                    shutdownGracePeriod: TimeAmount = .seconds(5), rateLimiter: RateLimiter? = nil) {
            self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
            self.shutdownGracePeriod = shutdownGracePeriod
            self.readAheadBudget = ReadAheadBudget.standardLimit
            self.host = host
            self.port = port
            self.connection = UDPConfiguration(
                maximumDatagramSize: datagramSize ?? UDPWireLimits.defaultMaximumDatagramSize,
                pathMTUProbeSizes: datagramSize == nil ? UDPConfiguration.standardProbeSizes : [])
            self.maximumConnections = maximumConnections
            self.rateLimiter = rateLimiter
        }

        /// The range a datagram size may be chosen from.
        public static let datagramSizes = UDPWireLimits.minimumInitialDatagramSize...UDPWireLimits.maximumDatagramSize
    }

    /// Socket buffers large enough for a window of datagrams at loopback speeds.
    static let socketBufferSize = 8 << 20

    public let configuration: Configuration
    private let share: Share
    private let logger: Logger
    private let group: any EventLoopGroup
    private let onListening: @Sendable (SocketAddress) -> Void

    /// Hears how each upload ended (bytes, losses, congestion window); set by ``PeerNode``.
    let metrics: PeerMetrics?

    public init(configuration: Configuration, share: Share, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, metrics: PeerMetrics? = nil,
                onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.metrics = metrics
        self.configuration = configuration
        self.share = share
        self.logger = logger
        self.group = group
        self.onListening = onListening
    }

    public var description: String { "UDPFileServer(\(configuration.host):\(configuration.port))" }

    public func run() async throws {
        let configuration = self.configuration
        let ipv6 = (try? SocketAddress(ipAddress: configuration.host, port: 0))?.protocol == .inet6
        let share = self.share
        let budget = ReadAheadBudget(limit: configuration.readAheadBudget)
        let logger = self.logger
        let rateLimiter = configuration.rateLimiter
        let metrics = self.metrics
        let channel: any Channel
        do {
            channel = try await DatagramBootstrap(group: group)
                // No SO_REUSEADDR: on Linux it would let a second peer bind the same UDP address silently.
                .channelOption(.socketOption(.so_rcvbuf), value: Self.socketBufferSize)
                .channelOption(.socketOption(.so_sndbuf), value: Self.socketBufferSize)
                .channelOption(.datagramVectorReadMessageCount, value: 32)
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 32 * 2048))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        var connection = configuration.connection
                        if !connection.pathMTUProbeSizes.isEmpty, !Self.setDontFragment(channel, ipv6: ipv6) {
                            logger.notice("no path MTU discovery: the socket cannot set don't-fragment; datagrams stay at 1200 bytes",
                                          metadata: ["hint": "--udp-datagram-size N sets a size"])
                            connection.pathMTUProbeSizes = []
                        }
                        let demultiplexerConfiguration = UDPServerDemultiplexer<UDPMonotonicInstant, SocketAddress>.Configuration(
                            connection: connection, maximumConnections: configuration.maximumConnections,
                            maximumConnectionsPerAddress: configuration.maximumConnectionsPerAddress)
                        // File reads run on the thread pool, never on this event loop.
                        let reads = DiskReads(eventLoop: channel.eventLoop)
                        let provider = ShareUDPFileProvider(share: share, budget: budget, reads: reads)
                        try channel.pipeline.syncOperations.addHandler(
                            UDPServerHandler(configuration: demultiplexerConfiguration, provider: provider,
                                             rateLimiter: rateLimiter, logger: logger, diskReads: reads, metrics: metrics))
                    }
                }
                .bind(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw PeerError.cannotServe("files over UDP", host: configuration.host, port: configuration.port, error)
        }
        let address = channel.localAddress!
        var metadata: Logger.Metadata = ["address": "\(address.displayString)",
                                         "datagram": "\(configuration.connection.maximumDatagramSize)"]
        if let largest = configuration.connection.pathMTUProbeSizes.max() {
            metadata["probing_up_to"] = "\(largest)"
        }
        logger.notice("serving files over UDP", metadata: metadata)
        onListening(address)
        let grace = configuration.shutdownGracePeriod
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                Self.shutDown(channel, grace: .zero)
            }
        } onGracefulShutdown: {
            Self.shutDown(channel, grace: grace)
        }
    }

    /// Stops taking transfers, lets the running ones go on for `grace`, closes them (a CLOSE to
    /// each client) and then the channel.
    static func shutDown(_ channel: any Channel, grace: TimeAmount) {
        channel.eventLoop.execute {
            // The handler is in the pipeline while the channel is active; it completes `done`
            // (also if it is removed first).
            guard channel.isActive else { return channel.close(promise: nil) }
            let done = channel.eventLoop.makePromise(of: Void.self)
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
            channel.pipeline.fireUserInboundEventTriggered(UDPServerHandler.ShutDown(grace: grace, done: done))
            // Whatever happens to the event, the socket is closed shortly after the grace period.
            channel.eventLoop.scheduleTask(in: grace + .seconds(1)) { channel.close(promise: nil) }
        }
    }

    /// Sets the IP "don't fragment" bit on every datagram and has the kernel ignore its path MTU
    /// cache (`IP_PMTUDISC_PROBE`, as QUIC stacks do): a path MTU probe too large for the path must
    /// be dropped, not fragmented, and a datagram larger than the interface fails locally. Returns
    /// whether the socket took it.
    static func setDontFragment(_ channel: any Channel, ipv6: Bool) -> Bool {
        #if os(Linux)
        guard let options = channel.syncOptions else { return false }
        do {
            // On an IPv6 socket IP_MTU_DISCOVER covers IPv4-mapped peers.
            try options.setOption(ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: IP_MTU_DISCOVER)),
                                  value: Int(IP_PMTUDISC_PROBE))
            if ipv6 {
                try options.setOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .init(rawValue: IPV6_MTU_DISCOVER)),
                                      value: Int(IPV6_PMTUDISC_PROBE))
            }
            return true
        } catch {
            return false
        }
        #else
        return false
        #endif
    }
}

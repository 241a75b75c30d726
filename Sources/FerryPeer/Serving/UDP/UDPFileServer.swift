import FerryUDP
import FerryWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The peer's UDP file server: Ferry's reliable UDP protocol (docs/PROTOCOL.md) on the same port
/// number as TCP. All transfers share the one socket; a ``UDPServerHandler`` on the event loop
/// demultiplexes them by connection ID.
public struct UDPFileServer: Service, CustomStringConvertible {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var connection: UDPConfiguration
        public var maximumConnections: Int
        /// The peer's upload cap, shared with the TCP file server.
        public var rateLimiter: RateLimiter?

        /// - Parameter datagramSize: the UDP payload of every full datagram; `nil` lets each
        ///   connection find its path's: it starts at 1200 bytes, which cross any path without IP
        ///   fragmentation, and probes 1452, 1472 and 8192 (path MTU discovery; see
        ///   ``UDPConfiguration/standardProbeSizes``).
        public init(host: String = "0.0.0.0", port: Int = 5555, datagramSize: Int? = nil,
                    maximumConnections: Int = 1024, rateLimiter: RateLimiter? = nil) {
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

    public init(configuration: Configuration, share: Share, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
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
        let provider = ShareUDPFileProvider(share: share)
        let logger = self.logger
        let rateLimiter = configuration.rateLimiter
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
                            connection: connection, maximumConnections: configuration.maximumConnections)
                        try channel.pipeline.syncOperations.addHandler(
                            UDPServerHandler(configuration: demultiplexerConfiguration, provider: provider,
                                             rateLimiter: rateLimiter, logger: logger))
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
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
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

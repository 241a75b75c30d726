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

        /// - Parameter datagramSize: the UDP payload of a full datagram; `nil` chooses by the path:
        ///   ``loopbackDatagramSize`` when `host` is a loopback address (a socket bound there only
        ///   talks over the loopback interface, whose MTU is 64 KiB), else 1200 bytes, which crosses
        ///   any path without IP fragmentation.
        public init(host: String = "0.0.0.0", port: Int = 5555, datagramSize: Int? = nil,
                    maximumConnections: Int = 1024, rateLimiter: RateLimiter? = nil) {
            self.host = host
            self.port = port
            let size = datagramSize ?? (Self.isLoopback(host) ? Self.loopbackDatagramSize : UDPWireLimits.defaultMaximumDatagramSize)
            self.connection = UDPConfiguration(maximumDatagramSize: size)
            self.maximumConnections = maximumConnections
            self.rateLimiter = rateLimiter
        }

        /// The datagram size on a loopback-only server: large enough that per-datagram work stops
        /// being the limit, small enough that one GSO write still carries several.
        public static let loopbackDatagramSize = 8192

        /// The range a datagram size may be chosen from.
        public static let datagramSizes = UDPWireLimits.minimumInitialDatagramSize...UDPWireLimits.maximumDatagramSize

        static func isLoopback(_ host: String) -> Bool {
            switch try? SocketAddress(ipAddress: host, port: 0) {
            case .v4(let address)?: return UInt32(bigEndian: address.address.sin_addr.s_addr) >> 24 == 127
            case .v6?: return host == "::1"
            default: return false
            }
        }
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
        let demultiplexerConfiguration = UDPServerDemultiplexer<UDPMonotonicInstant, SocketAddress>.Configuration(
            connection: configuration.connection, maximumConnections: configuration.maximumConnections)
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
                        try channel.pipeline.syncOperations.addHandler(
                            UDPServerHandler(configuration: demultiplexerConfiguration, provider: provider,
                                             rateLimiter: rateLimiter, logger: logger))
                    }
                }
                .bind(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw PeerError(.badConfiguration, "cannot serve files over UDP on \(configuration.host):\(configuration.port): \(error); "
                + "is another peer using that address? Pass --host or --port")
        }
        let address = channel.localAddress!
        logger.notice("serving files over UDP", metadata: ["address": "\(address.displayString)",
                                                         "datagram": "\(configuration.connection.maximumDatagramSize)"])
        onListening(address)
        await withTaskCancellationOrGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

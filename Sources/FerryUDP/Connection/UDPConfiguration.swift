/// The tunables of a Ferry UDP connection, shared by both ends.
///
/// The defaults follow RFC 9000/9002 where those give one (initial RTT, maximum ack delay, ack
/// every second ack-eliciting packet) and suit a LAN or the Internet alike.
public struct UDPConfiguration: Hashable, Sendable {
    /// The largest UDP payload to send, header included, before (or without) path MTU discovery:
    /// 1200 (any IPv6 path) up to 65 507. INITIALs are always exactly 1200 bytes.
    public var maximumDatagramSize: Int
    /// Larger datagram sizes the sender tries, one probe at a time, each only once the path carried
    /// the previous one (DPLPMTUD, RFC 8899); empty turns discovery off. The driver must send with
    /// the IP "don't fragment" bit set, or a probe would pass fragmented and prove nothing.
    public var pathMTUProbeSizes: [Int]
    /// The connection ends with `idleTimeout` when nothing arrives from the peer for this long.
    public var idleTimeout: Duration
    /// The longest an endpoint delays an acknowledgement; also assumed of the peer.
    public var maxAckDelay: Duration
    /// An ACK is sent at once after this many unacknowledged ack-eliciting packets.
    public var ackElicitingThreshold: Int
    /// The RTT assumed before the first measurement.
    public var initialRTT: Duration
    /// The receiver's flow-control window: how many bytes past what the application consumed the
    /// sender may send. Bounds the receiver's buffering.
    public var receiveWindow: Int
    /// The sender's congestion controller.
    public var congestionControl: UDPCongestionAlgorithm
    /// The congestion window before any acknowledgement, in datagrams.
    public var initialWindowPackets: Int
    /// How many RETRY packets a client accepts before giving up.
    public var maximumRetries: Int
    /// A server's connection whose client acknowledges nothing for this long after its request is
    /// dropped: a half-open handshake holds its state (and its file) this long, not the idle timeout.
    public var handshakeTimeout: Duration

    /// The default configuration.
    public init(
        maximumDatagramSize: Int = UDPWireLimits.defaultMaximumDatagramSize,
        idleTimeout: Duration = .seconds(10),
        maxAckDelay: Duration = .milliseconds(25),
        ackElicitingThreshold: Int = 2,
        initialRTT: Duration = .milliseconds(333),
        receiveWindow: Int = 16 << 20,
        congestionControl: UDPCongestionAlgorithm = .bbr,
        initialWindowPackets: Int = 10,
        maximumRetries: Int = 4,
        pathMTUProbeSizes: [Int] = [],
        handshakeTimeout: Duration = .seconds(3)
    ) {
        self.handshakeTimeout = handshakeTimeout
        self.maximumDatagramSize = maximumDatagramSize
        self.idleTimeout = idleTimeout
        self.maxAckDelay = maxAckDelay
        self.ackElicitingThreshold = ackElicitingThreshold
        self.initialRTT = initialRTT
        self.receiveWindow = receiveWindow
        self.congestionControl = congestionControl
        self.initialWindowPackets = initialWindowPackets
        self.maximumRetries = maximumRetries
        self.pathMTUProbeSizes = pathMTUProbeSizes
    }

    /// The sizes a server probes by default: 1452 (a 1500-byte path under IPv6), 1472 (the same
    /// under IPv4) and 8192 (loopback, jumbo-frame LANs); the last is as large as a datagram gets
    /// here, since beyond it per-datagram costs stop mattering and a GSO write carries fewer.
    public static let standardProbeSizes = [1452, 1472, 8192]

    /// How long a receiver stays silent before sending a PING to keep the connection alive.
    var keepAliveInterval: Duration {
        self.idleTimeout / 3
    }

    /// Checks the values a state machine relies on (programming errors, not network input).
    func validate() {
        precondition(
            (UDPWireLimits.minimumInitialDatagramSize...UDPWireLimits.maximumDatagramSize).contains(
                self.maximumDatagramSize
            ),
            "maximumDatagramSize must be in 1200...65507"
        )
        precondition(self.idleTimeout > .zero && self.maxAckDelay >= .zero && self.initialRTT > .zero)
        precondition(self.handshakeTimeout > .zero)
        precondition(self.ackElicitingThreshold >= 1 && self.initialWindowPackets >= 2 && self.maximumRetries >= 1)
        precondition(
            self.pathMTUProbeSizes.allSatisfy { $0 <= UDPWireLimits.maximumDatagramSize },
            "path MTU probe sizes must be at most 65507"
        )
        let largest = max(self.maximumDatagramSize, self.pathMTUProbeSizes.max() ?? 0)
        precondition(self.receiveWindow >= largest, "receiveWindow must hold one datagram")
    }
}

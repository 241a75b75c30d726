/// What a congestion controller learns from one ACK frame.
public struct CongestionAckEvent<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// When the ACK was processed.
    public var now: Instant
    /// Bytes newly acknowledged.
    public var ackedBytes: Int
    /// Bytes still in flight after the ACK (and after any losses it revealed).
    public var bytesInFlight: Int
    /// The send time of the newest packet acknowledged.
    public var largestAcknowledgedSentTime: Instant
    /// The connection's RTT estimates.
    public var rtt: RTTEstimator
    /// The delivery-rate sample of this ACK, when one was valid.
    public var rateSample: DeliveryRateSample?
}

/// What a congestion controller learns when packets are declared lost.
public struct CongestionLossEvent<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// When the loss was detected.
    public var now: Instant
    /// Bytes declared lost.
    public var lostBytes: Int
    /// Bytes still in flight after removing the lost packets.
    public var bytesInFlight: Int
    /// The send time of the newest lost packet.
    public var largestLostSentTime: Instant
}

/// A congestion controller: decides how many bytes may be in flight and how fast to pace them.
///
/// The sender state machine calls it on every packet sent, every ACK and every loss, and asks it for
/// the window and the pacing rate before sending. Implementations never see sockets or clocks, only
/// the instants passed in.
public protocol CongestionController<Instant> {
    /// The clock's instant type.
    associatedtype Instant: InstantProtocol where Instant.Duration == Duration

    /// The most bytes that may be in flight.
    var congestionWindow: Int { get }

    /// The rate, in bytes per second, at which packets should leave; `nil` to send as fast as the
    /// window allows.
    var pacingRate: Double? { get }

    /// A short name for logs and reports.
    var name: String { get }

    /// An ack-eliciting packet of `bytes` left; `bytesInFlight` includes it.
    mutating func onPacketSent(bytes: Int, bytesInFlight: Int, at now: Instant)

    /// An ACK frame acknowledged at least one packet.
    mutating func onAck(_ event: CongestionAckEvent<Instant>)

    /// Packets were declared lost.
    mutating func onLoss(_ event: CongestionLossEvent<Instant>)

    /// Full datagrams are `size` bytes from now on (path MTU discovery raised the size, or fell back).
    /// Whatever the controller counts in datagrams — its minimum window above all — must follow,
    /// or a window smaller than one datagram would stall the sender.
    mutating func onDatagramSizeChanged(_ size: Int)
}

/// The congestion-control algorithms built into Ferry's UDP sender.
public enum UDPCongestionAlgorithm: Hashable, Sendable {
    /// A model-based controller after BBR: tolerant of random loss. The default.
    case bbr
    /// Loss-based NewReno (RFC 9002 §7), for comparison.
    case newReno
}

/// One delivery-rate measurement, taken when an acknowledgement arrives.
public struct DeliveryRateSample: Hashable, Sendable {
    /// Bytes delivered per second over the sample's interval.
    public var bytesPerSecond: Double
    /// The interval the sample spans.
    public var interval: Duration
    /// Bytes delivered over the interval.
    public var delivered: UInt64
    /// Total bytes delivered when the sampled packet was sent (marks round trips).
    public var priorDelivered: UInt64
    /// Whether the sender was short of data when the sampled packet left, so the rate may understate
    /// the path's capacity.
    public var isAppLimited: Bool
    /// The RTT of the sampled packet.
    public var rtt: Duration
}

/// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation), the input of model-based
/// congestion control: each acknowledged packet yields the rate at which data was delivered while it
/// was in flight, taking the larger of its send and ack intervals so ACK compression cannot inflate it.
struct DeliveryRateEstimator<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The connection's rate state stamped on each packet when it is sent.
    struct PacketState: Sendable {
        var delivered: UInt64
        var deliveredTime: Instant
        var firstSentTime: Instant
        var isAppLimited: Bool
    }

    /// Total bytes acknowledged so far.
    private(set) var delivered: UInt64 = 0
    private var deliveredTime: Instant
    private var firstSentTime: Instant
    /// Nonzero while packets sent in an app-limited phase are outstanding.
    private var appLimitedUntil: UInt64 = 0

    /// The best sample of the ACK being processed.
    private var pending: (sample: DeliveryRateSample, sentTime: Instant)?

    init(now: Instant) {
        self.deliveredTime = now
        self.firstSentTime = now
    }

    /// The state to record on a packet about to be sent.
    mutating func onPacketSent(at now: Instant, bytesInFlightBefore: Int) -> PacketState {
        if bytesInFlightBefore == 0 {
            self.firstSentTime = now
            self.deliveredTime = now
        }
        return PacketState(
            delivered: self.delivered,
            deliveredTime: self.deliveredTime,
            firstSentTime: self.firstSentTime,
            isAppLimited: self.appLimitedUntil != 0
        )
    }

    /// Records that the sender has no data to fill the congestion window.
    mutating func markAppLimited(bytesInFlight: Int) {
        self.appLimitedUntil = max(self.delivered + UInt64(bytesInFlight), 1)
    }

    /// Accounts for an acknowledged packet; call ``takeSample()`` once the whole ACK is processed.
    mutating func onPacketAcked(_ packet: SentPacket<Instant>, at now: Instant) {
        self.delivered += UInt64(packet.size)
        self.deliveredTime = now
        if self.appLimitedUntil != 0, self.delivered > self.appLimitedUntil {
            self.appLimitedUntil = 0
        }
        let state = packet.rateState
        // The sample comes from the most recently sent of the packets acknowledged.
        if let current = self.pending, current.sample.priorDelivered > state.delivered {
            return
        }
        self.firstSentTime = packet.timeSent
        let sendElapsed = state.firstSentTime.duration(to: packet.timeSent)
        let ackElapsed = state.deliveredTime.duration(to: now)
        let interval = max(sendElapsed, ackElapsed)
        let amount = self.delivered - state.delivered
        let sample = DeliveryRateSample(
            bytesPerSecond: interval > .zero ? Double(amount) / interval.inSeconds : 0,
            interval: interval,
            delivered: amount,
            priorDelivered: state.delivered,
            isAppLimited: state.isAppLimited,
            rtt: packet.timeSent.duration(to: now)
        )
        self.pending = (sample, packet.timeSent)
    }

    /// The sample of the ACK just processed, if any; discards samples over intervals shorter than
    /// `minimumRTT`, which measure bursts rather than the path.
    mutating func takeSample(minimumRTT: Duration) -> DeliveryRateSample? {
        defer { self.pending = nil }
        guard let sample = self.pending?.sample, sample.interval > .zero, sample.interval >= minimumRTT else {
            return nil
        }
        return sample
    }
}

/// Round-trip time estimation as specified by RFC 9002 §5.
///
/// Keeps the latest sample, the minimum (never adjusted for ack delay), the exponentially smoothed
/// RTT (gain 1/8) and the RTT variation (gain 1/4). Before the first sample, ``smoothed`` is the
/// configured initial RTT and ``variation`` half of it.
public struct RTTEstimator: Hashable, Sendable {
    /// The most recent sample, not adjusted for ack delay.
    public private(set) var latest: Duration
    /// The smallest sample seen, not adjusted for ack delay.
    public private(set) var minimum: Duration
    /// The smoothed RTT.
    public private(set) var smoothed: Duration
    /// The RTT variation.
    public private(set) var variation: Duration
    /// Whether any sample was taken.
    public private(set) var hasSample: Bool

    /// The timer granularity assumed by loss detection (RFC 9002 `kGranularity`).
    public static let granularity: Duration = .milliseconds(1)

    /// Creates an estimator that assumes `initialRTT` until the first sample.
    public init(initialRTT: Duration) {
        self.latest = initialRTT
        self.minimum = initialRTT
        self.smoothed = initialRTT
        self.variation = initialRTT / 2
        self.hasSample = false
    }

    /// Adds a sample: `sample` is the time from sending a packet to receiving its acknowledgement,
    /// `ackDelay` what the peer reported, already capped at its maximum ack delay.
    public mutating func addSample(_ sample: Duration, ackDelay: Duration) {
        let sample = max(sample, .zero)
        self.latest = sample
        guard self.hasSample else {
            self.hasSample = true
            self.minimum = sample
            self.smoothed = sample
            self.variation = sample / 2
            return
        }
        self.minimum = min(self.minimum, sample)
        // Subtract the ack delay only when that cannot make the sample smaller than the minimum.
        var adjusted = sample
        if sample >= self.minimum + ackDelay {
            adjusted = sample - ackDelay
        }
        let deviation = self.smoothed > adjusted ? self.smoothed - adjusted : adjusted - self.smoothed
        self.variation = (self.variation * 3 + deviation) / 4
        self.smoothed = (self.smoothed * 7 + adjusted) / 8
    }

    /// The probe timeout before backoff: `smoothed + max(4 × variation, granularity) + maxAckDelay`.
    public func probeTimeout(maxAckDelay: Duration) -> Duration {
        self.smoothed + max(self.variation * 4, Self.granularity) + maxAckDelay
    }

    /// The time-threshold loss delay: `max(9/8 × max(smoothed, latest), granularity)`.
    public var lossDelay: Duration {
        max(max(self.smoothed, self.latest) * 9 / 8, Self.granularity)
    }
}

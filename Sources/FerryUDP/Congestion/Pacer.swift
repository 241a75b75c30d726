/// A token-bucket pacer: spreads packets at the congestion controller's rate, allowing short bursts.
///
/// The bucket holds 1 ms at the current rate (Linux's TSO autosizing goal), at least two datagrams
/// and at most ``maximumBurst`` bytes, and refills at the pacing rate. Bursts are what a driver hands
/// the kernel as GSO writes (up to 64 KiB each), and they absorb a timer that fires late: on a fast
/// path, a burst of ten datagrams (the earlier bound) is 15 µs of sending, far below a timer's
/// latency, and capped loopback transfers at about 60 % of their unpaced speed. The sender asks
/// ``releaseTime(for:rate:)`` before each ack-eliciting packet and hands that instant to its driver
/// as a deadline; the pacer never sleeps. Bursts let a driver whose timers fire late catch up.
struct Pacer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The most bytes one burst may hold: 1 ms at 1 GiB/s.
    static var maximumBurst: Int { 1 << 20 }
    /// The bytes in the bucket before the first packet: ten datagrams, as a congestion window starts.
    static var initialBurstPackets: Int { 10 }

    /// The size of a full datagram (path MTU discovery may change it).
    var maxDatagramSize: Int
    /// Bytes in the bucket at ``lastUpdate`` (may be negative after unpaced probes).
    private var tokens: Double
    private var lastUpdate: Instant?

    init(maxDatagramSize: Int) {
        self.maxDatagramSize = maxDatagramSize
        self.tokens = Double(Self.initialBurstPackets * maxDatagramSize)
    }

    /// When a packet of `bytes` may leave at `rate` bytes per second, or `nil` if it may leave now.
    func releaseTime(for bytes: Int, rate: Double?) -> Instant? {
        guard let rate, rate > 0, let lastUpdate = self.lastUpdate else {
            return nil
        }
        let tokens = min(self.tokens, Double(self.capacity(rate: rate)))
        guard tokens < Double(bytes) else {
            return nil
        }
        return lastUpdate.advanced(
            by: .transmissionTime(bytes: Int((Double(bytes) - tokens).rounded(.up)), bytesPerSecond: rate)
        )
    }

    /// Takes `bytes` from the bucket for a packet sent at `now`.
    mutating func onPacketSent(bytes: Int, rate: Double?, at now: Instant) {
        guard let rate, rate > 0 else {
            return
        }
        let capacity = Double(self.capacity(rate: rate))
        var tokens = min(self.tokens, capacity)
        if let lastUpdate = self.lastUpdate {
            tokens = min(tokens + rate * max(lastUpdate.duration(to: now).inSeconds, 0), capacity)
        }
        self.tokens = max(tokens - Double(bytes), -capacity)
        self.lastUpdate = now
    }

    private func capacity(rate: Double) -> Int {
        let perMillisecond = Int(min(rate / 1000, Double(Int.max / 2)))
        return max(min(perMillisecond, Self.maximumBurst), 2 * self.maxDatagramSize)
    }
}

/// Loss-based congestion control, NewReno as specified by RFC 9002 §7, kept for comparison with BBR.
///
/// Slow start doubles the window each round trip; every loss episode (losses of packets sent after
/// the previous episode began) halves it; congestion avoidance then adds one datagram per window.
/// Packets are paced at 1.25 × window / smoothed RTT. Random loss halves the window just like
/// congestion does, which is why this controller collapses on lossy links.
public struct NewRenoCongestionController<Instant: InstantProtocol>: CongestionController
where Instant.Duration == Duration {
    private var maxDatagramSize: Int
    public private(set) var congestionWindow: Int
    private var slowStartThreshold = Int.max
    private var recoveryStart: Instant?
    private var smoothedRTT: Duration?
    private var avoidanceCredit = 0

    /// Creates a controller for packets of at most `maxDatagramSize` bytes.
    public init(maxDatagramSize: Int, initialWindowPackets: Int = 10) {
        self.maxDatagramSize = maxDatagramSize
        self.congestionWindow = initialWindowPackets * maxDatagramSize
    }

    public var name: String { "NewReno" }

    public var pacingRate: Double? {
        guard let smoothedRTT, smoothedRTT > .zero else {
            return nil
        }
        return 1.25 * Double(self.congestionWindow) / smoothedRTT.inSeconds
    }

    public mutating func onPacketSent(bytes: Int, bytesInFlight: Int, at now: Instant) {}

    public mutating func onDatagramSizeChanged(_ size: Int) {
        self.maxDatagramSize = size
        self.congestionWindow = max(self.congestionWindow, 2 * size)
    }

    public mutating func onAck(_ event: CongestionAckEvent<Instant>) {
        if event.rtt.hasSample {
            self.smoothedRTT = event.rtt.smoothed
        }
        if let recoveryStart, event.largestAcknowledgedSentTime <= recoveryStart {
            return
        }
        if self.congestionWindow < self.slowStartThreshold {
            self.congestionWindow += event.ackedBytes
            return
        }
        self.avoidanceCredit += event.ackedBytes
        if self.avoidanceCredit >= self.congestionWindow {
            self.avoidanceCredit -= self.congestionWindow
            self.congestionWindow += self.maxDatagramSize
        }
    }

    public mutating func onLoss(_ event: CongestionLossEvent<Instant>) {
        if let recoveryStart, event.largestLostSentTime <= recoveryStart {
            return
        }
        self.recoveryStart = event.now
        self.slowStartThreshold = max(self.congestionWindow / 2, 2 * self.maxDatagramSize)
        self.congestionWindow = self.slowStartThreshold
        self.avoidanceCredit = 0
    }
}

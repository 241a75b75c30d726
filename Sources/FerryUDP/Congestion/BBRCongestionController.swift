/// A model-based congestion controller after BBR (v1, with the loss handling simplified further).
///
/// It keeps a model of the path — the bottleneck bandwidth (the windowed maximum of delivery-rate
/// samples over the last 10 round trips) and the minimum RTT (over the last 10 seconds) — and sends at
/// `pacing gain × bandwidth` with at most `cwnd gain × bandwidth × min RTT` bytes in flight:
///
/// - **startup**: gains 2/ln 2 ≈ 2.89, doubling the rate each round until the bandwidth stops growing by
///   25 % for 3 rounds;
/// - **drain**: pacing gain 1/2.89 until the queue built in startup is gone (in flight ≤ BDP);
/// - **probe bandwidth**: pacing gains cycle through 1.25, 0.75, 1 × 6, one phase per min RTT;
/// - **probe RTT**: when the min RTT was not refreshed for 10 s, 4 packets in flight for 200 ms.
///
/// Loss is not a congestion signal here: a lost packet only removes its bytes from the flight, and
/// delivery-rate samples count what actually arrived. Random loss therefore costs its retransmissions
/// but not the sending rate, while a saturated bottleneck still caps the delivery rate the model sees.
public struct BBRCongestionController<Instant: InstantProtocol>: CongestionController
where Instant.Duration == Duration {
    /// The phase of the state machine.
    public enum Mode: Hashable, Sendable {
        /// Doubling the rate each round trip until the bandwidth stops growing.
        case startup
        /// Emptying the queue startup built.
        case drain
        /// Cruising at the estimated bandwidth, probing for more once per gain cycle.
        case probeBandwidth
        /// Briefly shrinking the flight to measure the minimum RTT again.
        case probeRTT
    }

    static var startupGain: Double { 2.885 }
    static var cwndGain: Double { 2.0 }
    static var pacingGainCycle: [Double] { [1.25, 0.75, 1, 1, 1, 1, 1, 1] }
    static var bandwidthWindowRounds: UInt64 { 10 }
    static var minRTTWindow: Duration { .seconds(10) }
    static var probeRTTDuration: Duration { .milliseconds(200) }
    static var minimumWindowPackets: Int { 4 }
    /// A sanity bound on the window (1 GiB), whatever the samples claim.
    static var maximumWindow: Int { 1 << 30 }

    private var maxDatagramSize: Int
    private let initialWindow: Int
    /// The current phase.
    public private(set) var mode: Mode = .startup
    public private(set) var congestionWindow: Int
    private var pacingRateValue: Double?
    private var bandwidthFilter = WindowedMaxFilter(window: Self.bandwidthWindowRounds)
    private var minRTT: Duration?
    private var minRTTStamp: Instant
    private var smoothedRTT: Duration?
    private var delivered: UInt64 = 0
    private var roundCount: UInt64 = 0
    private var nextRoundDelivered: UInt64 = 0
    private var fullBandwidth: Double = 0
    private var fullBandwidthCount = 0
    private(set) var filledPipe = false
    private var cycleIndex = 0
    private var cycleStamp: Instant
    private var probeRTTDone: Instant?
    private var probeRTTRoundDone = false
    private var savedWindow = 0
    private var pacingGain = Self.startupGain
    private var cwndGain = Self.startupGain

    /// Creates a controller for packets of at most `maxDatagramSize` bytes.
    public init(maxDatagramSize: Int, initialWindowPackets: Int = 10, now: Instant) {
        self.maxDatagramSize = maxDatagramSize
        self.initialWindow = initialWindowPackets * maxDatagramSize
        self.congestionWindow = self.initialWindow
        self.minRTTStamp = now
        self.cycleStamp = now
    }

    public var name: String { "BBR" }

    public var pacingRate: Double? { self.pacingRateValue }

    /// The bottleneck bandwidth estimate in bytes per second (zero before the first sample).
    public var bottleneckBandwidth: Double { self.bandwidthFilter.best }

    public mutating func onPacketSent(bytes: Int, bytesInFlight: Int, at now: Instant) {}

    public mutating func onLoss(_ event: CongestionLossEvent<Instant>) {}

    public mutating func onDatagramSizeChanged(_ size: Int) {
        self.maxDatagramSize = size
        self.congestionWindow = min(max(self.congestionWindow, self.minimumWindow), Self.maximumWindow)
    }

    public mutating func onAck(_ event: CongestionAckEvent<Instant>) {
        self.delivered += UInt64(event.ackedBytes)
        self.smoothedRTT = event.rtt.hasSample ? event.rtt.smoothed : nil
        let roundStart = self.updateRound(event.rateSample)
        if let sample = event.rateSample, !sample.isAppLimited || sample.bytesPerSecond >= self.bandwidthFilter.best {
            self.bandwidthFilter.update(sample.bytesPerSecond, at: self.roundCount)
        }
        if self.mode == .probeBandwidth {
            self.advanceCyclePhase(event)
        }
        if roundStart, let sample = event.rateSample, !sample.isAppLimited {
            self.checkFullPipe()
        }
        if self.mode == .startup, self.filledPipe {
            self.mode = .drain
            self.pacingGain = 1 / Self.startupGain
            self.cwndGain = Self.startupGain
        }
        if self.mode == .drain, Double(event.bytesInFlight) <= self.bandwidthDelayProduct(gain: 1) {
            self.enterProbeBandwidth(at: event.now)
        }
        self.updateMinRTT(event, roundStart: roundStart)
        self.updatePacingRate()
        self.updateWindow(event)
    }

    private mutating func updateRound(_ sample: DeliveryRateSample?) -> Bool {
        guard let sample, sample.priorDelivered >= self.nextRoundDelivered else {
            return false
        }
        self.nextRoundDelivered = self.delivered
        self.roundCount += 1
        return true
    }

    private mutating func checkFullPipe() {
        guard !self.filledPipe else {
            return
        }
        let bandwidth = self.bandwidthFilter.best
        if bandwidth >= self.fullBandwidth * 1.25 {
            self.fullBandwidth = bandwidth
            self.fullBandwidthCount = 0
            return
        }
        self.fullBandwidthCount += 1
        if self.fullBandwidthCount >= 3 {
            self.filledPipe = true
        }
    }

    private mutating func enterProbeBandwidth(at now: Instant) {
        self.mode = .probeBandwidth
        self.cwndGain = Self.cwndGain
        // Start in a random-ish phase other than the draining one, as BBR does; the round count suffices.
        self.cycleIndex = Int(self.roundCount % 7) + 1
        if self.cycleIndex == 1 {
            self.cycleIndex = 2
        }
        self.cycleStamp = now
        self.pacingGain = Self.pacingGainCycle[self.cycleIndex]
    }

    private mutating func advanceCyclePhase(_ event: CongestionAckEvent<Instant>) {
        guard let minRTT = self.minRTT else {
            return
        }
        let elapsed = self.cycleStamp.duration(to: event.now) > minRTT
        let bdp = self.bandwidthDelayProduct(gain: 1)
        let shouldAdvance: Bool
        switch self.pacingGain {
        case let gain where gain > 1:
            // Probe until the extra data is in flight (or losses show it is not getting through).
            shouldAdvance = elapsed && Double(event.bytesInFlight) >= bdp * gain
        case let gain where gain < 1:
            shouldAdvance = elapsed || Double(event.bytesInFlight) <= bdp
        default:
            shouldAdvance = elapsed
        }
        if shouldAdvance || self.cycleStamp.duration(to: event.now) > minRTT * 2 {
            self.cycleIndex = (self.cycleIndex + 1) % Self.pacingGainCycle.count
            self.cycleStamp = event.now
            self.pacingGain = Self.pacingGainCycle[self.cycleIndex]
        }
    }

    private mutating func updateMinRTT(_ event: CongestionAckEvent<Instant>, roundStart: Bool) {
        let sample = event.rateSample?.rtt ?? event.rtt.latest
        let expired = self.minRTTStamp.duration(to: event.now) > Self.minRTTWindow
        if self.minRTT.map({ sample <= $0 }) ?? true || expired {
            self.minRTT = sample
            self.minRTTStamp = event.now
        }
        if expired, self.mode != .probeRTT {
            self.mode = .probeRTT
            self.pacingGain = 1
            self.cwndGain = 1
            self.savedWindow = max(self.savedWindow, self.congestionWindow)
            self.probeRTTDone = nil
            self.probeRTTRoundDone = false
        }
        guard self.mode == .probeRTT else {
            return
        }
        if self.probeRTTDone == nil, event.bytesInFlight <= self.minimumWindow {
            self.probeRTTDone = event.now.advanced(by: Self.probeRTTDuration)
            self.nextRoundDelivered = self.delivered
        } else if let done = self.probeRTTDone {
            if roundStart {
                self.probeRTTRoundDone = true
            }
            if self.probeRTTRoundDone, event.now >= done {
                self.minRTTStamp = event.now
                self.congestionWindow = max(self.congestionWindow, self.savedWindow)
                self.savedWindow = 0
                if self.filledPipe {
                    self.enterProbeBandwidth(at: event.now)
                } else {
                    self.mode = .startup
                    self.pacingGain = Self.startupGain
                    self.cwndGain = Self.startupGain
                }
            }
        }
    }

    private mutating func updatePacingRate() {
        let bandwidth = self.bandwidthFilter.best
        let rate: Double
        if bandwidth > 0 {
            rate = self.pacingGain * bandwidth
        } else if let smoothedRTT, smoothedRTT > .zero {
            rate = self.pacingGain * Double(self.congestionWindow) / smoothedRTT.inSeconds
        } else {
            return
        }
        // Until the pipe is full, the rate only grows.
        if self.filledPipe || rate > (self.pacingRateValue ?? 0) {
            self.pacingRateValue = rate
        }
    }

    private mutating func updateWindow(_ event: CongestionAckEvent<Instant>) {
        if self.mode == .probeRTT {
            self.congestionWindow = self.minimumWindow
            return
        }
        var target = self.initialWindow
        if self.bandwidthFilter.best > 0 {
            let bdp = min(self.bandwidthDelayProduct(gain: self.cwndGain), Double(Self.maximumWindow))
            target = Int(bdp) + 3 * self.sendQuantum
        }
        if self.filledPipe {
            self.congestionWindow = min(self.congestionWindow + event.ackedBytes, target)
        } else if self.congestionWindow < target || self.delivered < UInt64(self.initialWindow) {
            self.congestionWindow += event.ackedBytes
        }
        self.congestionWindow = min(max(self.congestionWindow, self.minimumWindow), Self.maximumWindow)
    }

    /// What the pacer releases at once: about 1 ms at the pacing rate, between one datagram and
    /// 64 KiB (Linux BBR's TSO goal). Three of them on top of the BDP keep enough in flight on very
    /// short paths (loopback: a BDP of a few datagrams) that a lost datagram is found by the packets
    /// after it, not by a probe timeout, and that delayed ACKs cannot starve the window.
    private var sendQuantum: Int {
        let perMillisecond = Int((self.pacingRateValue ?? 0) / 1000)
        return min(max(perMillisecond, self.maxDatagramSize), 64 * 1024)
    }

    private var minimumWindow: Int {
        Self.minimumWindowPackets * self.maxDatagramSize
    }

    private func bandwidthDelayProduct(gain: Double) -> Double {
        guard let minRTT = self.minRTT else {
            return Double(self.initialWindow)
        }
        return gain * self.bandwidthFilter.best * minRTT.inSeconds
    }
}

import NIOCore

/// Sent-packet tracking, loss detection and probe timeouts as specified by RFC 9002 §6.
///
/// Packets are remembered in packet-number order (numbers are never reused, so a packet's slot is
/// `packetNumber - base`). A packet is declared lost when a packet sent at least
/// ``packetThreshold`` numbers later is acknowledged, or when it was sent more than 9/8 RTT before an
/// acknowledged later packet. When nothing is acknowledged for a probe timeout (PTO), the owner
/// sends probes; each unanswered PTO doubles the next one, up to a cap.
struct LossRecovery<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The outcome of processing one ACK frame.
    struct AckOutcome {
        var acknowledged: [SentPacket<Instant>] = []
        var lost: [SentPacket<Instant>] = []
        /// Whether this ACK produced an RTT sample.
        var rttUpdated = false
        /// The send time of the newest acknowledged packet.
        var largestAcknowledgedSentTime: Instant?
        /// The delivery-rate sample, for congestion control.
        var rateSample: DeliveryRateSample?
    }

    /// The timer a ``LossRecovery`` wants armed.
    enum Timer: Equatable {
        /// Time-threshold loss detection of packets not yet old enough.
        case lossDetection(Instant)
        /// The probe timeout.
        case probeTimeout(Instant)

        var deadline: Instant {
            switch self {
            case .lossDetection(let instant), .probeTimeout(let instant): instant
            }
        }
    }

    /// RFC 9002 `kPacketThreshold`.
    static var packetThreshold: UInt64 { 3 }

    private(set) var rtt: RTTEstimator
    private(set) var rate: DeliveryRateEstimator<Instant>
    private let maxAckDelay: Duration
    /// Slot `i` holds packet number `base + i`; `nil` once acknowledged, lost or not tracked.
    private var slots = CircularBuffer<SentPacket<Instant>?>(initialCapacity: 64)
    private var base: UInt64 = 0
    /// Bytes of ack-eliciting packets neither acknowledged nor lost.
    private(set) var bytesInFlight = 0
    private(set) var ackElicitingInFlight = 0
    private(set) var largestAcknowledged: UInt64?
    private var lossTime: Instant?
    private var timeOfLastAckEliciting: Instant?
    /// Consecutive probe timeouts without an acknowledgement.
    private(set) var probeCount = 0

    /// The longest a backed-off probe timeout may grow (never below the un-backed-off PTO).
    private let maximumBackoff: Duration

    /// - Parameter maximumBackoff: caps the exponential backoff so that probes keep going at least
    ///   this often; the connection passes a third of its idle timeout, so a path that comes back is
    ///   noticed before the connection gives up.
    init(initialRTT: Duration, maxAckDelay: Duration, maximumBackoff: Duration = .seconds(60), now: Instant) {
        self.rtt = RTTEstimator(initialRTT: initialRTT)
        self.rate = DeliveryRateEstimator(now: now)
        self.maxAckDelay = maxAckDelay
        self.maximumBackoff = maximumBackoff
    }

    /// Adds an RTT sample measured outside the ACKs (the handshake's round trip).
    mutating func addRTTSample(_ sample: Duration) {
        self.rtt.addSample(sample, ackDelay: .zero)
    }

    /// The packets still in flight, oldest first.
    var inFlight: [SentPacket<Instant>] {
        self.slots.compactMap { $0 }
    }

    /// Stamps and records a packet at send time. Packet numbers must increase by one per call.
    mutating func onPacketSent(
        packetNumber: UInt64,
        size: Int,
        isAckEliciting: Bool,
        frames: SentFrames,
        at now: Instant
    ) {
        if self.slots.isEmpty {
            self.base = packetNumber
        }
        precondition(packetNumber == self.base + UInt64(self.slots.count), "packet numbers must be consecutive")
        guard isAckEliciting else {
            self.slots.append(nil)
            self.trimFront()
            return
        }
        let state = self.rate.onPacketSent(at: now, bytesInFlightBefore: self.bytesInFlight)
        let packet = SentPacket(
            packetNumber: packetNumber,
            timeSent: now,
            size: size,
            isAckEliciting: true,
            frames: frames,
            rateState: state
        )
        self.slots.append(packet)
        self.bytesInFlight += size
        self.ackElicitingInFlight += 1
        self.timeOfLastAckEliciting = now
    }

    /// Records that the sender is short of data while the congestion window has room.
    mutating func markAppLimited() {
        self.rate.markAppLimited(bytesInFlight: self.bytesInFlight)
    }

    /// Processes an ACK frame.
    ///
    /// - Parameter nextPacketNumber: the number the owner will use next; acknowledging any number at
    ///   or above it is a protocol violation, since that packet was never sent.
    mutating func onAck(
        _ frame: UDPAckFrame,
        nextPacketNumber: UInt64,
        handshakeConfirmed: Bool,
        at now: Instant
    ) throws(FerryUDPError) -> AckOutcome {
        guard frame.largestAcknowledged < nextPacketNumber else {
            throw FerryUDPError(.protocolViolation, reason: "ACK of a packet never sent")
        }
        var outcome = AckOutcome()
        outcome.acknowledged.reserveCapacity(self.acknowledgeableCount(frame))
        self.largestAcknowledged = max(self.largestAcknowledged ?? 0, frame.largestAcknowledged)
        for range in frame.ranges {
            guard !self.slots.isEmpty, range.upperBound >= self.base else {
                break
            }
            let low = max(range.lowerBound, self.base)
            let high = min(range.upperBound, self.base + UInt64(self.slots.count) - 1)
            guard low <= high else {
                continue
            }
            for packetNumber in stride(from: high, through: low, by: -1) {
                if let packet = self.remove(packetNumber) {
                    outcome.acknowledged.append(packet)
                }
            }
        }
        guard !outcome.acknowledged.isEmpty else {
            return outcome
        }
        // The first element is the highest newly acknowledged packet (ranges are descending).
        let newest = outcome.acknowledged[0]
        outcome.largestAcknowledgedSentTime = newest.timeSent
        if newest.packetNumber == frame.largestAcknowledged {
            let delay =
                handshakeConfirmed
                ? min(Duration.microseconds(Int64(frame.ackDelayMicroseconds)), self.maxAckDelay) : .zero
            self.rtt.addSample(newest.timeSent.duration(to: now), ackDelay: delay)
            outcome.rttUpdated = true
        }
        for packet in outcome.acknowledged.reversed() {
            self.rate.onPacketAcked(packet, at: now)
        }
        outcome.rateSample = self.rate.takeSample(minimumRTT: self.rtt.minimum)
        outcome.lost = self.detectLostPackets(at: now)
        self.probeCount = 0
        self.trimFront()
        return outcome
    }

    /// At most how many tracked packets `frame` acknowledges: sizing the outcome's array up front
    /// takes one allocation per ACK instead of one per doubling.
    private func acknowledgeableCount(_ frame: UDPAckFrame) -> Int {
        guard !self.slots.isEmpty else {
            return 0
        }
        let last = self.base + UInt64(self.slots.count) - 1
        var count: UInt64 = 0
        for range in frame.ranges where range.upperBound >= self.base && range.lowerBound <= last {
            count += min(range.upperBound, last) - max(range.lowerBound, self.base) + 1
        }
        return Int(min(count, UInt64(self.ackElicitingInFlight)))
    }

    /// Runs when the loss-detection timer fires: returns the packets now lost, or `nil` when the timer
    /// was a probe timeout (the backoff is then increased and the owner must send probes).
    mutating func onTimeout(at now: Instant) -> [SentPacket<Instant>]? {
        if self.lossTime != nil {
            let lost = self.detectLostPackets(at: now)
            self.trimFront()
            return lost
        }
        self.probeCount += 1
        return nil
    }

    /// The timer to arm, if any.
    var timer: Timer? {
        if let lossTime = self.lossTime {
            return .lossDetection(lossTime)
        }
        guard self.ackElicitingInFlight > 0, let last = self.timeOfLastAckEliciting else {
            return nil
        }
        let timeout = self.probeTimeout
        let backedOff = timeout * (Int64(1) << Int64(min(self.probeCount, 16)))
        return .probeTimeout(last.advanced(by: min(backedOff, max(timeout, self.maximumBackoff))))
    }

    /// The current probe timeout without backoff.
    var probeTimeout: Duration {
        self.rtt.probeTimeout(maxAckDelay: self.maxAckDelay)
    }

    /// Forgets every packet in flight without declaring it lost or acknowledged (used when a RETRY
    /// makes the client's first INITIALs moot). If `now` is given and exactly one packet was in
    /// flight, the answer is unambiguous and its round trip becomes an RTT sample (Karn's rule).
    mutating func discardAll(rttSampleAt now: Instant?) {
        let inFlight = self.slots.compactMap { $0 }
        if let now, inFlight.count == 1 {
            self.rtt.addSample(inFlight[0].timeSent.duration(to: now), ackDelay: .zero)
        }
        for index in self.slots.indices {
            self.slots[index] = nil
        }
        self.bytesInFlight = 0
        self.ackElicitingInFlight = 0
        self.lossTime = nil
        self.probeCount = 0
        self.trimFront()
    }

    /// The frames of the oldest packet in flight, for a probe that has nothing new to carry.
    var oldestInFlightFrames: SentFrames {
        for case let packet? in self.slots {
            return packet.frames
        }
        return []
    }

    private mutating func detectLostPackets(at now: Instant) -> [SentPacket<Instant>] {
        self.lossTime = nil
        guard let largest = self.largestAcknowledged, !self.slots.isEmpty, largest >= self.base else {
            return []
        }
        let lossDelay = self.rtt.lossDelay
        let lostSendTime = now.advanced(by: .zero - lossDelay)
        var lost: [SentPacket<Instant>] = []
        let last = min(largest, self.base + UInt64(self.slots.count) - 1)
        var packetNumber = self.base
        while packetNumber <= last {
            if let packet = self.slots[self.slotIndex(packetNumber)] {
                if packet.timeSent <= lostSendTime || largest - packetNumber >= Self.packetThreshold {
                    lost.append(self.remove(packetNumber)!)
                } else {
                    let deadline = packet.timeSent.advanced(by: lossDelay)
                    self.lossTime = Instant.earliest(self.lossTime, deadline)
                }
            }
            packetNumber += 1
        }
        return lost
    }

    private func slotIndex(_ packetNumber: UInt64) -> CircularBuffer<SentPacket<Instant>?>.Index {
        self.slots.index(self.slots.startIndex, offsetBy: Int(packetNumber - self.base))
    }

    private mutating func remove(_ packetNumber: UInt64) -> SentPacket<Instant>? {
        let index = self.slotIndex(packetNumber)
        guard let packet = self.slots[index] else {
            return nil
        }
        self.slots[index] = nil
        self.bytesInFlight -= packet.size
        self.ackElicitingInFlight -= 1
        return packet
    }

    private mutating func trimFront() {
        while let first = self.slots.first, first == nil {
            self.slots.removeFirst()
            self.base += 1
        }
    }
}

/// Receive-side acknowledgement state: which packet numbers arrived and when an ACK is owed.
///
/// Follows RFC 9000 §13.2: an ACK is sent at once after ``threshold`` ack-eliciting packets, or when
/// a packet arrives out of order (which speeds up the sender's loss detection); otherwise within
/// the maximum ack delay. Non-ack-eliciting packets are recorded but never trigger an ACK.
struct AckTracker<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    private(set) var received = AckRangeSet()
    private let threshold: Int
    private let maxAckDelay: Duration
    private var largestReceivedAt: Instant?
    private var unacknowledgedAckEliciting = 0
    private var delayedDeadline: Instant?
    private var immediate = false

    init(threshold: Int, maxAckDelay: Duration) {
        self.threshold = threshold
        self.maxAckDelay = maxAckDelay
    }

    /// Whether `packetNumber` was already processed (or is too old to tell).
    func isDuplicate(_ packetNumber: UInt64) -> Bool {
        self.received.isDuplicate(packetNumber)
    }

    /// Records a packet that was processed.
    mutating func onPacketReceived(_ packetNumber: UInt64, isAckEliciting: Bool, at now: Instant) {
        let previousLargest = self.received.largest
        guard self.received.insert(packetNumber) else {
            return
        }
        let inOrder = previousLargest.map { packetNumber == $0 + 1 } ?? true
        if previousLargest.map({ packetNumber > $0 }) ?? true {
            self.largestReceivedAt = now
        }
        guard isAckEliciting else {
            return
        }
        self.unacknowledgedAckEliciting += 1
        if !inOrder || self.unacknowledgedAckEliciting >= self.threshold {
            self.immediate = true
        } else if self.delayedDeadline == nil {
            self.delayedDeadline = now.advanced(by: self.maxAckDelay)
        }
    }

    /// Whether an ACK must be sent now.
    func isDue(at now: Instant) -> Bool {
        self.immediate || self.delayedDeadline.map { $0 <= now } ?? false
    }

    /// Whether an ACK is owed at all (worth adding to any packet being sent).
    var isPending: Bool {
        self.unacknowledgedAckEliciting > 0
    }

    /// When a delayed ACK falls due, if one is waiting.
    var deadline: Instant? {
        self.delayedDeadline
    }

    /// Builds an ACK frame of the most recent ranges and resets the owed state; `nil` before any
    /// packet was received.
    mutating func makeFrame(at now: Instant) -> UDPAckFrame? {
        let ranges = self.received.descendingRanges()
        guard !ranges.isEmpty, let largestReceivedAt = self.largestReceivedAt else {
            return nil
        }
        self.unacknowledgedAckEliciting = 0
        self.delayedDeadline = nil
        self.immediate = false
        return UDPAckFrame(
            ranges: ranges,
            ackDelayMicroseconds: largestReceivedAt.duration(to: now).clampedMicroseconds
        )
    }
}

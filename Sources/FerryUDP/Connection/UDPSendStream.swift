/// The sender's view of the byte range it serves: what was sent, acknowledged, lost, and how far the
/// receiver's credit reaches.
///
/// New data goes out in offset order up to `min(end, credit)`; lost ranges that were not meanwhile
/// acknowledged (through another copy) go out again first, lowest offset first.
struct UDPSendStream: Hashable, Sendable {
    /// The first byte to send.
    let start: UInt64
    /// One past the last byte to send.
    let end: UInt64
    /// The next byte never sent.
    private(set) var nextOffset: UInt64
    /// The receiver's credit: no byte at or above it may be sent.
    private(set) var credit: UInt64
    private var acknowledged = IntervalSet()
    private var retransmissions = IntervalSet()

    init(start: UInt64, end: UInt64) {
        self.start = start
        self.end = end
        self.nextOffset = start
        self.credit = start
    }

    /// Raises the credit (a MAX_DATA frame); smaller values are ignored.
    mutating func raiseCredit(to offset: UInt64) {
        self.credit = max(self.credit, offset)
    }

    /// Whether a STREAM frame could be sent now.
    var hasDataToSend: Bool {
        !self.retransmissions.isEmpty || self.nextOffset < min(self.end, self.credit)
    }

    /// Where the next STREAM frame would start: the first retransmission, else new data within
    /// the credit; `nil` when there is nothing to send.
    var nextOffsetToSend: UInt64? {
        if let lost = self.retransmissions.first {
            return lost.lowerBound
        }
        return self.nextOffset < min(self.end, self.credit) ? self.nextOffset : nil
    }

    /// Whether unsent data waits only for credit.
    var isBlockedByCredit: Bool {
        self.retransmissions.isEmpty && self.nextOffset < self.end && self.nextOffset >= self.credit
    }

    /// Whether the receiver acknowledged every byte.
    var isFullyAcknowledged: Bool {
        self.acknowledged.contains(self.start..<self.end)
    }

    /// Takes the next range to send, at most `maxLength` bytes: a retransmission if any, else new data.
    mutating func nextChunk(maxLength: Int) -> (range: Range<UInt64>, isRetransmission: Bool)? {
        guard maxLength > 0 else {
            return nil
        }
        if let lost = self.retransmissions.first {
            let chunk = lost.lowerBound..<min(lost.upperBound, lost.lowerBound + UInt64(maxLength))
            self.retransmissions.remove(chunk)
            return (chunk, true)
        }
        let limit = min(self.end, self.credit)
        guard self.nextOffset < limit else {
            return nil
        }
        let chunk = self.nextOffset..<min(limit, self.nextOffset + UInt64(maxLength))
        self.nextOffset = chunk.upperBound
        return (chunk, false)
    }

    /// Records that a range arrived.
    mutating func onAcknowledged(_ range: Range<UInt64>) {
        self.acknowledged.insert(range)
        self.retransmissions.remove(range)
    }

    /// Schedules the unacknowledged parts of a lost range for retransmission.
    mutating func onLost(_ range: Range<UInt64>) {
        for gap in self.acknowledged.gaps(in: range) {
            self.retransmissions.insert(gap)
        }
    }
}

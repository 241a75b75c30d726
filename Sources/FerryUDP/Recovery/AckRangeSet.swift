/// The packet numbers an endpoint received, bounded to a fixed number of ranges.
///
/// When a new range would exceed ``maximumRanges``, the lowest range is forgotten and every packet
/// number below the new lowest range is treated as already received: a very late packet is then
/// dropped unacknowledged and its content is retransmitted by the peer, which is always safe.
struct AckRangeSet: Hashable, Sendable {
    /// The most ranges remembered (the protocol's memory bound per connection).
    let maximumRanges: Int
    private var received = IntervalSet()
    /// Packet numbers below this are considered duplicates.
    private(set) var floor: UInt64 = 0

    init(maximumRanges: Int = 256) {
        precondition(maximumRanges >= UDPWireLimits.maximumAckRanges)
        self.maximumRanges = maximumRanges
    }

    /// The number of disjoint ranges held.
    var rangeCount: Int {
        self.received.rangeCount
    }

    /// The largest packet number received.
    var largest: UInt64? {
        self.received.last.map { $0.upperBound - 1 }
    }

    /// Whether `packetNumber` was received before (or is too old to tell).
    func isDuplicate(_ packetNumber: UInt64) -> Bool {
        packetNumber < self.floor || self.received.contains(packetNumber)
    }

    /// Records `packetNumber`; returns `false` when it was a duplicate.
    mutating func insert(_ packetNumber: UInt64) -> Bool {
        guard packetNumber < UInt64.max, !self.isDuplicate(packetNumber) else {
            return false
        }
        self.received.insert(packetNumber..<(packetNumber + 1))
        while self.received.rangeCount > self.maximumRanges, let dropped = self.received.removeFirst() {
            self.floor = dropped.upperBound
        }
        return true
    }

    /// The highest ranges, descending and inclusive, as an ACK frame carries them.
    func descendingRanges(limit: Int = UDPWireLimits.maximumAckRanges) -> [ClosedRange<UInt64>] {
        self.received.ranges.suffix(limit).reversed().map { $0.lowerBound...($0.upperBound - 1) }
    }
}

/// A set of `UInt64` values stored as sorted, disjoint, non-adjacent half-open ranges.
///
/// Used for byte offsets (which parts of a file were acknowledged or must be sent again) and, through
/// ``AckRangeSet``, for packet numbers. Lookups are binary searches; adjacent ranges are merged.
struct IntervalSet: Hashable, Sendable {
    /// The ranges in ascending order; none is empty, none touches the next.
    private(set) var ranges: [Range<UInt64>] = []

    /// Whether the set holds no value.
    var isEmpty: Bool {
        self.ranges.isEmpty
    }

    /// The number of disjoint ranges.
    var rangeCount: Int {
        self.ranges.count
    }

    /// The lowest range.
    var first: Range<UInt64>? {
        self.ranges.first
    }

    /// The highest range.
    var last: Range<UInt64>? {
        self.ranges.last
    }

    /// Whether `value` is in the set.
    func contains(_ value: UInt64) -> Bool {
        let index = self.firstIndex(endingAfter: value)
        return index < self.ranges.count && self.ranges[index].lowerBound <= value
    }

    /// Whether every value of `range` is in the set.
    func contains(_ range: Range<UInt64>) -> Bool {
        guard !range.isEmpty else {
            return true
        }
        let index = self.firstIndex(endingAfter: range.lowerBound)
        return index < self.ranges.count && self.ranges[index].lowerBound <= range.lowerBound
            && self.ranges[index].upperBound >= range.upperBound
    }

    /// Adds every value of `range`.
    mutating func insert(_ range: Range<UInt64>) {
        guard !range.isEmpty else {
            return
        }
        // Fast path: appending at or after the end, the common case for in-order traffic.
        if let last = self.ranges.last, range.lowerBound >= last.lowerBound {
            if range.lowerBound <= last.upperBound {
                self.ranges[self.ranges.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
                return
            }
            self.ranges.append(range)
            return
        }
        // First range that touches or follows `range` (its end reaches `range.lowerBound`).
        var start = self.firstIndex(endingAfter: range.lowerBound)
        if start > 0, self.ranges[start - 1].upperBound == range.lowerBound {
            start -= 1
        }
        var end = start
        var merged = range
        while end < self.ranges.count, self.ranges[end].lowerBound <= merged.upperBound {
            merged =
                min(
                    merged.lowerBound,
                    self.ranges[end].lowerBound
                )..<max(merged.upperBound, self.ranges[end].upperBound)
            end += 1
        }
        self.ranges.replaceSubrange(start..<end, with: CollectionOfOne(merged))
    }

    /// Removes every value of `range`.
    mutating func remove(_ range: Range<UInt64>) {
        guard !range.isEmpty else {
            return
        }
        let start = self.firstIndex(endingAfter: range.lowerBound)
        var end = start
        var replacement: [Range<UInt64>] = []
        while end < self.ranges.count, self.ranges[end].lowerBound < range.upperBound {
            let existing = self.ranges[end]
            if existing.lowerBound < range.lowerBound {
                replacement.append(existing.lowerBound..<range.lowerBound)
            }
            if existing.upperBound > range.upperBound {
                replacement.append(range.upperBound..<existing.upperBound)
            }
            end += 1
        }
        if start < end {
            self.ranges.replaceSubrange(start..<end, with: replacement)
        }
    }

    /// Removes and returns the lowest range.
    mutating func removeFirst() -> Range<UInt64>? {
        self.ranges.isEmpty ? nil : self.ranges.removeFirst()
    }

    /// The parts of `range` that are *not* in the set, ascending.
    func gaps(in range: Range<UInt64>) -> [Range<UInt64>] {
        var result: [Range<UInt64>] = []
        var cursor = range.lowerBound
        var index = self.firstIndex(endingAfter: range.lowerBound)
        while cursor < range.upperBound {
            guard index < self.ranges.count, self.ranges[index].lowerBound < range.upperBound else {
                result.append(cursor..<range.upperBound)
                break
            }
            let existing = self.ranges[index]
            if existing.lowerBound > cursor {
                result.append(cursor..<existing.lowerBound)
            }
            cursor = max(cursor, existing.upperBound)
            index += 1
        }
        return result
    }

    /// The index of the first range whose upper bound is greater than `value`.
    private func firstIndex(endingAfter value: UInt64) -> Int {
        var low = 0
        var high = self.ranges.count
        while low < high {
            let middle = (low + high) / 2
            if self.ranges[middle].upperBound <= value {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }
}

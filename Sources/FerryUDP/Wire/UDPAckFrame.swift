import NIOCore

/// An ACK frame: the packet numbers received, as up to 32 selective (SACK) ranges, plus the ack delay.
///
/// ```
///  0      1..4            5            6..13          14..21         (16 bytes per further range)
/// +------+---------------+------------+--------------+--------------+-----
/// | 0x02 | ack delay u32 | count u8   | largest u64  | smallest u64 | …
/// |      | microseconds  | 1…32       | of range 1   | of range 1   |
/// +------+---------------+------------+--------------+--------------+-----
/// ```
///
/// Ranges are inclusive and listed from the highest packet numbers down; each range's smallest is
/// ≤ its largest, and a range's largest is at least 2 below the previous range's smallest (ranges
/// neither overlap nor touch). The first range's largest is the largest packet number acknowledged,
/// and the ack delay is the time its receiver held it before sending this frame.
public struct UDPAckFrame: Hashable, Sendable {
    /// The acknowledged packet numbers, descending and disjoint; never empty.
    public let ranges: [ClosedRange<UInt64>]
    /// How long the largest acknowledged packet waited at the receiver, in microseconds.
    public let ackDelayMicroseconds: UInt32

    /// Creates a frame from descending, disjoint, non-adjacent ranges, or `nil` if they are not.
    public init?(ranges: [ClosedRange<UInt64>], ackDelayMicroseconds: UInt32) {
        guard Self.areValid(ranges) else {
            return nil
        }
        self.ranges = ranges
        self.ackDelayMicroseconds = ackDelayMicroseconds
    }

    /// The largest packet number acknowledged.
    public var largestAcknowledged: UInt64 {
        self.ranges[0].upperBound
    }

    /// The encoded size in bytes.
    public var encodedLength: Int {
        Self.encodedLength(rangeCount: self.ranges.count)
    }

    /// The encoded size of an ACK frame with `rangeCount` ranges.
    public static func encodedLength(rangeCount: Int) -> Int {
        1 + 4 + 1 + 16 * rangeCount
    }

    static func areValid(_ ranges: [ClosedRange<UInt64>]) -> Bool {
        guard !ranges.isEmpty, ranges.count <= UDPWireLimits.maximumAckRanges else {
            return false
        }
        var previous: ClosedRange<UInt64>? = nil
        for range in ranges {
            if let previous {
                // `previous.lowerBound - range.upperBound >= 2`, written so that it cannot overflow.
                guard range.upperBound < previous.lowerBound, previous.lowerBound - range.upperBound >= 2 else {
                    return false
                }
            }
            previous = range
        }
        return true
    }
}

extension ByteBuffer {
    /// Reads the body of an ACK frame (after its type byte).
    mutating func readUDPAckFrameBody() throws -> UDPAckFrame {
        guard let delay = self.readInteger(as: UInt32.self), let count = self.readInteger(as: UInt8.self) else {
            throw FerryUDPError.malformed("truncated ACK")
        }
        guard count >= 1, Int(count) <= UDPWireLimits.maximumAckRanges else {
            throw FerryUDPError.malformed("ACK range count \(count) out of bounds")
        }
        guard self.readableBytes >= Int(count) * 16 else {
            throw FerryUDPError.malformed("truncated ACK ranges")
        }
        var ranges: [ClosedRange<UInt64>] = []
        ranges.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let largest = self.readInteger(as: UInt64.self), let smallest = self.readInteger(as: UInt64.self),
                smallest <= largest
            else {
                throw FerryUDPError.malformed("inverted ACK range")
            }
            ranges.append(smallest...largest)
        }
        guard let frame = UDPAckFrame(ranges: ranges, ackDelayMicroseconds: delay) else {
            throw FerryUDPError.malformed("ACK ranges overlap or are not descending")
        }
        return frame
    }

    /// Writes an ACK frame, type byte included; returns the number of bytes written.
    @discardableResult
    mutating func writeUDPAckFrame(_ frame: UDPAckFrame) -> Int {
        var written = self.writeInteger(UDPFrameType.ack.rawValue)
        written += self.writeInteger(frame.ackDelayMicroseconds)
        written += self.writeInteger(UInt8(frame.ranges.count))
        for range in frame.ranges {
            written += self.writeInteger(range.upperBound)
            written += self.writeInteger(range.lowerBound)
        }
        return written
    }
}

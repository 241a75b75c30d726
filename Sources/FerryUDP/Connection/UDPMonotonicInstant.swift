import NIOCore

/// An instant of the monotonic clock in whole nanoseconds: the `Instant` the NIO drivers run the state
/// machines with.
///
/// Why not `ContinuousClock.Instant`: the standard library does not freeze its layout, so every
/// struct that stores one (sent packets, rate samples, the recovery and congestion state) has a size
/// unknown at compile time even in specialized code. Each copy, optional check and comparison of
/// those structs then goes through value-witness calls and runtime metadata lookups, which showed up
/// as several percent of a busy sender's profile. This type is a plain `Int64`, so the specialized
/// state machines are laid out statically.
///
/// Its values count from an arbitrary origin (the system's uptime, as NIO's timers do), so instants
/// are only comparable within one process.
public struct UDPMonotonicInstant: InstantProtocol, Sendable {
    public typealias Duration = Swift.Duration

    /// Nanoseconds since the clock's origin.
    public var nanoseconds: Int64

    /// Creates the instant `nanoseconds` after the clock's origin.
    @inlinable
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// The current instant.
    @inlinable
    public static var now: Self {
        Self(nanoseconds: Int64(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds))
    }

    @inlinable
    public func advanced(by duration: Swift.Duration) -> Self {
        let (sum, overflow) = self.nanoseconds.addingReportingOverflow(duration.wholeNanoseconds)
        guard !overflow else {
            return Self(nanoseconds: duration > .zero ? .max : .min)
        }
        return Self(nanoseconds: sum)
    }

    @inlinable
    public func duration(to other: Self) -> Swift.Duration {
        let (difference, overflow) = other.nanoseconds.subtractingReportingOverflow(self.nanoseconds)
        guard !overflow else {
            return .nanoseconds(other.nanoseconds > self.nanoseconds ? Int64.max : Int64.min)
        }
        return .nanoseconds(difference)
    }

    @inlinable
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }
}

extension Duration {
    /// The duration in whole nanoseconds (rounded toward zero), saturating at the `Int64` bounds.
    @inlinable
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else {
            return seconds > 0 ? .max : .min
        }
        let (total, sumOverflow) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        guard !sumOverflow else {
            return seconds > 0 ? .max : .min
        }
        return total
    }
}

extension Duration {
    /// The duration as a floating-point number of seconds.
    var inSeconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// The duration in whole microseconds, clamped to `0...UInt32.max` (the ACK delay field).
    var clampedMicroseconds: UInt32 {
        let (seconds, attoseconds) = self.components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else {
            return 0
        }
        let micros = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !micros.overflow else {
            return UInt32.max
        }
        let total = micros.partialValue + attoseconds / 1_000_000_000_000
        return UInt32(clamping: total)
    }

    /// The time needed to carry `bytes` at `bytesPerSecond`.
    static func transmissionTime(bytes: Int, bytesPerSecond: Double) -> Duration {
        // Rates come from a peer-influenced model: keep the result finite and at most an hour.
        guard bytesPerSecond > 0, bytesPerSecond.isFinite else {
            return .seconds(1)
        }
        let nanoseconds = min((Double(bytes) / bytesPerSecond * 1e9).rounded(.up), 3.6e12)
        return .nanoseconds(Int64(nanoseconds))
    }
}

extension InstantProtocol where Duration == Swift.Duration {
    /// The later of two instants.
    static func latest(_ lhs: Self, _ rhs: Self) -> Self {
        lhs < rhs ? rhs : lhs
    }

    /// The earliest of the non-nil instants, or `nil` when all are `nil`.
    public static func earliest(_ instants: Self?...) -> Self? {
        var result: Self? = nil
        for case let instant? in instants where result.map({ instant < $0 }) ?? true {
            result = instant
        }
        return result
    }
}

import FerryWire

/// What downloaders reported about one holder session (`REPORT`), and the rank it gives the holder
/// in `SEND` replies.
///
/// Each reporting address has one say: its latest verdict. A holder is *failing* while more reporters
/// say it failed than say it served; it then sinks below every holder that is not, until it serves
/// again (a reporter's `OK` replaces its own `FAILED`, and a new session starts with no reports).
/// Among holders that are not failing, the faster rank first by *speed class*, a power of two of its
/// reported bytes per second; a holder nobody has reported on ranks as 1 MiB/s, so a new holder is
/// tried before slow known ones and after fast ones. Equal ranks keep the order peers connected.
///
/// Bounded: at most ``maximumReporters`` verdicts per holder, the oldest dropped first.
public struct HolderHealth: Sendable, Equatable {
    /// A holder's place in a `SEND` reply: smaller ranks first.
    public struct Rank: Comparable, Sendable, Hashable {
        public var isFailing: Bool
        /// ⌊log₂(bytes per second)⌋, or ``HolderHealth/unknownSpeedClass``.
        public var speedClass: Int

        public init(isFailing: Bool, speedClass: Int) {
            self.isFailing = isFailing
            self.speedClass = speedClass
        }

        public static func < (lhs: Rank, rhs: Rank) -> Bool {
            if lhs.isFailing != rhs.isFailing { return !lhs.isFailing }
            return lhs.speedClass > rhs.speedClass
        }
    }

    private struct Verdict: Sendable, Equatable {
        var served: Bool
        var sequence: UInt64
    }

    /// Reporters remembered per holder.
    public static let maximumReporters = 64
    /// The speed class of a holder with no rate reported: 2^20 bytes per second.
    public static let unknownSpeedClass = 20
    /// How much of a new rate report goes into the holder's rate (an exponential moving average).
    static let rateWeight = 0.5

    private var verdicts: [String: Verdict] = [:]
    /// Bytes per second, averaged over the reports.
    public private(set) var bytesPerSecond: Double?
    private var sequence: UInt64 = 0

    public init() {}

    /// Records `verdict` from the downloader at `reporter`.
    public mutating func record(_ verdict: HolderReport.Verdict, from reporter: String) {
        sequence += 1
        switch verdict {
        case .served:
            verdicts[reporter] = Verdict(served: true, sequence: sequence)
            bytesPerSecond = Self.bytesPerSecond(bytesPerSecond, after: verdict)
        case .failed:
            verdicts[reporter] = Verdict(served: false, sequence: sequence)
        }
        if verdicts.count > Self.maximumReporters,
           let oldest = verdicts.min(by: { $0.value.sequence < $1.value.sequence }) {
            verdicts[oldest.key] = nil
        }
    }

    /// More reporters say the holder failed than say it served.
    public var isFailing: Bool {
        let failed = verdicts.values.count { !$0.served }
        return failed > verdicts.count - failed
    }

    public var rank: Rank {
        Rank(isFailing: isFailing, speedClass: Self.speedClass(bytesPerSecond: bytesPerSecond))
    }

    /// The holder's averaged rate after `verdict`: a served report with a rate moves it
    /// (an exponential moving average); others leave it. (The PostgreSQL store keeps the average in
    /// its rows and computes it with this too.)
    public static func bytesPerSecond(_ current: Double?, after verdict: HolderReport.Verdict) -> Double? {
        guard case .served(let bytes, let milliseconds) = verdict, milliseconds > 0, bytes > 0 else { return current }
        let rate = Double(bytes) * 1000 / Double(milliseconds)
        return current.map { $0 + rateWeight * (rate - $0) } ?? rate
    }

    /// ⌊log₂(bytes per second)⌋, or ``unknownSpeedClass`` with no rate.
    public static func speedClass(bytesPerSecond: Double?) -> Int {
        // Clamped: a report may claim any rate (bytes up to 2^63 in 1 ms).
        bytesPerSecond.map { $0 >= 2 ? Int(Swift.min($0, 0x1p62)).bitWidthBelow : 0 } ?? unknownSpeedClass
    }

    /// Reporters heard.
    public var reporterCount: Int { verdicts.count }
}

extension Int {
    /// ⌊log₂(self)⌋ for a positive value.
    fileprivate var bitWidthBelow: Int { Int.bitWidth - 1 - leadingZeroBitCount }
}

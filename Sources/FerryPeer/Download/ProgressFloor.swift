/// The least progress an attempt must make to keep its peer, so that a peer trickling a byte now and
/// then (which never trips the stall timer) cannot pin a download for days.
///
/// Progress is judged over whole windows of ``defaultWindow`` (30 s), counted from the attempt's
/// start. A window in which fewer bytes arrived than the floor makes the attempt `too_slow`:
///
///     floor per window = max(minimumRate × window, bestWindow / 100)
///
/// where `minimumRate` is ``defaultMinimumRate`` (1 KiB/s, so 30 KiB per 30 s window) and
/// `bestWindow` is the most bytes any earlier whole window of this download brought (the expected
/// rate: a peer that sent 100 MB/s then drops under 1 MB/s is too slow). A window is judged only once
/// it is over, so a file that ends inside its first window is never judged. The ``Downloader`` acts on
/// the verdict only when another holder is left to try (``FailoverPlan/hasAlternative``): a slow
/// peer is better than none.
///
/// Pure: the caller says what time it is, so tests drive time without waiting.
public struct ProgressFloor<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    /// How long a window is.
    public static var defaultWindow: Duration { .seconds(30) }
    /// The floor whatever the expected rate, in bytes per second.
    public static var defaultMinimumRate: UInt64 { 1024 }
    /// The share of the best window below which a window is too slow: 1 / 100.
    public static var expectedRateDivisor: UInt64 { 100 }

    public enum Verdict: Equatable, Sendable {
        /// The window is not over, or it brought enough.
        case fine
        /// The window that just ended brought `received` bytes, under `floor`.
        case tooSlow(received: UInt64, floor: UInt64)
    }

    public let window: Duration
    public let minimumRate: UInt64
    /// When the current window ends.
    public private(set) var windowEnd: Instant
    private var windowBytes: UInt64 = 0
    /// The most bytes a whole window of this download brought.
    public private(set) var bestWindowBytes: UInt64 = 0

    public init(window: Duration = Self.defaultWindow, minimumRate: UInt64 = Self.defaultMinimumRate, now: Instant) {
        self.window = window
        self.minimumRate = minimumRate
        self.windowEnd = now.advanced(by: window)
    }

    /// The bytes one window must bring at least.
    public var floor: UInt64 {
        let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        return max(UInt64(Double(minimumRate) * seconds), bestWindowBytes / Self.expectedRateDivisor)
    }

    /// A new attempt starts: its first window starts now. The best window is kept.
    public mutating func attemptStarted(at now: Instant) {
        windowEnd = now.advanced(by: window)
        windowBytes = 0
    }

    /// Bytes arrived.
    public mutating func received(_ bytes: UInt64) {
        windowBytes += bytes
    }

    /// Judges the window if it is over (and starts the next one); call it at ``windowEnd``.
    public mutating func check(at now: Instant) -> Verdict {
        guard now >= windowEnd else { return .fine }
        let floor = self.floor
        let brought = windowBytes
        windowEnd = now.advanced(by: window)
        windowBytes = 0
        if brought < floor { return .tooSlow(received: brought, floor: floor) }
        bestWindowBytes = max(bestWindowBytes, brought)
        return .fine
    }
}

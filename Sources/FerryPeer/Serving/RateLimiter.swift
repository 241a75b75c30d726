import NIOConcurrencyHelpers

/// Caps the total rate of a peer's uploads, over TCP and UDP together, shared fairly among them.
///
/// A pacer in the style of GCRA (see ``PacingSchedule``): each reservation of `n` bytes takes the
/// next `n / rate` seconds of the link and says how long to wait until its turn starts. Uploads ask
/// for one chunk (TCP) or one datagram (UDP) at a time and are served in arrival order, so
/// concurrent uploads take turns: the total never exceeds the rate, and each gets an equal share.
/// Synchronous at its core, so the UDP server can use it on the event loop.
public final class RateLimiter: Sendable {
    /// Bytes per second.
    public let rate: UInt64
    private let schedule: NIOLockedValueBox<PacingSchedule<ContinuousClock.Instant>>

    public init(bytesPerSecond rate: UInt64) {
        precondition(rate > 0, "a rate limit must be positive")
        self.rate = rate
        self.schedule = NIOLockedValueBox(PacingSchedule(rate: rate, start: ContinuousClock.now))
    }

    /// The chunk a TCP upload should ask for at a time: about 20 ms of the link, between 1 KiB and 256 KiB.
    public var chunkSize: Int {
        Int(min(max(rate / 50, 1024), 256 * 1024))
    }

    /// Reserves the link for `byteCount` bytes; returns how long to wait before sending them.
    public func reserve(_ byteCount: Int) -> Duration {
        let now = ContinuousClock.now
        return schedule.withLockedValue { $0.reserve(byteCount, at: now) }
    }

    /// Waits until `byteCount` bytes may be sent.
    public func acquire(_ byteCount: Int) async throws {
        let wait = reserve(byteCount)
        if wait > .zero {
            try await Task.sleep(for: wait)
        }
    }
}

/// The arithmetic of ``RateLimiter``, on any clock: the instant the link is next free, pushed on
/// by `bytes / rate` with every reservation. An idle link does not save up credit: a reservation
/// after a pause starts now, so no burst follows a pause.
struct PacingSchedule<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration, Instant: Sendable {
    /// Bytes per second.
    let rate: UInt64
    /// When the link is free for the next reservation.
    private(set) var nextFree: Instant

    init(rate: UInt64, start: Instant) {
        precondition(rate > 0, "a rate limit must be positive")
        self.rate = rate
        self.nextFree = start
    }

    /// Reserves the link for `byteCount` bytes asked for at `now`; returns how long to wait before
    /// sending them.
    mutating func reserve(_ byteCount: Int, at now: Instant) -> Duration {
        let start = max(now, nextFree)
        nextFree = start.advanced(by: .nanoseconds(Int64(Double(byteCount) / Double(rate) * 1e9)))
        return now.duration(to: start)
    }
}

/// A transfer rate as typed by a person: bytes per second with an optional suffix, `K`/`M`/`G`
/// (powers of 1000) or `KiB`/`MiB`/`GiB` (powers of 1024); `B` and `/s` are allowed at the end.
/// Examples: `500000`, `800K`, `8MiB`, `1.5G`, `10MB/s`.
public struct ByteRate: Hashable, Sendable, CustomStringConvertible {
    public var bytesPerSecond: UInt64

    public init(bytesPerSecond: UInt64) {
        self.bytesPerSecond = bytesPerSecond
    }

    public init(parsing text: String) throws(PeerError) {
        var rest = Substring(text.trimmingSpaces)
        if rest.lowercased().hasSuffix("/s") { rest = rest.dropLast(2) }
        let digits = rest.prefix { $0.isNumber || $0 == "." }
        // A space between the number and its unit is fine: `20 MiB` as `20MiB`.
        let suffix = String(rest.dropFirst(digits.count).drop { $0 == " " || $0 == "\t" }).lowercased()
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824,
        ]
        guard let value = Double(digits), value > 0, let multiplier = multipliers[suffix] else {
            throw PeerError(.badConfiguration,
                            "\(text) is not a rate; use bytes per second with K, M, G, KiB, MiB or GiB, e.g. 8MiB")
        }
        let bytes = value * multiplier
        guard bytes >= 1, bytes < 1e15 else {
            throw PeerError(.badConfiguration, "\(text) is out of range: from 1 B/s up to 1 PB/s")
        }
        self.bytesPerSecond = UInt64(bytes)
    }

    public var description: String { ByteCount.format(bytesPerSecond) + "/s" }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while scalars.first == " " { scalars = scalars.dropFirst() }
        while scalars.last == " " { scalars = scalars.dropLast() }
        return String(scalars)
    }
}

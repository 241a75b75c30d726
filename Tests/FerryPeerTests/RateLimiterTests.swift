@testable import FerryPeer
import Testing

@Suite("RateLimiter: upload pacing, its arithmetic on an injected clock")
struct RateLimiterTests {
    @Test("chunks are about 20 ms of the link, from 1 KiB to 256 KiB", arguments: [
        (UInt64(1), 1024), (51_200, 1024), (51_250, 1025), (100_000, 2000), (1_000_000, 20_000),
        (13_107_200, 262_144), (13_107_250, 262_144), (UInt64.max, 262_144),
    ])
    func chunkSize(_ rate: UInt64, _ chunk: Int) {
        let limiter = RateLimiter(bytesPerSecond: rate)
        #expect(limiter.rate == rate)
        #expect(limiter.chunkSize == chunk)
    }

    /// A fixed origin: the schedule only adds durations to it.
    static let origin = ContinuousClock.now

    static func at(_ duration: Duration) -> ContinuousClock.Instant { origin.advanced(by: duration) }

    @Test("the first reservation goes at once; each next one waits for the bytes before it at the rate")
    func reservationsQueueAtTheRate() {
        var schedule = PacingSchedule(rate: 1000, start: Self.origin)
        #expect(schedule.reserve(500, at: Self.origin) == .zero)
        #expect(schedule.reserve(500, at: Self.origin) == .milliseconds(500))
        #expect(schedule.reserve(250, at: Self.origin) == .seconds(1))
        // A reservation made later waits only for what is left.
        #expect(schedule.reserve(1, at: Self.at(.milliseconds(1100))) == .milliseconds(150))
        #expect(schedule.nextFree == Self.at(.nanoseconds(1_251_000_000)))
    }

    @Test("an idle link saves up no credit: after a pause the next reservation starts now, the one after waits")
    func noBurstAfterPause() {
        var schedule = PacingSchedule(rate: 1_000_000, start: Self.origin)
        #expect(schedule.reserve(100_000, at: Self.origin) == .zero)
        let later = Self.at(.seconds(10))
        #expect(schedule.reserve(100_000, at: later) == .zero)
        #expect(schedule.reserve(100_000, at: later) == .milliseconds(100))
    }

    @Test("n reservations of a chunk span exactly n × chunk / rate: the limit holds over any stretch", arguments: [
        (UInt64(1 << 20), 20_971), (UInt64(8_000_000), 160_000), (UInt64(1500), 1024),
    ])
    func totalMatchesTheRate(_ rate: UInt64, _ chunk: Int) {
        var schedule = PacingSchedule(rate: rate, start: Self.origin)
        var last = Duration.zero
        for _ in 0..<100 { last = schedule.reserve(chunk, at: Self.origin) }
        let expected = Double(99 * chunk) / Double(rate)
        let measured = Double(last.components.seconds) + Double(last.components.attoseconds) / 1e18
        // Rounded down to whole nanoseconds once per reservation: at most 100 ns apart.
        #expect(abs(measured - expected) < 1e-6)
    }

    @Test("two uploads asking in turn get equal shares of the link")
    func fairShares() {
        var schedule = PacingSchedule(rate: 10_000, start: Self.origin)
        var waits: [[Duration]] = [[], []]
        for _ in 0..<5 {
            for upload in 0..<2 {
                waits[upload].append(schedule.reserve(1000, at: Self.origin))
            }
        }
        // Turns alternate, 100 ms each: upload 0 at 0, 200, 400 ms…, upload 1 at 100, 300, 500 ms…
        #expect(waits[0] == (0..<5).map { .milliseconds(200 * $0) })
        #expect(waits[1] == (0..<5).map { .milliseconds(200 * $0 + 100) })
    }

    @Test("a fast limiter lets small chunks through at once (waits below a microsecond)")
    func fastLimiterDoesNotWait() {
        var schedule = PacingSchedule(rate: 1 << 40, start: Self.origin)
        let waits = (0..<100).map { _ in schedule.reserve(1024, at: Self.origin) }
        #expect(waits.first == .zero)
        #expect(waits.allSatisfy { $0 < .microseconds(1) })
        // The real limiter, on the real clock, asks for no wait worth sleeping either.
        let limiter = RateLimiter(bytesPerSecond: 1 << 40)
        #expect(limiter.reserve(1024) < .milliseconds(1))
    }

    @Test("a waiting upload can be cancelled")
    func cancellation() async throws {
        let limiter = RateLimiter(bytesPerSecond: 1)
        try await limiter.acquire(100_000)              // reserves the link for a long time, returns at once
        let waiting = Task { try await limiter.acquire(1) }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
    }
}

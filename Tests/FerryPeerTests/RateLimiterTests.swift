@testable import FerryPeer
import Testing

@Suite("RateLimiter: upload pacing (no timing asserted)")
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

    @Test("the first chunk goes out without waiting, and a fast limiter lets small chunks through")
    func acquireCompletes() async throws {
        let limiter = RateLimiter(bytesPerSecond: 1 << 40)
        for _ in 0..<100 { try await limiter.acquire(1024) }
        try await limiter.acquire(0)
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

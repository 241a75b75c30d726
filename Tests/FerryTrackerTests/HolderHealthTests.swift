import FerryTracker
import FerryWire
import Testing

@Suite("HolderHealth: what downloaders reported, and the rank it gives")
struct HolderHealthTests {
    @Test("no reports: not failing, the unknown speed class")
    func empty() {
        let health = HolderHealth()
        #expect(!health.isFailing)
        #expect(health.rank == .init(isFailing: false, speedClass: HolderHealth.unknownSpeedClass))
    }

    @Test("each reporter has one say, its latest; failing while more say failed than served")
    func verdicts() {
        var health = HolderHealth()
        health.record(.failed, from: "a")
        #expect(health.isFailing)
        health.record(.failed, from: "a")
        health.record(.served(bytes: 10, milliseconds: 10), from: "b")
        #expect(!health.isFailing, "one failed, one served: a tie is not failing")
        health.record(.failed, from: "c")
        #expect(health.isFailing)
        health.record(.served(bytes: 10, milliseconds: 10), from: "a")
        #expect(!health.isFailing)
        #expect(health.reporterCount == 3)
    }

    @Test("the rate is a moving average; the speed class is its power of two, clamped")
    func speed() {
        var health = HolderHealth()
        health.record(.served(bytes: 8 << 20, milliseconds: 1000), from: "a")
        #expect(health.bytesPerSecond == Double(8 << 20))
        #expect(health.rank.speedClass == 23)
        health.record(.served(bytes: 0, milliseconds: 1000), from: "a")  // no bytes: no rate
        health.record(.served(bytes: 5, milliseconds: 0), from: "a")     // no time: no rate
        #expect(health.bytesPerSecond == Double(8 << 20))
        health.record(.served(bytes: 4 << 20, milliseconds: 1000), from: "b")
        #expect(health.bytesPerSecond == Double(6 << 20))
        health.record(.served(bytes: UInt64(Int64.max), milliseconds: 1), from: "c")
        #expect(health.rank.speedClass == 62, "a huge claim is clamped, not a crash")
        var slow = HolderHealth()
        slow.record(.served(bytes: 1, milliseconds: 10_000), from: "a")
        #expect(slow.rank.speedClass == 0)
    }

    @Test("ranks: not failing first, then faster first")
    func rankOrder() {
        let failingFast = HolderHealth.Rank(isFailing: true, speedClass: 30)
        let slow = HolderHealth.Rank(isFailing: false, speedClass: 3)
        let fast = HolderHealth.Rank(isFailing: false, speedClass: 25)
        #expect([failingFast, slow, fast].sorted() == [fast, slow, failingFast])
    }

    @Test("at most 64 reporters are remembered, the oldest dropped first")
    func bounded() {
        var health = HolderHealth()
        for reporter in 0..<HolderHealth.maximumReporters { health.record(.failed, from: "old\(reporter)") }
        #expect(health.isFailing)
        for reporter in 0..<HolderHealth.maximumReporters { health.record(.served(bytes: 1, milliseconds: 1), from: "new\(reporter)") }
        #expect(health.reporterCount == HolderHealth.maximumReporters)
        #expect(!health.isFailing, "every old FAILED was dropped before any new OK")
    }
}

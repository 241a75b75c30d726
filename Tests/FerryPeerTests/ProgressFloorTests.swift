@testable import FerryPeer
import Testing

@Suite("ProgressFloor: a trickling peer is given up after a window under the floor")
struct ProgressFloorTests {
    typealias Floor = ProgressFloor<ContinuousClock.Instant>
    /// A fixed origin; the floor never reads a clock, so the tests say what time it is.
    static let start = ContinuousClock.now
    static func at(_ seconds: Double) -> ContinuousClock.Instant { start.advanced(by: .seconds(seconds)) }

    @Test("the documented numbers: 30 s windows, 1 KiB/s, 1 % of the best window")
    func defaults() {
        let floor = Floor(now: Self.start)
        #expect(floor.window == .seconds(30))
        #expect(floor.minimumRate == 1024)
        #expect(floor.floor == 30 * 1024)
        #expect(floor.windowEnd == Self.at(30))
        #expect(Floor.expectedRateDivisor == 100)
    }

    @Test("issue 9: one byte a second is too slow after the first window")
    func trickle() {
        // Before the fix only the 10 s stall timer watched progress, and a byte a second never tripped it.
        var floor = Floor(now: Self.start)
        for second in 1...29 {
            floor.received(1)
            #expect(floor.check(at: Self.at(Double(second))) == .fine, "judged before the window was over")
        }
        floor.received(1)
        #expect(floor.check(at: Self.at(30)) == .tooSlow(received: 30, floor: 30 * 1024))
    }

    @Test("a window at the floor is fine, and the next window starts from zero")
    func atTheFloor() {
        var floor = Floor(now: Self.start)
        floor.received(30 * 1024)
        #expect(floor.check(at: Self.at(30)) == .fine)
        #expect(floor.windowEnd == Self.at(60))
        floor.received(30 * 1024 - 1)
        #expect(floor.check(at: Self.at(60)) == .tooSlow(received: 30 * 1024 - 1, floor: 30 * 1024))
    }

    @Test("the expected rate: under 1 % of the best window so far is too slow, even above the minimum")
    func fractionOfBest() {
        var floor = Floor(now: Self.start)
        floor.received(3_000_000_000)                    // 100 MB/s
        #expect(floor.check(at: Self.at(30)) == .fine)
        #expect(floor.bestWindowBytes == 3_000_000_000)
        #expect(floor.floor == 30_000_000)
        floor.received(29_999_999)                       // just under 1 MB/s
        #expect(floor.check(at: Self.at(60)) == .tooSlow(received: 29_999_999, floor: 30_000_000))
    }

    @Test("a new attempt starts its own window and keeps the best window of the download")
    func attemptStarted() {
        var floor = Floor(now: Self.start)
        floor.received(3_000_000)
        #expect(floor.check(at: Self.at(30)) == .fine)
        floor.received(10)
        floor.attemptStarted(at: Self.at(45))
        #expect(floor.windowEnd == Self.at(75))
        #expect(floor.check(at: Self.at(74)) == .fine)
        #expect(floor.floor == 30 * 1024)
        floor.received(40_000)
        #expect(floor.check(at: Self.at(75)) == .fine)
        #expect(floor.bestWindowBytes == 3_000_000)
    }

    @Test("a window that is not over is never judged, however little it brought")
    func notOver() {
        var floor = Floor(window: .seconds(2), minimumRate: 1_000_000, now: Self.start)
        #expect(floor.floor == 2_000_000)
        #expect(floor.check(at: Self.at(1.999)) == .fine)
        #expect(floor.check(at: Self.at(2)) == .tooSlow(received: 0, floor: 2_000_000))
    }
}

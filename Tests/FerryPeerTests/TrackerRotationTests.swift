@testable import FerryPeer
import Testing

@Suite("TrackerRotation: which of several trackers a session tries next")
struct TrackerRotationTests {
    @Test("one tracker: every failure completes a round, so every retry waits")
    func oneTracker() {
        var rotation = TrackerRotation(count: 1)
        for _ in 0..<3 {
            let roundDone = rotation.failed()
            #expect(roundDone)
            #expect(rotation.current == 0)
        }
    }

    @Test("a lost connection is retried on the same tracker once, then the others follow at once")
    func lostThenRotates() {
        var rotation = TrackerRotation(count: 3)
        rotation.connected()
        rotation.lost()
        #expect(rotation.current == 0)
        var roundDone = rotation.failed()  // tracker 0 is down: on to 1 without waiting
        #expect(!roundDone)
        #expect(rotation.current == 1)
        roundDone = rotation.failed()  // 1 is down too: on to 2
        #expect(!roundDone)
        #expect(rotation.current == 2)
        roundDone = rotation.failed()  // every tracker failed once: wait, then start over at 0
        #expect(roundDone)
        #expect(rotation.current == 0)
    }

    @Test("the session keeps to the tracker that answered")
    func keepsToTheOneThatAnswered() {
        var rotation = TrackerRotation(count: 2)
        var roundDone = rotation.failed()
        #expect(!roundDone)
        rotation.connected()
        rotation.lost()
        #expect(rotation.current == 1)
        roundDone = rotation.failed()
        #expect(!roundDone)
        #expect(rotation.current == 0)
        rotation.connected()
        #expect(rotation.failuresInRound == 0)
    }
}

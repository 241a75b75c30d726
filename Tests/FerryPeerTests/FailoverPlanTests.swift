@testable import FerryPeer
import FerryTestSupport
import FerryWire
import Testing

@Suite("FailoverPlan: which peer next, from which offset, and when to stop")
struct FailoverPlanTests {
    typealias Candidate = FailoverPlan.Candidate

    static func candidate(_ last: Int, _ transport: Transport = .tcp) -> Candidate {
        Candidate(holder: Holder(host: "10.0.0.\(last)", tcpPort: 5555, udpPort: 0), transport: transport)
    }

    static let c1 = candidate(1), c2 = candidate(2), c3 = candidate(3)

    @Test("candidates are tried in order, each from the offset already received")
    func orderAndResume() {
        var plan = FailoverPlan(size: 100, candidates: [Self.c1, Self.c2, Self.c3])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 30, error: .stalled, message: "no bytes for 10 s")
        #expect(plan.received == 30)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 30))
        plan.record(Self.c2, bytes: 0, error: .connectFailed)
        #expect(plan.nextAction() == .fetch(Self.c3, offset: 30))
        plan.record(Self.c3, bytes: 70, error: nil)
        #expect(plan.received == 100)
        #expect(plan.nextAction() == .verify)
        #expect(plan.attempts.map(\.candidate) == [Self.c1, Self.c2, Self.c3])
        #expect(plan.attempts.map(\.bytes) == [30, 0, 70])
        #expect(plan.attempts.map(\.error) == [.stalled, .connectFailed, nil])
        #expect(plan.attempts.map(\.message) == ["no bytes for 10 s", nil, nil])
        #expect(plan.finishingAttempt?.candidate == Self.c3)
    }

    @Test("when every candidate failed, the tracker is asked once, then the plan gives up")
    func askTrackerOnceThenGiveUp() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1, Self.c2])
        for candidate in [Self.c1, Self.c2] {
            #expect(plan.nextAction() == .fetch(candidate, offset: 0))
            plan.record(candidate, bytes: 0, error: .connectFailed)
        }
        #expect(plan.nextAction() == .askTracker)
        #expect(plan.nextAction() == .giveUp)
        #expect(plan.nextAction() == .giveUp)
        #expect(plan.finishingAttempt == nil)
        #expect(plan.busyPausesTaken == 0)
    }

    @Test("holders that were busy in the last pass are asked again after growing pauses, then the plan gives up")
    func busyHoldersAreWaitedFor() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1, Self.c2, Self.c3])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 0, error: .busy)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 0))
        plan.record(Self.c2, bytes: 0, error: .connectFailed)
        #expect(plan.nextAction() == .fetch(Self.c3, offset: 0))
        plan.record(Self.c3, bytes: 2, error: .busy)
        #expect(plan.nextAction() == .askTracker)
        plan.holdersRefreshed([Self.c1, Self.c2, Self.c3])
        for candidate in [Self.c1, Self.c2, Self.c3] {
            #expect(plan.nextAction() == .fetch(candidate, offset: 2))
            plan.record(candidate, bytes: 0, error: candidate == Self.c2 ? .connectFailed : .busy)
        }
        var pauses: [Duration] = []
        for round in 1...FailoverPlan.busyRounds {
            guard case .pause(let pause) = plan.nextAction() else {
                Issue.record("round \(round): expected a pause")
                return
            }
            pauses.append(pause)
            // Only the busy ones, in order; the unreachable one is not asked again.
            #expect(plan.nextAction() == .fetch(Self.c1, offset: 2))
            plan.record(Self.c1, bytes: 0, error: .busy)
            #expect(plan.nextAction() == .fetch(Self.c3, offset: 2))
            plan.record(Self.c3, bytes: 0, error: .busy)
        }
        #expect(pauses == [.milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4)])
        #expect(plan.nextAction() == .giveUp)
        #expect(plan.busyPausesTaken == FailoverPlan.busyRounds)
    }

    @Test("a busy holder that serves after a pause finishes the download")
    func busyThenServes() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 0, error: .busy)
        #expect(plan.nextAction() == .askTracker)
        #expect(plan.nextAction() == .pause(.milliseconds(250)), "the tracker gave nothing new: the busy holder is waited for")
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 10, error: nil)
        #expect(plan.nextAction() == .verify)
    }

    @Test("fresh holders from the tracker are all tried from the current offset; no second tracker question")
    func holdersRefreshed() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 4, error: .closedEarly)
        #expect(plan.nextAction() == .askTracker)
        plan.holdersRefreshed([Self.c2, Self.c1])
        #expect(plan.candidates == [Self.c2, Self.c1])
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 4))
        plan.record(Self.c2, bytes: 1, error: .stalled)
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 5))
        plan.record(Self.c1, bytes: 0, error: .stalled)
        #expect(plan.nextAction() == .giveUp)
    }

    @Test("an empty refresh gives up")
    func emptyRefresh() {
        var plan = FailoverPlan(size: 10, candidates: [])
        #expect(plan.nextAction() == .askTracker)
        plan.holdersRefreshed([])
        #expect(plan.nextAction() == .giveUp)
    }

    @Test("a plan without candidates asks the tracker first")
    func noCandidates() {
        var plan = FailoverPlan(size: 10, candidates: [])
        #expect(plan.nextAction() == .askTracker)
        #expect(plan.nextAction() == .giveUp)
        #expect(plan.attempts.isEmpty)
    }

    @Test("a hash mismatch convicts the holder that supplied every byte and starts over from 0 with the next")
    func verificationFailed() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1, Self.c2])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 10, error: nil)
        #expect(plan.nextAction() == .verify)
        plan.verificationFailed()
        #expect(plan.received == 0)
        #expect(plan.attempts.last?.error == .hashMismatch)
        #expect(plan.attempts.last?.message?.hasPrefix("the received bytes do not match the announced SHA-256; discarded") == true)
        #expect(plan.attempts.last?.bytes == 10)
        #expect(plan.convicted == [Self.c1.holder])
        #expect(plan.suspects.isEmpty)
        #expect(plan.finishingAttempt == nil)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 0))
        plan.record(Self.c2, bytes: 10, error: nil)
        #expect(plan.nextAction() == .verify)
        #expect(plan.finishingAttempt?.candidate == Self.c2)
    }

    @Test("a convicted holder is not asked again, even when the tracker lists it again")
    func verificationFailedOnLast() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1])
        _ = plan.nextAction()
        plan.record(Self.c1, bytes: 10, error: nil)
        #expect(plan.nextAction() == .verify)
        plan.verificationFailed()
        #expect(plan.nextAction() == .askTracker)
        plan.holdersRefreshed([Self.c1, Self.candidate(1, .udp)])
        #expect(plan.nextAction() == .giveUp)
        #expect(plan.attempts.map(\.error) == [.hashMismatch])
    }

    @Test("issue 8: a liar first sends half and closes, an honest peer resumes: both suspected, then each alone")
    func lyingHolderFirst() {
        // Before the fix the honest peer was blamed for the liar's bytes and the retry round repeated
        // liar-then-honest until every holder had failed.
        var plan = FailoverPlan(size: 100, candidates: [Self.c1, Self.c2])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 50, error: .closedEarly)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 50))
        plan.record(Self.c2, bytes: 50, error: nil)
        #expect(plan.nextAction() == .verify)
        plan.verificationFailed()
        #expect(plan.attempts.map(\.error) == [.hashMismatch, .hashMismatch], "every holder that sent bytes is blamed")
        #expect(plan.attempts[0].message?.hasPrefix("bytes 0–50 came from this peer") == true)
        #expect(plan.attempts[1].message?.hasPrefix("bytes 50–100 came from this peer") == true)
        #expect(plan.suspects == [Self.c1.holder, Self.c2.holder])
        #expect(plan.convicted.isEmpty)
        // Start over from 0; the liar stops part-way again: its bytes are thrown away, not resumed.
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 50, error: .closedEarly)
        #expect(plan.received == 0)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 0))
        plan.record(Self.c2, bytes: 100, error: nil)
        #expect(plan.nextAction() == .verify)
        #expect(plan.finishingAttempt?.candidate == Self.c2)
    }

    @Test("after a mixed mismatch, holders not blamed are tried first; a suspect that fails alone is convicted")
    func unblamedFirstThenConvict() {
        let c4 = Self.candidate(4)
        var plan = FailoverPlan(size: 100, candidates: [Self.c1, Self.c2, Self.c3, c4])
        _ = plan.nextAction()
        plan.record(Self.c1, bytes: 30, error: .stalled)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 30))
        plan.record(Self.c2, bytes: 70, error: nil)
        plan.verificationFailed()
        #expect(plan.nextAction() == .fetch(Self.c3, offset: 0))
        plan.record(Self.c3, bytes: 0, error: .busy)
        #expect(plan.nextAction() == .fetch(c4, offset: 0))
        plan.record(c4, bytes: 10, error: .closedEarly)
        // c4 is not suspected: its bytes are kept, and a suspect asked next starts over from 0 alone.
        #expect(plan.received == 10)
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 100, error: nil)
        plan.verificationFailed()
        #expect(plan.convicted == [Self.c1.holder])
        #expect(plan.suspects == [Self.c2.holder])
        #expect(plan.nextAction() == .fetch(Self.c3, offset: 0))
    }

    @Test("a mismatch after resuming a part file from an earlier run suspects the peer, never convicts it")
    func earlierPartFileIsNotPinnedOnAPeer() {
        var plan = FailoverPlan(size: 100, candidates: [Self.c1], received: 40)
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 40))
        plan.record(Self.c1, bytes: 60, error: nil)
        plan.verificationFailed()
        #expect(plan.convicted.isEmpty)
        #expect(plan.suspects == [Self.c1.holder])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 100, error: nil)
        #expect(plan.nextAction() == .verify)
    }

    @Test("a local error (disk full, a failed write) stops the plan at once", arguments: [TransferError.diskFull, .ioError])
    func localErrorStops(_ error: TransferError) {
        var plan = FailoverPlan(size: 100, candidates: [Self.c1, Self.c2])
        _ = plan.nextAction()
        plan.record(Self.c1, bytes: 20, error: error, message: "no space left")
        #expect(plan.nextAction() == .giveUp)
        #expect(plan.localFailure?.error == error)
        #expect(plan.localFailure?.bytes == 20)
        #expect(plan.received == 20)
        #expect(plan.attempts.count == 1)
    }

    @Test("a slow attempt has an alternative only when another holder (not convicted) is left")
    func hasAlternative() {
        let udp1 = Self.candidate(1, .udp)
        var plan = FailoverPlan(size: 100, candidates: [Self.c1, udp1, Self.c2])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        #expect(plan.hasAlternative(to: Self.c1))
        plan.record(Self.c1, bytes: 0, error: .tooSlow)
        #expect(plan.nextAction() == .fetch(udp1, offset: 0))
        #expect(plan.hasAlternative(to: udp1))
        plan.record(udp1, bytes: 0, error: .tooSlow)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 0))
        #expect(!plan.hasAlternative(to: Self.c2), "the last holder keeps going, however slow")
        var sameHolder = FailoverPlan(size: 100, candidates: [udp1, Self.c1])
        _ = sameHolder.nextAction()
        #expect(!sameHolder.hasAlternative(to: udp1), "the same peer over another transport is no alternative")
    }

    @Test("a zero-size file needs one successful attempt before it is verified")
    func zeroSize() {
        var plan = FailoverPlan(size: 0, candidates: [Self.c1, Self.c2])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 0, error: .notFound)
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 0))
        plan.record(Self.c2, bytes: 0, error: nil)
        #expect(plan.nextAction() == .verify)
        #expect(plan.finishingAttempt?.candidate == Self.c2)
    }

    @Test("a zero-size file whose holders all fail gives up")
    func zeroSizeAllFail() {
        var plan = FailoverPlan(size: 0, candidates: [Self.c1])
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
        plan.record(Self.c1, bytes: 0, error: .connectFailed)
        #expect(plan.nextAction() == .askTracker)
        #expect(plan.nextAction() == .giveUp)
    }

    @Test("a zero-size file that failed verification needs another successful attempt")
    func zeroSizeVerificationFailed() {
        var plan = FailoverPlan(size: 0, candidates: [Self.c1, Self.c2])
        _ = plan.nextAction()
        plan.record(Self.c1, bytes: 0, error: nil)
        #expect(plan.nextAction() == .verify)
        plan.verificationFailed()
        #expect(plan.nextAction() == .fetch(Self.c2, offset: 0))
    }

    @Test("a part file from an earlier run: the first fetch resumes from its length")
    func partFileResume() {
        var plan = FailoverPlan(size: 100, candidates: [Self.c1], received: 40)
        #expect(plan.received == 40)
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 40))
        plan.record(Self.c1, bytes: 60, error: nil)
        #expect(plan.nextAction() == .verify)
    }

    @Test("a complete part file from an earlier run is verified before anything is fetched")
    func completePartFile() {
        var plan = FailoverPlan(size: 100, candidates: [Self.c1, Self.c2], received: 100)
        #expect(plan.nextAction() == .verify)
        #expect(plan.finishingAttempt == nil)
        plan.verificationFailed()                        // nothing to blame: no attempt was made
        #expect(plan.attempts.isEmpty)
        #expect(plan.nextAction() == .fetch(Self.c1, offset: 0))
    }

    @Test("a part file longer than the file counts as the whole file")
    func partFileTooLong() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1], received: 25)
        #expect(plan.received == 10)
        #expect(plan.nextAction() == .verify)
    }

    @Test("more bytes than the file holds are counted up to its size")
    func receivedIsClamped() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1])
        _ = plan.nextAction()
        plan.record(Self.c1, bytes: 25, error: .protocolError, message: "extra bytes")
        #expect(plan.received == 10)
        #expect(plan.attempts.first?.bytes == 25)
        #expect(plan.nextAction() == .verify)
    }

    @Test("an attempt that brought every byte but then failed still leads to verification")
    func allBytesWithError() {
        var plan = FailoverPlan(size: 10, candidates: [Self.c1, Self.c2])
        _ = plan.nextAction()
        plan.record(Self.c1, bytes: 10, error: .closedEarly)
        #expect(plan.nextAction() == .verify)
    }

    @Test("the same holder over two transports is two candidates")
    func transports() {
        let tcp = Self.candidate(1, .tcp), udp = Self.candidate(1, .udp)
        var plan = FailoverPlan(size: 5, candidates: [udp, tcp])
        #expect(plan.nextAction() == .fetch(udp, offset: 0))
        plan.record(udp, bytes: 2, error: .stalled)
        #expect(plan.nextAction() == .fetch(tcp, offset: 2))
    }

    @Test("seeded random runs keep the plan's promises", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func randomRuns(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<300 {
            let size = [0, 1, 10, 1000].randomElement(using: &generator)! as UInt64
            let start = UInt64.random(in: 0...size + 5, using: &generator)
            let candidates = (0..<Int.random(in: 0...4, using: &generator)).map { Self.candidate($0) }
            var plan = FailoverPlan(size: size, candidates: candidates, received: start)
            var askedTracker = 0
            var pauses = 0
            var steps = 0
            loop: while true {
                steps += 1
                guard steps < 1000 else {
                    Issue.record("seed \(seed): the plan did not end")
                    break
                }
                let before = plan.received
                switch plan.nextAction() {
                case .fetch(let candidate, let offset):
                    #expect(offset == plan.received)
                    #expect(offset == before || offset == 0)
                    #expect(plan.candidates.contains(candidate))
                    #expect(!plan.convicted.contains(candidate.holder))
                    #expect(!plan.suspects.contains(candidate.holder) || offset == 0)
                    if Bool.random(using: &generator) {
                        let bytes = UInt64.random(in: 0...(size - offset), using: &generator)
                        let error = TransferError.allCases.randomElement(using: &generator)!
                        plan.record(candidate, bytes: bytes, error: error)
                        #expect(plan.received == offset + bytes || plan.received == 0)
                        if error.isLocal { #expect(plan.nextAction() == .giveUp); break loop }
                    } else {
                        plan.record(candidate, bytes: size - offset, error: nil)
                        #expect(plan.received == size)
                    }
                case .pause:
                    pauses += 1
                    #expect(pauses <= FailoverPlan.busyRounds)
                    #expect(askedTracker == 1, "busy holders are waited for only after the tracker was asked")
                case .askTracker:
                    askedTracker += 1
                    #expect(askedTracker == 1)
                    if Bool.random(using: &generator) {
                        let refreshed = Int.random(in: 0...3, using: &generator)
                        plan.holdersRefreshed((0..<refreshed).map { Self.candidate(10 + $0) })
                    }
                case .verify:
                    #expect(plan.received == size)
                    if Bool.random(using: &generator) { break loop }
                    plan.verificationFailed()
                    #expect(plan.received == 0)
                case .giveUp:
                    #expect(askedTracker == 1)
                    break loop
                }
            }
        }
    }
}

import FerryTestSupport
import NIOCore
import Testing

@testable import FerryUDP

/// RTT estimation, loss detection, probe timeouts and the range sets they rest on.
@Suite("Loss recovery")
struct RecoveryTests {
    @Test func rttEstimatorFollowsRFC9002() {
        var rtt = RTTEstimator(initialRTT: .milliseconds(333))
        #expect(rtt.smoothed == .milliseconds(333))
        #expect(rtt.variation == .microseconds(166_500))
        rtt.addSample(.milliseconds(100), ackDelay: .zero)
        #expect(rtt.smoothed == .milliseconds(100))
        #expect(rtt.variation == .milliseconds(50))
        #expect(rtt.minimum == .milliseconds(100))
        rtt.addSample(.milliseconds(200), ackDelay: .milliseconds(20))
        // adjusted = 180 ms; rttvar = 3/4·50 + 1/4·80 = 57.5; srtt = 7/8·100 + 1/8·180 = 110.
        #expect(rtt.variation == .microseconds(57_500))
        #expect(rtt.smoothed == .milliseconds(110))
        #expect(rtt.latest == .milliseconds(200))
        // An ack delay that would push the sample under the minimum is ignored.
        rtt.addSample(.milliseconds(105), ackDelay: .milliseconds(20))
        #expect(rtt.minimum == .milliseconds(100))
        #expect(rtt.smoothed == (.milliseconds(110) * 7 + .milliseconds(105)) / 8)
        #expect(
            rtt.probeTimeout(maxAckDelay: .milliseconds(25)) == rtt.smoothed + rtt.variation * 4 + .milliseconds(25)
        )
        #expect(rtt.lossDelay == max(rtt.smoothed, rtt.latest) * 9 / 8)
    }

    static func recovery(sending count: Int, every interval: Duration = .milliseconds(1)) -> LossRecovery<TestInstant> {
        var recovery = LossRecovery<TestInstant>(
            initialRTT: .milliseconds(100),
            maxAckDelay: .milliseconds(25),
            now: .zero
        )
        for number in 0..<count {
            recovery.onPacketSent(
                packetNumber: UInt64(number),
                size: 1200,
                isAckEliciting: true,
                frames: [.stream(UInt64(number * 1000)..<UInt64(number * 1000 + 1000))],
                at: TestInstant(offset: interval * number)
            )
        }
        return recovery
    }

    static func ack(_ ranges: [ClosedRange<UInt64>]) -> UDPAckFrame {
        UDPAckFrame(ranges: ranges, ackDelayMicroseconds: 0)!
    }

    @Test func packetThresholdDeclaresLossThreeBehind() throws {
        var recovery = Self.recovery(sending: 10)
        let now = TestInstant(offset: .milliseconds(20))
        let outcome = try recovery.onAck(Self.ack([9...9]), nextPacketNumber: 10, handshakeConfirmed: true, at: now)
        #expect(outcome.acknowledged.map(\.packetNumber) == [9])
        #expect(outcome.rttUpdated)
        #expect(recovery.rtt.latest == .milliseconds(11))
        // 0…6 are ≥ 3 behind 9; 7 was sent 13 ms ago, more than 9/8 · 11 ms = 12.375 ms: lost too.
        #expect(outcome.lost.map(\.packetNumber) == [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(recovery.bytesInFlight == 1200)
        guard case .lossDetection(let deadline) = recovery.timer else {
            Issue.record("expected a loss-detection timer, got \(String(describing: recovery.timer))")
            return
        }
        // Packet 8 was sent at 8 ms: it is lost once 12.375 ms have passed.
        #expect(deadline == TestInstant(offset: .milliseconds(8) + .milliseconds(11) * 9 / 8))
        let lost = recovery.onTimeout(at: deadline)
        #expect(lost?.map(\.packetNumber) == [8])
    }

    @Test func timeThresholdDeclaresOldPacketsLost() throws {
        var recovery = Self.recovery(sending: 3, every: .milliseconds(50))
        // Packet 2 (sent at 100 ms) acknowledged at 150 ms: RTT 50 ms, loss delay 56.25 ms.
        let outcome = try recovery.onAck(
            Self.ack([2...2]),
            nextPacketNumber: 3,
            handshakeConfirmed: true,
            at: TestInstant(offset: .milliseconds(150))
        )
        // Packet 0 was sent 150 ms ago → lost; packet 1 was sent 100 ms ago → lost too.
        #expect(outcome.lost.map(\.packetNumber) == [0, 1])
        #expect(recovery.timer == nil)
    }

    @Test func probeTimeoutBacksOffExponentially() {
        var recovery = Self.recovery(sending: 1)
        var previous: Duration = .zero
        for count in 0..<5 {
            guard case .probeTimeout(let deadline) = recovery.timer else {
                Issue.record("expected a probe timeout")
                return
            }
            let timeout = TestInstant.zero.duration(to: deadline)
            if count > 0 {
                #expect(timeout == previous * 2)
            }
            previous = timeout
            let lost = recovery.onTimeout(at: deadline)
            #expect(lost == nil)
            #expect(recovery.probeCount == count + 1)
        }
    }

    @Test func backoffIsCappedSoProbesContinue() {
        var recovery = LossRecovery<TestInstant>(
            initialRTT: .milliseconds(100),
            maxAckDelay: .milliseconds(25),
            maximumBackoff: .seconds(1),
            now: .zero
        )
        recovery.onPacketSent(packetNumber: 0, size: 1200, isAckEliciting: true, frames: [.ping], at: .zero)
        var deadlines: [Duration] = []
        for _ in 0..<6 {
            guard case .probeTimeout(let deadline) = recovery.timer else {
                Issue.record("expected a probe timeout")
                return
            }
            deadlines.append(TestInstant.zero.duration(to: deadline))
            _ = recovery.onTimeout(at: deadline)
        }
        // 325 ms, 650 ms, then never more than the 1 s cap.
        #expect(deadlines == [.milliseconds(325), .milliseconds(650)] + Array(repeating: .seconds(1), count: 4))
    }

    @Test func acknowledgementResetsTheBackoff() throws {
        var recovery = Self.recovery(sending: 2)
        _ = recovery.onTimeout(at: TestInstant(offset: .seconds(1)))
        _ = recovery.onTimeout(at: TestInstant(offset: .seconds(3)))
        #expect(recovery.probeCount == 2)
        _ = try recovery.onAck(
            Self.ack([1...1]),
            nextPacketNumber: 2,
            handshakeConfirmed: true,
            at: TestInstant(offset: .seconds(4))
        )
        #expect(recovery.probeCount == 0)
    }

    @Test func ackOfAPacketNeverSentIsAProtocolViolation() {
        var recovery = Self.recovery(sending: 3)
        #expect(throws: FerryUDPError(.protocolViolation)) {
            _ = try recovery.onAck(Self.ack([3...3]), nextPacketNumber: 3, handshakeConfirmed: true, at: .zero)
        }
    }

    @Test func duplicateAndStaleAcksChangeNothing() throws {
        var recovery = Self.recovery(sending: 4)
        let now = TestInstant(offset: .milliseconds(10))
        _ = try recovery.onAck(Self.ack([0...3]), nextPacketNumber: 4, handshakeConfirmed: true, at: now)
        let again = try recovery.onAck(Self.ack([0...3]), nextPacketNumber: 4, handshakeConfirmed: true, at: now)
        #expect(again.acknowledged.isEmpty && again.lost.isEmpty)
        #expect(recovery.bytesInFlight == 0)
        #expect(recovery.timer == nil)
    }

    @Test(arguments: 0..<8)
    func intervalSetMatchesAReferenceSet(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        var set = IntervalSet()
        var reference = Set<UInt64>()
        for _ in 0..<400 {
            let low = UInt64.random(in: 0..<300, using: &generator)
            let range = low..<(low + UInt64.random(in: 0..<20, using: &generator))
            if generator.chance(0.6) {
                set.insert(range)
                reference.formUnion(range)
            } else {
                set.remove(range)
                reference.subtract(range)
            }
            let probe = UInt64.random(in: 0..<330, using: &generator)
            #expect(set.contains(probe) == reference.contains(probe))
        }
        // Ranges are sorted, disjoint and never touching, and hold exactly the reference.
        var values = Set<UInt64>()
        var previousEnd: UInt64?
        for range in set.ranges {
            #expect(!range.isEmpty)
            if let previousEnd {
                #expect(range.lowerBound > previousEnd)
            }
            previousEnd = range.upperBound
            values.formUnion(range)
        }
        #expect(values == reference)
        let gaps = set.gaps(in: 0..<330)
        #expect(Set(gaps.flatMap { $0 }) == Set(0..<330).subtracting(reference))
    }

    @Test func ackRangeSetIsBoundedAndForgetsTheOldest() {
        var received = AckRangeSet(maximumRanges: 32)
        // Every other packet number: each is its own range.
        for number in stride(from: UInt64(0), to: 200, by: 2) {
            let inserted = received.insert(number)
            #expect(inserted)
        }
        #expect(received.descendingRanges(limit: 1000).count == 32)
        #expect(received.descendingRanges().first == 198...198)
        #expect(received.isDuplicate(0))
        let old = received.insert(4)
        let duplicate = received.insert(198)
        let fresh = received.insert(197)
        #expect(!old && !duplicate && fresh)
        #expect(received.descendingRanges().first == 196...198)
    }

    @Test func ackTrackerAcknowledgesEverySecondPacketOrAfterTheDelay() throws {
        var tracker = AckTracker<TestInstant>(threshold: 2, maxAckDelay: .milliseconds(25))
        tracker.onPacketReceived(0, isAckEliciting: true, at: .zero)
        #expect(!tracker.isDue(at: .zero))
        #expect(tracker.deadline == TestInstant(offset: .milliseconds(25)))
        #expect(tracker.isDue(at: TestInstant(offset: .milliseconds(25))))
        tracker.onPacketReceived(1, isAckEliciting: true, at: .zero)
        #expect(tracker.isDue(at: .zero))
        let frame = try unwrap(tracker.makeFrame(at: TestInstant(offset: .milliseconds(3))))
        #expect(frame.ranges == [0...1])
        #expect(frame.ackDelayMicroseconds == 3000)
        #expect(!tracker.isPending)
        // A gap makes the next ACK immediate.
        tracker.onPacketReceived(5, isAckEliciting: true, at: .zero)
        #expect(tracker.isDue(at: .zero))
        let second = tracker.makeFrame(at: .zero)
        #expect(second?.ranges == [5...5, 0...1])
        // Non-ack-eliciting packets never make an ACK due.
        tracker.onPacketReceived(6, isAckEliciting: false, at: .zero)
        #expect(!tracker.isPending)
    }

    @Test(arguments: 0..<6)
    func reassemblyDeliversEveryByteOnceInOrder(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let file = InMemoryFile(size: 20_000, seed: seed)
        var stream = UDPReceiveStream(start: 1000, window: 1 << 20)
        try stream.setEnd(20_000)
        var output = ByteBuffer()
        var next: UInt64 = 1000
        while !stream.isComplete {
            let offset = UInt64.random(in: 0..<20_000, using: &generator)
            let length = Int.random(in: 0...min(1500, 20_000 - Int(offset)), using: &generator)
            let data = file.bytes.getSlice(at: Int(offset), length: length)!
            let result = try stream.insert(offset: offset, data: data)
            #expect(result == .accepted)
            for (chunkOffset, chunk) in stream.popContiguous() {
                #expect(chunkOffset == next)
                next += UInt64(chunk.readableBytes)
                output.writeImmutableBuffer(chunk)
            }
        }
        #expect(output == file.bytes.getSlice(at: 1000, length: 19_000))
        #expect(stream.bufferedBytes == 0)
    }

    @Test func receiveStreamEnforcesCreditAndEnd() throws {
        var stream = UDPReceiveStream(start: 0, window: 10_000)
        let data = ByteBuffer(repeating: 1, count: 100)
        #expect(throws: FerryUDPError(.flowControlError)) {
            _ = try stream.insert(offset: 9_950, data: data)
        }
        let result = try stream.insert(offset: 5_000, data: data)
        #expect(result == .accepted)
        #expect(throws: FerryUDPError(.finalOffsetError)) {
            try stream.setEnd(5_050)
        }
        try stream.setEnd(6_000)
        #expect(throws: FerryUDPError(.finalOffsetError)) {
            _ = try stream.insert(offset: 5_950, data: data)
        }
    }

    /// Sends datagrams at `now` while the pacer lets them go; returns how many went.
    static func burst(_ pacer: inout Pacer<TestInstant>, size: Int, rate: Double, at now: TestInstant) -> Int {
        var sent = 0
        while pacer.releaseTime(for: size, rate: rate).map({ $0 <= now }) ?? true, sent < 100_000 {
            pacer.onPacketSent(bytes: size, rate: rate, at: now)
            sent += 1
        }
        return sent
    }

    @Test func pacerBurstsOneMillisecondAtTheRate() {
        // 100 MB/s: 1 ms is 100 kB, about 68 datagrams of 1472 bytes (once the bucket has refilled).
        var pacer = Pacer<TestInstant>(maxDatagramSize: 1472)
        #expect(Self.burst(&pacer, size: 1472, rate: 100e6, at: .zero) == 10)
        let refilled = Self.burst(&pacer, size: 1472, rate: 100e6, at: TestInstant(offset: .seconds(1)))
        #expect((67...69).contains(refilled))
        // Half a millisecond later half a burst's worth is back.
        let half = Self.burst(&pacer, size: 1472, rate: 100e6, at: TestInstant(offset: .seconds(1) + .microseconds(500)))
        #expect((33...35).contains(half))
    }

    @Test func pacerBurstsAreBoundedAtBothEnds() {
        // 1 MB/s: 1 ms is 1000 bytes, less than a datagram; two datagrams still go together.
        var slow = Pacer<TestInstant>(maxDatagramSize: 1472)
        _ = Self.burst(&slow, size: 1472, rate: 1e6, at: .zero)
        #expect(Self.burst(&slow, size: 1472, rate: 1e6, at: TestInstant(offset: .seconds(10))) == 2)
        // 10 GB/s: 1 ms is 10 MB, but a burst stops at 1 MiB.
        var fast = Pacer<TestInstant>(maxDatagramSize: 1472)
        _ = Self.burst(&fast, size: 1472, rate: 10e9, at: .zero)
        let burst = Self.burst(&fast, size: 1472, rate: 10e9, at: TestInstant(offset: .seconds(10)))
        #expect(burst == (1 << 20) / 1472)
    }

    @Test func windowedMaxFilterForgetsOldMaxima() {
        var filter = WindowedMaxFilter(window: 10)
        filter.update(100, at: 0)
        filter.update(50, at: 1)
        #expect(filter.best == 100)
        for round in 2...11 {
            filter.update(60, at: UInt64(round))
        }
        #expect(filter.best == 60)
        filter.update(70, at: 12)
        #expect(filter.best == 70)
    }
}

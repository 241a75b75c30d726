import NIOCore
import Testing

@testable import FerryUDP

/// The implementation details that keep the per-datagram path cheap, checked against the plain
/// behaviour they replace.
@Suite("Implementation")
struct ImplementationTests {
    @Test func sentFramesRecordEveryFrameOnce() {
        var frames = SentFrames()
        #expect(frames.isEmpty)
        frames.append(.stream(10..<20))
        frames.append(.response)
        frames.append(.ping)
        frames.append(.stream(30..<40))
        frames.append(.stream(50..<60))
        frames.append(.ping)
        #expect(!frames.isEmpty)
        #expect(frames.contains(.response) && frames.contains(.ping) && frames.contains(.stream(30..<40)))
        #expect(!frames.contains(.done) && !frames.contains(.stream(10..<21)))
        #expect(Array(frames) == [.ping, .response, .stream(10..<20), .stream(30..<40), .stream(50..<60)])
        let literal: SentFrames = [.maxData, .done, .request]
        #expect(Array(literal) == [.request, .maxData, .done])
        #expect(Array(SentFrames()).isEmpty)
    }

    @Test func monotonicInstantsCountNanoseconds() {
        let start = UDPMonotonicInstant(nanoseconds: 1_000)
        let later = start.advanced(by: .milliseconds(25))
        #expect(later.nanoseconds == 25_001_000)
        #expect(start.duration(to: later) == .milliseconds(25))
        #expect(later.duration(to: start) == .milliseconds(-25))
        #expect(start < later && later.advanced(by: .microseconds(-1)) < later)
        #expect(start.advanced(by: .seconds(Int64.max)).nanoseconds == .max)
        #expect(Duration.seconds(-2).wholeNanoseconds == -2_000_000_000)
        #expect(Duration.nanoseconds(1_234_567_891).wholeNanoseconds == 1_234_567_891)
        #expect(UDPMonotonicInstant.now <= UDPMonotonicInstant.now)
    }

    /// A source that only implements the required `read(offset:count:)`: the default
    /// `read(offset:count:into:)` must append exactly those bytes.
    @Test func defaultReadIntoAppendsTheBytes() throws {
        let file = InMemoryFile(size: 4096, seed: 3)
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        try file.read(offset: 100, count: 50, into: &buffer)
        #expect(buffer.readableBytes == 53)
        #expect(buffer.getSlice(at: 3, length: 50) == file.bytes.getSlice(at: 100, length: 50))
    }

    /// Datagrams built into one shared buffer are byte for byte those built one buffer each.
    @Test func appendedDatagramsAreTheSameBytes() throws {
        let (server, client, id) = try StateMachineTests.connected()
        var plain = server
        var batched = server
        var plainClient = client
        var batchedClient = client
        for round in 0..<20 {
            let now = TestInstant(offset: .microseconds(100 * round))
            let datagrams = StateMachineTests.drain(&plain, id, at: now)
            var batch = ByteBuffer(bytes: [0xAB, 0xCD])
            var sizes: [Int] = []
            while let size = batched.appendNextDatagram(for: id, to: &batch, at: now) {
                sizes.append(size)
            }
            #expect(sizes == datagrams.map(\.readableBytes))
            batch.moveReaderIndex(forwardBy: 2)
            for datagram in datagrams {
                #expect(batch.readSlice(length: datagram.readableBytes) == datagram)
                plainClient.receive(datagram: datagram, at: now)
                batchedClient.receive(datagram: datagram, at: now)
            }
            #expect(batch.readableBytes == 0)
            while let ack = plainClient.nextDatagram(at: now) {
                #expect(batchedClient.nextDatagram(at: now) == ack)
                _ = plain.receive(datagram: ack, from: StateMachineTests.address, at: now)
                _ = batched.receive(datagram: ack, from: StateMachineTests.address, at: now)
            }
        }
        #expect(plain.statistics(of: id) == batched.statistics(of: id))
        #expect((plain.statistics(of: id)?.datagramsSent ?? 0) > 100)
    }
}

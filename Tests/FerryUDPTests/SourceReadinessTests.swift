import FerryTestSupport
import FerryUDP
import NIOCore
import Testing

/// A file whose bytes become readable only up to a limit the test moves, as a source that reads
/// ahead on a thread pool does.
final class GatedFile: UDPFileSource {
    let file: InMemoryFile
    /// Bytes below this offset are readable now.
    var readableUpTo: UInt64 = 0
    /// Offsets asked about while not readable (the source would start a read there).
    var misses: [UInt64] = []

    init(_ file: InMemoryFile) {
        self.file = file
    }

    var size: UInt64 { self.file.size }
    var sha256Hex: String { self.file.sha256Hex }

    func read(offset: UInt64, count: Int) throws -> ByteBuffer {
        precondition(offset + UInt64(count) <= self.readableUpTo, "read beyond what was readable")
        return try self.file.read(offset: offset, count: count)
    }

    func readableBytes(at offset: UInt64) -> Int {
        guard offset < self.readableUpTo else {
            self.misses.append(offset)
            return 0
        }
        return Int(self.readableUpTo - offset)
    }
}

struct GatedProvider: UDPFileProvider {
    let file: GatedFile
    func lookup(name: String) -> Result<any UDPFileSource, FerryUDPError> { .success(self.file) }
}

@Suite("Sender and a file source that reads ahead")
struct SourceReadinessTests {
    typealias Server = UDPServerDemultiplexer<TestInstant, UDPAddress>

    @Test("the sender sends only readable bytes, waits (no PING loop) while the source reads, and resumes when asked again")
    func waitsForTheSource() throws {
        let gated = GatedFile(InMemoryFile(size: 100_000, seed: 3))
        var server = Server(provider: GatedProvider(file: gated), now: .zero, generator: SeededGenerator(seed: 1))
        var client = HandshakeTests.makeClient()
        let id = try #require(HandshakeTests.handshake(&server, &client))
        // Nothing readable yet: the RESPONSE goes out, then nothing, and the machine says it waits.
        let first = StateMachineTests.drain(&server, id, at: .zero)
        #expect(first.count == 1)
        #expect(StateMachineTests.streamFrames(in: first).isEmpty)
        #expect(server.isWaitingForData(id))
        #expect(gated.misses.first == 0)
        #expect(StateMachineTests.drain(&server, id, at: .zero).isEmpty, "no busy loop while waiting")
        // 3000 bytes arrive: exactly those go out, cut at the readable end.
        gated.readableUpTo = 3000
        let second = StateMachineTests.drain(&server, id, at: .zero)
        let frames = StateMachineTests.streamFrames(in: second)
        #expect(frames.map(\.offset).first == 0)
        #expect(frames.reduce(0) { $0 + $1.data.readableBytes } == 3000)
        #expect(server.isWaitingForData(id))
        // All of it: the transfer completes with the client.
        gated.readableUpTo = gated.size
        var now = TestInstant.zero
        var rounds = 0
        for datagram in first + second { client.receive(datagram: datagram, at: now) }
        while client.outcome == nil, rounds < 10_000 {
            rounds += 1
            now = now.advanced(by: .milliseconds(1))
            while let datagram = client.nextDatagram(at: now) {
                _ = server.receive(datagram: datagram, from: HandshakeTests.clientAddress, at: now)
            }
            server.handleTimeout(for: id, at: now)
            for datagram in StateMachineTests.drain(&server, id, at: now) { client.receive(datagram: datagram, at: now) }
            if let deadline = client.nextDeadline, deadline <= now { client.handleTimeout(at: now) }
            while let event = client.nextEvent() {
                if case .data(_, let bytes) = event { client.consumed(bytes: bytes.readableBytes) }
            }
        }
        #expect(client.outcome == .completed)
    }
}

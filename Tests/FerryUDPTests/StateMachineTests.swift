import FerryTestSupport
import FerryUDP
import NIOCore
import Testing

/// The sender and receiver state machines driven by hand, one datagram at a time.
@Suite("State machines")
struct StateMachineTests {
    typealias Server = UDPServerDemultiplexer<TestInstant, UDPAddress>
    typealias Client = UDPReceiverStateMachine<TestInstant>

    static let address = HandshakeTests.clientAddress
    static let file = InMemoryFile(size: 1 << 20, seed: 21)

    /// A server and a client that completed the handshake; the server's first flight is pending.
    static func connected(receiveWindow: Int = 16 << 20) throws -> (Server, Client, UDPConnectionID) {
        var server = Server(
            provider: InMemoryProvider(files: ["big.bin": Self.file]),
            now: .zero,
            generator: SeededGenerator(seed: 5)
        )
        var generator = SeededGenerator(seed: 6)
        var configuration = UDPConfiguration()
        configuration.receiveWindow = receiveWindow
        var client = Client(
            configuration: configuration,
            request: UDPRequestFrame(name: "big.bin"),
            localID: .random(using: &generator),
            now: .zero
        )
        let id = try unwrap(HandshakeTests.handshake(&server, &client))
        return (server, client, id)
    }

    static func drain(_ server: inout Server, _ id: UDPConnectionID, at now: TestInstant) -> [ByteBuffer] {
        var datagrams: [ByteBuffer] = []
        while let (datagram, _) = server.nextDatagram(for: id, at: now) {
            datagrams.append(datagram)
        }
        return datagrams
    }

    static func streamFrames(in datagrams: [ByteBuffer]) -> [UDPStreamFrame] {
        datagrams.flatMap { datagram -> [UDPStreamFrame] in
            let frames = (try? UDPPacket(decoding: datagram))?.frames ?? []
            return frames.compactMap { frame -> UDPStreamFrame? in
                if case .stream(let stream) = frame { return stream }
                return nil
            }
        }
    }

    @Test func firstFlightIsTheInitialWindow() throws {
        var (server, _, id) = try Self.connected()
        let flight = Self.drain(&server, id, at: .zero)
        #expect(flight.count == UDPConfiguration().initialWindowPackets)
        #expect(flight.allSatisfy { $0.readableBytes <= UDPWireLimits.defaultMaximumDatagramSize })
        // Blocked by the window, the sender only wants to be woken for its timers.
        let deadline = try unwrap(server.nextDeadline(for: id))
        #expect(deadline > .zero)
        // Offsets are contiguous from the start.
        var next: UInt64 = 0
        for frame in Self.streamFrames(in: flight) {
            #expect(frame.offset == next)
            next = frame.endOffset
        }
    }

    @Test func packetNumbersAreNeverReused() throws {
        var (server, client, id) = try Self.connected()
        var numbers = Set<UInt64>()
        var now = TestInstant.zero
        for _ in 0..<40 {
            now = now.advanced(by: .milliseconds(5))
            server.handleTimeout(for: id, at: now)
            for datagram in Self.drain(&server, id, at: now) {
                let number = try UDPPacket(decoding: datagram).header.packetNumber
                #expect(numbers.insert(number).inserted)
                // Every other packet is lost, so data is retransmitted in new packets.
                if number % 2 == 0 {
                    client.receive(datagram: datagram, at: now)
                }
            }
            while let ack = client.nextDatagram(at: now) {
                _ = server.receive(datagram: ack, from: Self.address, at: now)
            }
            while client.nextEvent() != nil {}
        }
        #expect((server.statistics(of: id)?.streamBytesRetransmitted ?? 0) > 0)
    }

    @Test func senderIsPacedAndNeverAsksToBeWokenInThePast() throws {
        var (server, client, id) = try Self.connected()
        var now = TestInstant.zero
        var sendTimes: [TestInstant] = []
        // A lossless 10 ms RTT exchange driven by hand in 100 µs steps until the transfer ends.
        var inFlightToClient: [(TestInstant, ByteBuffer)] = []
        var inFlightToServer: [(TestInstant, ByteBuffer)] = []
        while server.connectionCount > 0, now < TestInstant(offset: .seconds(2)) {
            for (_, datagram) in inFlightToClient.filter({ $0.0 <= now }) {
                client.receive(datagram: datagram, at: now)
            }
            inFlightToClient.removeAll { $0.0 <= now }
            while let event = client.nextEvent() {
                if case .data(_, let bytes) = event {
                    client.consumed(bytes: bytes.readableBytes)
                }
            }
            while let ack = client.nextDatagram(at: now) {
                inFlightToServer.append((now.advanced(by: .milliseconds(5)), ack))
            }
            for (_, datagram) in inFlightToServer.filter({ $0.0 <= now }) {
                _ = server.receive(datagram: datagram, from: Self.address, at: now)
            }
            inFlightToServer.removeAll { $0.0 <= now }
            server.handleTimeout(for: id, at: now)
            for datagram in Self.drain(&server, id, at: now) {
                sendTimes.append(now)
                inFlightToClient.append((now.advanced(by: .milliseconds(5)), datagram))
            }
            if let deadline = server.nextDeadline(for: id) {
                #expect(deadline > now)
            }
            now = now.advanced(by: .microseconds(100))
        }
        #expect(client.outcome == .completed)
        // Once the first window is out the sender never bursts more than the pacer allows, although
        // nothing but pacing limits it on this infinitely fast path.
        let paced = sendTimes.filter { $0 > .zero }
        let perInstant = Dictionary(grouping: paced, by: { $0 }).values.map(\.count)
        #expect(paced.count > 500)
        #expect((perInstant.max() ?? 0) <= 10)
    }

    @Test func senderNeverExceedsTheCredit() throws {
        var (server, client, id) = try Self.connected(receiveWindow: 5_000)
        let flight = Self.drain(&server, id, at: .zero)
        let frames = Self.streamFrames(in: flight)
        #expect(frames.map(\.endOffset).max() == 5_000)
        // Delivering and consuming grants more credit through MAX_DATA.
        for datagram in flight {
            client.receive(datagram: datagram, at: .zero)
        }
        while let event = client.nextEvent() {
            if case .data(_, let bytes) = event {
                client.consumed(bytes: bytes.readableBytes)
            }
        }
        #expect(client.advertisedCredit == 5_000)
        var maxData: UInt64?
        while let datagram = client.nextDatagram(at: .zero) {
            for case .maxData(let offset) in try UDPPacket(decoding: datagram).frames {
                maxData = offset
            }
            _ = server.receive(datagram: datagram, from: Self.address, at: .zero)
        }
        #expect(maxData == 10_000)
        let more = Self.streamFrames(in: Self.drain(&server, id, at: .zero))
        #expect(more.map(\.endOffset).max() == 10_000)
    }

    @Test func ackOfAnUnsentPacketClosesWithProtocolViolation() throws {
        var (server, client, id) = try Self.connected()
        _ = Self.drain(&server, id, at: .zero)
        let forged = UDPPacket(
            header: UDPPacketHeader(type: .transfer, destinationID: id, sourceID: client.localID, packetNumber: 50),
            frames: [.ack(UDPAckFrame(ranges: [1_000...1_000], ackDelayMicroseconds: 0)!)]
        )
        _ = server.receive(datagram: forged.encoded(), from: Self.address, at: .zero)
        let close = Self.drain(&server, id, at: .zero)
        #expect(close.count == 1)
        client.receive(datagram: close[0], at: .zero)
        #expect(client.outcome == .failed(FerryUDPError(.protocolViolation)))
    }

    @Test func doneAtTheWrongOffsetClosesWithFinalOffsetError() throws {
        var (server, client, id) = try Self.connected()
        _ = Self.drain(&server, id, at: .zero)
        let forged = UDPPacket(
            header: UDPPacketHeader(type: .transfer, destinationID: id, sourceID: client.localID, packetNumber: 50),
            frames: [.done(finalOffset: 12)]
        )
        _ = server.receive(datagram: forged.encoded(), from: Self.address, at: .zero)
        let close = try unwrap(Self.drain(&server, id, at: .zero).first)
        #expect(UDPPacket.closeFrame(in: close)?.code == .finalOffsetError)
        // The connection lingers to repeat its CLOSE, then is gone.
        #expect(server.connectionCount == 1)
        server.handleTimeout(for: id, at: TestInstant(offset: .seconds(30)))
        #expect(server.connectionCount == 0)
        var closedWith: UDPTransferOutcome?
        while let event = server.nextEvent() {
            if case .closed(_, _, let outcome, _) = event {
                closedWith = outcome
            }
        }
        #expect(closedWith == .failed(FerryUDPError(.finalOffsetError)))
    }

    @Test func clientAbortReachesTheServer() throws {
        var (server, client, id) = try Self.connected()
        for datagram in Self.drain(&server, id, at: .zero) {
            client.receive(datagram: datagram, at: .zero)
        }
        client.abort(FerryUDPError(.ioError, reason: "disk full"))
        var sawClose = false
        while let datagram = client.nextDatagram(at: .zero) {
            sawClose = sawClose || UDPPacket.closeFrame(in: datagram) != nil
            _ = server.receive(datagram: datagram, from: Self.address, at: .zero)
        }
        #expect(sawClose)
        #expect(client.outcome == .failed(FerryUDPError(.ioError)))
        #expect(server.connectionCount == 0)
        var closedWith: UDPTransferOutcome?
        while let event = server.nextEvent() {
            if case .closed(_, _, let outcome, _) = event {
                closedWith = outcome
            }
        }
        #expect(closedWith == .failed(FerryUDPError(.ioError)))
    }

    @Test func serverSendingClientFramesIsAProtocolViolation() throws {
        var (server, client, id) = try Self.connected()
        for datagram in Self.drain(&server, id, at: .zero) {
            client.receive(datagram: datagram, at: .zero)
        }
        let forged = UDPPacket(
            header: UDPPacketHeader(type: .transfer, destinationID: client.localID, sourceID: id, packetNumber: 500),
            frames: [.maxData(1)]
        )
        client.receive(datagram: forged.encoded(), at: .zero)
        let close = try unwrap(client.nextDatagram(at: .zero))
        #expect(UDPPacket.closeFrame(in: close)?.code == .protocolViolation)
        #expect(client.outcome == .failed(FerryUDPError(.protocolViolation)))
    }

    @Test func lateInitialAfterTheTransferEndedIsDropped() throws {
        var server = Server(
            provider: InMemoryProvider(files: ["big.bin": Self.file]),
            now: .zero,
            generator: SeededGenerator(seed: 5)
        )
        var client = HandshakeTests.makeClient(name: "big.bin")
        let first = try unwrap(client.nextDatagram(at: .zero))
        guard case .reply(let retry, _) = server.receive(datagram: first, from: Self.address, at: .zero) else {
            Issue.record("expected a RETRY")
            return
        }
        client.receive(datagram: retry, at: .zero)
        let initial = try unwrap(client.nextDatagram(at: .zero))
        guard case .delivered(let id) = server.receive(datagram: initial, from: Self.address, at: .zero) else {
            Issue.record("expected a connection")
            return
        }
        server.abort(id, error: FerryUDPError(.cancelled), at: .zero)
        _ = Self.drain(&server, id, at: .zero)
        server.handleTimeout(for: id, at: TestInstant(offset: .seconds(5)))
        #expect(server.connectionCount == 0)
        let late = server.receive(datagram: initial, from: Self.address, at: TestInstant(offset: .seconds(6)))
        #expect(late == .dropped(.closedConnection))
        #expect(server.connectionCount == 0)
    }
}

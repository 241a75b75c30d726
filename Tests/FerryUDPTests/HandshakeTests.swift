import FerryTestSupport
import FerryUDP
import NIOCore
import Testing

/// The stateless cookie handshake, anti-amplification, and the demultiplexer's routing rules.
@Suite("Handshake and demultiplexing")
struct HandshakeTests {
    typealias Server = UDPServerDemultiplexer<TestInstant, UDPAddress>
    typealias Client = UDPReceiverStateMachine<TestInstant>

    static let clientAddress = UDPAddress(ip: [192, 0, 2, 1], port: 5000)
    static let otherAddress = UDPAddress(ip: [192, 0, 2, 99], port: 5000)
    static let file = InMemoryFile(size: 100_000, seed: 7)

    static func makeServer(maximumConnections: Int = 1024) -> Server {
        Server(
            configuration: .init(maximumConnections: maximumConnections, maximumConnectionsPerAddress: 1024),
            provider: InMemoryProvider(files: ["a.bin": Self.file]),
            now: .zero,
            generator: SeededGenerator(seed: 1)
        )
    }

    /// Runs the first round trip (INITIAL, RETRY) from `clientAddress` and returns the client's second
    /// INITIAL, the one that carries the cookie.
    static func initialWithCookie(client: inout Client, server: inout Server) throws -> ByteBuffer {
        let first = try unwrap(client.nextDatagram(at: .zero))
        guard case .reply(let retry, _) = server.receive(datagram: first, from: clientAddress, at: .zero) else {
            throw NoRetry()
        }
        client.receive(datagram: retry, at: .zero)
        return try unwrap(client.nextDatagram(at: .zero))
    }

    struct NoRetry: Error, CustomStringConvertible {
        var description: String { "the server did not answer the first INITIAL with a RETRY" }
    }

    static func makeClient(name: String = "a.bin", start: UInt64 = 0, seed: UInt64 = 2) -> Client {
        var generator = SeededGenerator(seed: seed)
        return Client(
            configuration: UDPConfiguration(),
            request: UDPRequestFrame(name: name, start: start),
            localID: .random(using: &generator),
            now: .zero
        )
    }

    /// Runs INITIAL → RETRY → INITIAL(cookie) and returns the connection ID the server created.
    static func handshake(
        _ server: inout Server,
        _ client: inout Client,
        at now: TestInstant = .zero
    ) -> UDPConnectionID? {
        guard let first = client.nextDatagram(at: now),
            case .reply(let retry, _) = server.receive(datagram: first, from: Self.clientAddress, at: now)
        else {
            return nil
        }
        client.receive(datagram: retry, at: now)
        guard let second = client.nextDatagram(at: now),
            case .delivered(let id) = server.receive(datagram: second, from: Self.clientAddress, at: now)
        else {
            return nil
        }
        return id
    }

    @Test func initialIsPaddedToTwelveHundredBytes() throws {
        var client = Self.makeClient()
        let initial = try unwrap(client.nextDatagram(at: .zero))
        #expect(initial.readableBytes == UDPWireLimits.minimumInitialDatagramSize)
        let packet = try UDPPacket(decoding: initial)
        #expect(packet.header.type == .initial)
        #expect(packet.header.destinationID == .unset)
        #expect(packet.header.sourceID == client.localID)
        #expect(packet.frames.contains(.request(UDPRequestFrame(name: "a.bin"))))
    }

    @Test func theFirstInitialGoesOutTwiceAndTheOneWithTheCookieOnce() throws {
        var client = Self.makeClient()
        var server = Self.makeServer()
        let first = try unwrap(client.nextDatagram(at: .zero))
        let copy = try unwrap(client.nextDatagram(at: .zero))
        #expect(client.nextDatagram(at: .zero) == nil)
        let (firstPacket, copyPacket) = (try UDPPacket(decoding: first), try UDPPacket(decoding: copy))
        #expect(copyPacket.header.type == .initial && copy.readableBytes == UDPWireLimits.minimumInitialDatagramSize)
        #expect(copyPacket.header.packetNumber != firstPacket.header.packetNumber, "packet numbers are never reused")
        #expect(copyPacket.frames == firstPacket.frames)
        // Each copy gets its own RETRY; the client takes the first and sends one INITIAL with the cookie.
        guard case .reply(let retry, _) = server.receive(datagram: first, from: Self.clientAddress, at: .zero),
            case .reply(let secondRetry, _) = server.receive(datagram: copy, from: Self.clientAddress, at: .zero)
        else {
            throw NoRetry()
        }
        client.receive(datagram: retry, at: .zero)
        client.receive(datagram: secondRetry, at: .zero)
        let withCookie = try UDPPacket(decoding: try unwrap(client.nextDatagram(at: .zero)))
        #expect(!withCookie.header.token.isEmpty)
        #expect(client.nextDatagram(at: .zero) == nil)
    }

    @Test func spoofedInitialGetsOnlyASmallRetryAndNoState() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let initial = try unwrap(client.nextDatagram(at: .zero))
        // The "client" never answers: its address was spoofed.
        guard
            case .reply(let retry, let address) = server.receive(datagram: initial, from: Self.clientAddress, at: .zero)
        else {
            Issue.record("expected a RETRY")
            return
        }
        #expect(address == Self.clientAddress)
        #expect(retry.readableBytes <= 3 * initial.readableBytes)
        #expect(retry.readableBytes < 64)
        let packet = try UDPPacket(decoding: retry)
        #expect(packet.header.type == .retry)
        #expect(packet.header.destinationID == client.localID)
        #expect(server.connectionCount == 0)
        #expect(server.nextEvent() == nil)
    }

    @Test func serverNeverSendsMoreThanThreeTimesWhatAnUnvalidatedAddressSent() throws {
        var server = Self.makeServer()
        var received = 0
        var sent = 0
        var generator = SeededGenerator(seed: 11)
        for round in 0..<200 {
            // Many clients behind one spoofed address, half of them with forged cookies.
            var initial: ByteBuffer
            if round % 2 == 0 {
                var client = Self.makeClient(seed: UInt64(round))
                initial = try unwrap(client.nextDatagram(at: .zero))
            } else {
                let token = (0..<36).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let header = UDPPacketHeader(
                    type: .initial,
                    destinationID: .unset,
                    sourceID: .random(using: &generator),
                    token: token,
                    packetNumber: 1
                )
                var packet = UDPPacket(header: header, frames: [.request(UDPRequestFrame(name: "a.bin"))])
                packet.frames.append(.padding(length: 1200 - packet.encodedLength))
                initial = packet.encoded()
            }
            received += initial.readableBytes
            if case .reply(let reply, _) = server.receive(datagram: initial, from: Self.otherAddress, at: .zero) {
                sent += reply.readableBytes
            }
        }
        #expect(sent <= 3 * received)
        #expect(sent * 10 < received)
        #expect(server.connectionCount == 0)
    }

    @Test func shortInitialIsDropped() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let initial = try unwrap(client.nextDatagram(at: .zero))
        let truncated = initial.getSlice(at: 0, length: 1199)!
        #expect(server.receive(datagram: truncated, from: Self.clientAddress, at: .zero) == .dropped(.initialTooSmall))
    }

    @Test func cookieValidatesAndCreatesOneConnection() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let id = try #require(Self.handshake(&server, &client))
        #expect(server.connectionCount == 1)
        #expect(server.address(of: id) == Self.clientAddress)
        guard case .opened(let openedID, _, let request) = server.nextEvent() else {
            Issue.record("expected an opened event")
            return
        }
        #expect(openedID == id)
        #expect(request.name == "a.bin")
        // The first answer carries RESPONSE and data, addressed to the client's connection ID.
        let (datagram, address) = try unwrap(server.nextDatagram(for: id, at: .zero))
        #expect(address == Self.clientAddress)
        #expect(datagram.readableBytes <= 1200)
        let packet = try UDPPacket(decoding: datagram)
        #expect(packet.header.destinationID == client.localID)
        #expect(packet.header.sourceID == id)
        client.receive(datagram: datagram, at: .zero)
        #expect(
            client.nextEvent()
                == .response(
                    UDPResponseFrame(fileSize: 100_000, start: 0, end: 100_000, sha256Hex: Self.file.sha256Hex)
                )
        )
    }

    @Test func theCookiesRoundTripIsTheServersFirstRTTSample() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let first = try unwrap(client.nextDatagram(at: .zero))
        guard case .reply(let retry, _) = server.receive(datagram: first, from: Self.clientAddress, at: .zero) else {
            throw NoRetry()
        }
        // The RETRY takes 7 ms to reach the client, the INITIAL with the cookie 7 ms to come back.
        let roundTrip = Duration.milliseconds(14)
        client.receive(datagram: retry, at: TestInstant(offset: .milliseconds(7)))
        let second = try unwrap(client.nextDatagram(at: TestInstant(offset: .milliseconds(7))))
        guard case .delivered(let id) = server.receive(datagram: second, from: Self.clientAddress, at: TestInstant(offset: roundTrip))
        else {
            throw NoRetry()
        }
        let statistics = try #require(server.statistics(of: id))
        #expect(statistics.smoothedRTT == roundTrip)
        #expect(statistics.minimumRTT == roundTrip)
        // So the first probe timeout is tens of milliseconds, not the initial RTT's second.
        let deadline = try #require(server.nextDeadline(for: id))
        #expect(TestInstant(offset: roundTrip).duration(to: deadline) < .milliseconds(200))
    }

    @Test func aCookieOlderThanTheInitialRTTSeedsNothing() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let first = try unwrap(client.nextDatagram(at: .zero))
        guard case .reply(let retry, _) = server.receive(datagram: first, from: Self.clientAddress, at: .zero) else {
            throw NoRetry()
        }
        client.receive(datagram: retry, at: .zero)
        let second = try unwrap(client.nextDatagram(at: .zero))
        let late = TestInstant(offset: .seconds(2))
        guard case .delivered(let id) = server.receive(datagram: second, from: Self.clientAddress, at: late) else {
            throw NoRetry()
        }
        #expect(server.statistics(of: id)?.smoothedRTT == UDPConfiguration().initialRTT)
    }

    @Test func retransmittedInitialReachesTheSameConnection() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let second = try Self.initialWithCookie(client: &client, server: &server)
        let id1 = server.receive(datagram: second, from: Self.clientAddress, at: .zero)
        let id2 = server.receive(datagram: second, from: Self.clientAddress, at: TestInstant(offset: .milliseconds(5)))
        #expect(id1 == id2)
        #expect(server.connectionCount == 1)
    }

    @Test func cookieIsBoundToTheAddress() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let second = try Self.initialWithCookie(client: &client, server: &server)
        // Replayed from elsewhere, the cookie is worthless: just another RETRY, no state.
        guard case .reply(let reply, _) = server.receive(datagram: second, from: Self.otherAddress, at: .zero) else {
            Issue.record("expected a RETRY")
            return
        }
        #expect(try UDPPacket(decoding: reply).header.type == .retry)
        #expect(server.connectionCount == 0)
    }

    @Test func expiredCookieGetsAFreshRetry() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let second = try Self.initialWithCookie(client: &client, server: &server)
        let late = TestInstant(offset: .seconds(45))
        guard case .reply(let reply, _) = server.receive(datagram: second, from: Self.clientAddress, at: late) else {
            Issue.record("expected a RETRY")
            return
        }
        #expect(try UDPPacket(decoding: reply).header.type == .retry)
        #expect(server.connectionCount == 0)
    }

    @Test func unknownConnectionIDsAndWrongAddressesAreDropped() throws {
        var server = Self.makeServer()
        var client = Self.makeClient()
        let id = try #require(Self.handshake(&server, &client))
        while let (datagram, _) = server.nextDatagram(for: id, at: .zero) {
            client.receive(datagram: datagram, at: .zero)
        }
        let ack = try unwrap(client.nextDatagram(at: .zero))
        var unknown = ack
        unknown.setInteger(id.rawValue &+ 1, at: 2)
        #expect(server.receive(datagram: unknown, from: Self.clientAddress, at: .zero) == .dropped(.unknownConnection))
        let statistics = server.statistics(of: id)
        #expect(server.receive(datagram: ack, from: Self.otherAddress, at: .zero) == .dropped(.wrongAddress))
        #expect(server.statistics(of: id) == statistics)
        #expect(server.receive(datagram: ack, from: Self.clientAddress, at: .zero) == .delivered(id))
    }

    @Test(arguments: [
        ("missing.bin", UInt64(0), FerryUDPError.Code.notFound),
        ("dir/a.bin", UInt64(0), FerryUDPError.Code.badName),
        ("a.bin", UInt64(100_001), FerryUDPError.Code.badRange),
    ])
    func unservableRequestsGetAStatelessClose(name: String, start: UInt64, code: FerryUDPError.Code) throws {
        var server = Self.makeServer()
        var client = Self.makeClient(name: name, start: start)
        let second = try Self.initialWithCookie(client: &client, server: &server)
        guard case .reply(let close, _) = server.receive(datagram: second, from: Self.clientAddress, at: .zero) else {
            Issue.record("expected a CLOSE")
            return
        }
        #expect(close.readableBytes < 3 * second.readableBytes)
        #expect(server.connectionCount == 0)
        client.receive(datagram: close, at: .zero)
        #expect(client.outcome == .failed(FerryUDPError(code)))
        #expect(client.nextEvent() == .closed(.failed(FerryUDPError(code))))
    }

    @Test func serverAtCapacityAnswersBusy() throws {
        var server = Self.makeServer(maximumConnections: 2)
        for seed in 0..<2 {
            var client = Self.makeClient(seed: UInt64(seed))
            #expect(Self.handshake(&server, &client) != nil)
        }
        var third = Self.makeClient(seed: 99)
        let first = try unwrap(third.nextDatagram(at: .zero))
        guard case .reply(let retry, _) = server.receive(datagram: first, from: Self.clientAddress, at: .zero) else {
            Issue.record("expected a RETRY")
            return
        }
        third.receive(datagram: retry, at: .zero)
        let second = try unwrap(third.nextDatagram(at: .zero))
        guard case .reply(let close, _) = server.receive(datagram: second, from: Self.clientAddress, at: .zero) else {
            Issue.record("expected a CLOSE")
            return
        }
        third.receive(datagram: close, at: .zero)
        #expect(third.outcome == .failed(FerryUDPError(.busy)))
        #expect(server.connectionCount == 2)
    }

    @Test func connectionIDsAreRandomAndDistinct() {
        var server = Self.makeServer()
        var ids = Set<UDPConnectionID>()
        for seed in 0..<50 {
            var client = Self.makeClient(seed: UInt64(seed) + 1000)
            if let id = Self.handshake(&server, &client) {
                ids.insert(id)
                #expect(id != .unset)
            }
        }
        #expect(ids.count == 50)
    }
}

import FerryTestSupport
import FerryUDP
import NIOCore
import Testing

/// The server's bounds against crowds and half-open handshakes, and its shutdown, on the pure
/// demultiplexer.
@Suite("Server limits: per-address cap, handshake timeout, draining")
struct ServerLimitsTests {
    typealias Server = UDPServerDemultiplexer<TestInstant, UDPAddress>
    typealias Client = UDPReceiverStateMachine<TestInstant>

    static let file = InMemoryFile(size: 100_000, seed: 7)

    static func makeServer(maximumConnections: Int = 1024, perAddress: Int = 16) -> Server {
        Server(
            configuration: .init(maximumConnections: maximumConnections, maximumConnectionsPerAddress: perAddress),
            provider: InMemoryProvider(files: ["a.bin": Self.file]),
            now: .zero,
            generator: SeededGenerator(seed: 1)
        )
    }

    static func makeClient(seed: UInt64) -> Client {
        var generator = SeededGenerator(seed: seed)
        return Client(configuration: UDPConfiguration(), request: UDPRequestFrame(name: "a.bin"),
                      localID: .random(using: &generator), now: .zero)
    }

    /// INITIAL → RETRY → INITIAL(cookie) from `address`: what the server answered the second INITIAL.
    static func handshake(_ server: inout Server, _ client: inout Client, from address: UDPAddress,
                          at now: TestInstant = .zero) throws -> Server.ReceiveResult {
        let first = try unwrap(client.nextDatagram(at: now))
        guard case .reply(let retry, _) = server.receive(datagram: first, from: address, at: now) else {
            throw HandshakeFailure()
        }
        client.receive(datagram: retry, at: now)
        return server.receive(datagram: try unwrap(client.nextDatagram(at: now)), from: address, at: now)
    }

    struct HandshakeFailure: Error {}

    /// Drains what connection `id` sends now into `client` (or nowhere, for `nil`).
    static func deliver(_ server: inout Server, _ id: UDPConnectionID, to client: inout Client?, at now: TestInstant) {
        while let (datagram, _) = server.nextDatagram(for: id, at: now) {
            client?.receive(datagram: datagram, at: now)
        }
    }

    @Test("one address gets its cap of transfers (any port); more get CLOSE(busy); another address still gets in")
    func perAddressCap() throws {
        var server = Self.makeServer(perAddress: 2)
        for port in UInt16(1)...2 {
            var client = Self.makeClient(seed: UInt64(port))
            guard case .delivered = try Self.handshake(&server, &client, from: UDPAddress(ip: [192, 0, 2, 1], port: port)) else {
                Issue.record("expected a connection")
                return
            }
        }
        var third = Self.makeClient(seed: 3)
        guard case .reply(let close, _) = try Self.handshake(&server, &third, from: UDPAddress(ip: [192, 0, 2, 1], port: 3)) else {
            Issue.record("expected a CLOSE")
            return
        }
        third.receive(datagram: close, at: .zero)
        #expect(third.outcome == .failed(FerryUDPError(.busy)))
        #expect(UDPPacket.closeFrame(in: close)?.reason == "2 transfers from your address")
        var other = Self.makeClient(seed: 4)
        guard case .delivered = try Self.handshake(&server, &other, from: UDPAddress(ip: [192, 0, 2, 2], port: 1)) else {
            Issue.record("another address was refused")
            return
        }
        #expect(server.connectionCount == 3)
    }

    @Test("a handshake the client never acknowledges is dropped after the handshake timeout, not the idle timeout")
    func halfOpenHandshakeIsDropped() throws {
        var server = Self.makeServer()
        var client = Self.makeClient(seed: 1)
        guard case .delivered(let id) = try Self.handshake(&server, &client, from: UDPAddress(ip: [192, 0, 2, 1], port: 1)) else {
            Issue.record("expected a connection")
            return
        }
        var nobody: Client? = nil
        Self.deliver(&server, id, to: &nobody, at: .zero)
        let timeout = UDPConfiguration().handshakeTimeout
        #expect(timeout < UDPConfiguration().idleTimeout)
        var now = TestInstant.zero
        // Probe timeouts come and go (the server retransmits); the connection ends at the handshake timeout.
        while let deadline = server.nextDeadline(for: id), deadline <= TestInstant(offset: timeout) {
            now = deadline
            server.handleTimeout(for: id, at: now)
            Self.deliver(&server, id, to: &nobody, at: now)
        }
        #expect(server.connectionCount == 0)
        #expect(now == TestInstant(offset: timeout))
        while let event = server.nextEvent() {
            if case .closed(_, _, let outcome, _) = event {
                #expect(outcome == .failed(FerryUDPError(.idleTimeout)))
            }
        }
    }

    @Test("a client that acknowledges keeps its connection past the handshake timeout")
    func acknowledgedConnectionSurvives() throws {
        var server = Self.makeServer()
        var client: Client? = Self.makeClient(seed: 1)
        guard case .delivered(let id) = try Self.handshake(&server, &client!, from: UDPAddress(ip: [192, 0, 2, 1], port: 1)) else {
            Issue.record("expected a connection")
            return
        }
        Self.deliver(&server, id, to: &client, at: .zero)
        // The client's ACK, a little later.
        let later = TestInstant(offset: .milliseconds(30))
        while let ack = client!.nextDatagram(at: later) {
            _ = server.receive(datagram: ack, from: UDPAddress(ip: [192, 0, 2, 1], port: 1), at: later)
        }
        let past = TestInstant(offset: UDPConfiguration().handshakeTimeout + .milliseconds(1))
        server.handleTimeout(for: id, at: past)
        #expect(server.connectionCount == 1)
    }

    @Test("a flood of half-open handshakes from many addresses is capped, and gone after the handshake timeout")
    func halfOpenFlood() throws {
        var server = Self.makeServer(maximumConnections: 64, perAddress: 4)
        var ids: [UDPConnectionID] = []
        var refused = 0
        for index in 0..<256 {
            var client = Self.makeClient(seed: UInt64(index) + 100)
            let address = UDPAddress(ip: [198, 51, 100, UInt8(index / 8)], port: UInt16(index))
            switch try Self.handshake(&server, &client, from: address) {
            case .delivered(let id): ids.append(id)
            case .reply: refused += 1
            case .dropped: Issue.record("dropped")
            }
        }
        #expect(ids.count == 64)
        #expect(refused == 192)
        let after = TestInstant(offset: UDPConfiguration().handshakeTimeout)
        for id in ids { server.handleTimeout(for: id, at: after) }
        #expect(server.connectionCount == 0)
    }

    @Test("draining: new requests get CLOSE(busy, shutting down); running transfers go on until aborted with a CLOSE")
    func draining() throws {
        var server = Self.makeServer()
        var client: Client? = Self.makeClient(seed: 1)
        let address = UDPAddress(ip: [192, 0, 2, 1], port: 1)
        guard case .delivered(let id) = try Self.handshake(&server, &client!, from: address) else {
            Issue.record("expected a connection")
            return
        }
        Self.deliver(&server, id, to: &client, at: .zero)
        server.beginDraining()
        #expect(server.isDraining)
        var late = Self.makeClient(seed: 2)
        guard case .reply(let refusal, _) = try Self.handshake(&server, &late, from: UDPAddress(ip: [192, 0, 2, 2], port: 1)) else {
            Issue.record("expected a CLOSE")
            return
        }
        #expect(UDPPacket.closeFrame(in: refusal) == UDPCloseFrame(code: .busy, reason: "shutting down"))
        #expect(server.connectionCount == 1)
        let now = TestInstant(offset: .milliseconds(10))
        #expect(server.abortAll(FerryUDPError(.busy, reason: "the peer is shutting down"), at: now) == [id])
        Self.deliver(&server, id, to: &client, at: now)
        #expect(client!.outcome == .failed(FerryUDPError(.busy)))
    }
}

import Crypto
import NIOCore

/// The server's side of the shared UDP port: validates addresses statelessly, creates one
/// ``UDPSenderStateMachine`` per accepted request and routes datagrams to it by connection ID.
///
/// A pure value like the state machines it holds. For every datagram the driver calls
/// ``receive(datagram:from:at:)``, which
/// - drops it silently when it is not a well-formed Ferry packet, names an unknown connection, or
///   comes from another address than the connection's;
/// - answers an INITIAL without a valid cookie with a RETRY carrying one (≈ 55 bytes in answer to
///   ≥ 1200: far below the 3× anti-amplification limit), keeping **no state**;
/// - answers a cookie-bearing INITIAL whose request cannot be served with a stateless CLOSE
///   (`notFound`, `badName`, `badRange`, or `busy` beyond ``Configuration/maximumConnections``);
/// - otherwise creates or finds the connection and feeds it the packet.
///
/// The driver then drains ``nextDatagram(for:at:)`` for the connection it was given and re-arms
/// that connection's timer at ``nextDeadline(for:)``, calling ``handleTimeout(for:at:)`` when it
/// fires. Closed connections are removed and reported through ``nextEvent()``.
public struct UDPServerDemultiplexer<Instant: InstantProtocol, Address: UDPPeerAddress>
where Instant.Duration == Duration {
    /// Server-wide settings.
    public struct Configuration: Sendable {
        /// Settings of every connection.
        public var connection: UDPConfiguration
        /// The most transfers served at once (closing ones included); more get CLOSE(busy).
        public var maximumConnections: Int
        /// The most transfers one IP address (any port) holds at once; more get CLOSE(busy).
        /// Cookies prove the address, so one machine cannot take the others' share by spoofing.
        public var maximumConnectionsPerAddress: Int
        /// How long a RETRY cookie stays valid.
        public var cookieLifetime: Duration

        /// The defaults: 1024 connections, 16 per address, 30-second cookies.
        public init(
            connection: UDPConfiguration = UDPConfiguration(),
            maximumConnections: Int = 1024,
            maximumConnectionsPerAddress: Int = 16,
            cookieLifetime: Duration = .seconds(30)
        ) {
            self.connection = connection
            self.maximumConnections = maximumConnections
            self.maximumConnectionsPerAddress = maximumConnectionsPerAddress
            self.cookieLifetime = cookieLifetime
        }
    }

    /// Why a datagram was dropped (for counters and debug logs).
    public enum DropReason: Hashable, Sendable {
        /// Not a well-formed Ferry packet.
        case malformed
        /// An INITIAL shorter than 1200 bytes.
        case initialTooSmall
        /// No connection has that ID.
        case unknownConnection
        /// The connection exists but belongs to another address.
        case wrongAddress
        /// A packet type or content a server never accepts (RETRY, INITIAL without REQUEST, …).
        case unexpectedPacket
        /// A late INITIAL of a transfer that already ended.
        case closedConnection
    }

    /// What to do with a received datagram.
    public enum ReceiveResult: Hashable, Sendable {
        /// Nothing: the datagram was discarded.
        case dropped(DropReason)
        /// Send this stateless reply (RETRY or CLOSE) to the datagram's source.
        case reply(ByteBuffer, to: Address)
        /// The datagram went to this connection: drain its ``nextDatagram(for:at:)``.
        case delivered(UDPConnectionID)
    }

    /// Connection lifecycle notifications.
    public enum Event: Hashable, Sendable {
        /// A transfer started.
        case opened(UDPConnectionID, Address, UDPRequestFrame)
        /// A transfer ended and its state was discarded.
        case closed(UDPConnectionID, Address, UDPTransferOutcome, UDPConnectionStatistics)
    }

    /// One live transfer.
    struct Connection {
        var address: Address
        var clientID: UDPConnectionID
        var machine: UDPSenderStateMachine<Instant>
    }

    struct InitialRoute: Hashable {
        var address: Address
        var clientID: UDPConnectionID
    }

    let configuration: Configuration
    let validator: UDPAddressValidator<Instant>
    let provider: any UDPFileProvider
    var generator: any RandomNumberGenerator
    /// Where each live connection is in ``slots``.
    ///
    /// Connections are large values (a state machine with its buffers), touched several times per
    /// datagram. They live in an array rather than as dictionary values because array elements are
    /// read and mutated in place, whereas reading a dictionary value (`connections[id]?.address`,
    /// `values[index]`) copies the whole connection — retaining and then releasing each of its
    /// buffers — and mutating one through `connections[id]?` moves it out and back.
    var slotIndex: [UDPConnectionID: Int] = [:]
    /// The live connections, densely packed: a removed one is replaced by the last.
    var slots: [Connection] = []
    var initialRoutes: [InitialRoute: UDPConnectionID] = [:]
    /// Live connections per IP address (``UDPPeerAddress/hostBytes``).
    var connectionsPerHost: [[UInt8]: Int] = [:]
    /// Set by ``beginDraining()``: no new transfer is accepted.
    public private(set) var isDraining = false
    /// Client attempts that ended within a cookie lifetime, so a late copy of their INITIAL does
    /// not start the transfer again; bounded like the connections.
    var recentlyClosed: [InitialRoute: Instant] = [:]
    var closedOrder = CircularBuffer<(route: InitialRoute, closedAt: Instant)>()
    var events = CircularBuffer<Event>()

    /// Creates a demultiplexer.
    ///
    /// - Parameters:
    ///   - secretKey: the cookie key; a fresh random key per process is right (cookies are short-lived).
    ///   - provider: finds files by name.
    ///   - now: the current instant; cookie timestamps count seconds from it.
    ///   - generator: the source of connection IDs (a seeded one in tests).
    public init(
        configuration: Configuration = Configuration(),
        secretKey: SymmetricKey = SymmetricKey(size: .bits256),
        provider: any UDPFileProvider,
        now: Instant,
        generator: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) {
        precondition(configuration.maximumConnections > 0)
        configuration.connection.validate()
        self.configuration = configuration
        self.validator = UDPAddressValidator(key: secretKey, epoch: now, lifetime: configuration.cookieLifetime)
        self.provider = provider
        self.generator = generator
    }

    /// The number of live connections.
    public var connectionCount: Int { self.slots.count }

    /// The IDs of the live connections, sorted.
    public var connectionIDs: [UDPConnectionID] {
        self.slotIndex.keys.sorted { $0.rawValue < $1.rawValue }
    }

    /// The address a connection belongs to.
    public func address(of id: UDPConnectionID) -> Address? {
        self.slotIndex[id].map { self.inspect($0) { $0.address } }
    }

    /// A connection's counters.
    public func statistics(of id: UDPConnectionID) -> UDPConnectionStatistics? {
        self.slotIndex[id].map { self.inspect($0) { $0.machine.statistics } }
    }

    /// Whether the connection has data to send but waits for its file source (see
    /// ``UDPFileSource/readableBytes(at:)``): drain it again once the source has read.
    public func isWaitingForData(_ id: UDPConnectionID) -> Bool {
        self.slotIndex[id].map { self.inspect($0) { $0.machine.isWaitingForData } } ?? false
    }

    /// The next lifecycle event, or `nil`.
    public mutating func nextEvent() -> Event? {
        self.events.popFirst()
    }

    /// Classifies and routes one datagram received from `address`.
    public mutating func receive(datagram: ByteBuffer, from address: Address, at now: Instant) -> ReceiveResult {
        guard let packet = try? UDPPacket(decoding: datagram) else {
            return .dropped(.malformed)
        }
        switch packet.header.type {
        case .retry:
            return .dropped(.unexpectedPacket)
        case .transfer:
            return self.route(
                packet,
                size: datagram.readableBytes,
                to: packet.header.destinationID,
                from: address,
                at: now
            )
        case .initial:
            guard datagram.readableBytes >= UDPWireLimits.minimumInitialDatagramSize else {
                return .dropped(.initialTooSmall)
            }
            return self.receiveInitial(packet, size: datagram.readableBytes, from: address, at: now)
        }
    }

    /// The next datagram a connection wants to send now, with its destination.
    public mutating func nextDatagram(
        for id: UDPConnectionID,
        at now: Instant
    ) -> (datagram: ByteBuffer, address: Address)? {
        guard let slot = self.slotIndex[id] else {
            return nil
        }
        guard let datagram = self.slots[slot].machine.nextDatagram(at: now) else {
            self.reapIfClosed(id, at: now)
            return nil
        }
        return (datagram, self.inspect(slot) { $0.address })
    }

    /// Like ``nextDatagram(for:at:)``, but appends the datagram to `buffer` and returns its size
    /// (`nil` leaves `buffer` as it was); every datagram of a connection goes to its
    /// ``address(of:)``. Lets a driver build a batch of datagrams in one buffer.
    public mutating func appendNextDatagram(for id: UDPConnectionID, to buffer: inout ByteBuffer, at now: Instant) -> Int? {
        guard let slot = self.slotIndex[id] else {
            return nil
        }
        guard let size = self.slots[slot].machine.appendNextDatagram(to: &buffer, at: now) else {
            self.reapIfClosed(id, at: now)
            return nil
        }
        return size
    }

    /// When the connection's timer must fire, or `nil` for an unknown or closed connection.
    public func nextDeadline(for id: UDPConnectionID) -> Instant? {
        self.slotIndex[id].flatMap { self.inspect($0) { $0.machine.nextDeadline } }
    }

    /// Runs a connection's expired timers; then drain ``nextDatagram(for:at:)``.
    public mutating func handleTimeout(for id: UDPConnectionID, at now: Instant) {
        guard let slot = self.slotIndex[id] else {
            return
        }
        self.slots[slot].machine.handleTimeout(at: now)
        self.reapIfClosed(id, at: now)
    }

    /// Stops accepting transfers (shutdown): a new request gets CLOSE(busy); running ones go on.
    public mutating func beginDraining() {
        self.isDraining = true
    }

    /// Ends every live connection with `error` (each sends its CLOSE); returns their IDs, whose
    /// ``nextDatagram(for:at:)`` the driver then drains.
    public mutating func abortAll(_ error: FerryUDPError, at now: Instant) -> [UDPConnectionID] {
        let ids = Array(self.slotIndex.keys)
        for id in ids {
            self.abort(id, error: error, at: now)
        }
        return ids
    }

    /// Ends a connection from the server's side (e.g. shutdown); then drain ``nextDatagram(for:at:)``.
    public mutating func abort(_ id: UDPConnectionID, error: FerryUDPError, at now: Instant) {
        guard let slot = self.slotIndex[id] else {
            return
        }
        self.slots[slot].machine.abort(error, at: now)
    }

    mutating func route(
        _ packet: UDPPacket,
        size: Int,
        to id: UDPConnectionID,
        from address: Address,
        at now: Instant
    ) -> ReceiveResult {
        guard let slot = self.slotIndex[id] else {
            return .dropped(.unknownConnection)
        }
        guard self.inspect(slot, { $0.address == address }) else {
            return .dropped(.wrongAddress)
        }
        self.slots[slot].machine.receive(packet: packet, size: size, at: now)
        self.reapIfClosed(id, at: now)
        return .delivered(id)
    }

    private mutating func reapIfClosed(_ id: UDPConnectionID, at now: Instant) {
        guard let slot = self.slotIndex[id], let outcome = self.inspect(slot, { $0.machine.outcome }) else {
            return
        }
        let connection = self.removeConnection(id, at: slot)
        let route = InitialRoute(address: connection.address, clientID: connection.clientID)
        self.initialRoutes[route] = nil
        self.rememberClosed(route, at: now)
        self.events.append(.closed(id, connection.address, outcome, connection.machine.statistics))
    }

    /// Reads from the connection in `slot` in place. Through the array's getter, even
    /// `slots[slot].machine.nextDeadline` copies the whole connection first (retaining and releasing
    /// each of its buffers) to call the computed property on the copy.
    @inline(__always)
    func inspect<Result>(_ slot: Int, _ body: (borrowing Connection) -> Result) -> Result {
        self.slots.withUnsafeBufferPointer { body($0[slot]) }
    }

    /// Stores a new connection.
    mutating func insertConnection(_ connection: Connection, id: UDPConnectionID) {
        self.slotIndex[id] = self.slots.count
        self.connectionsPerHost[connection.address.hostBytes, default: 0] += 1
        self.slots.append(connection)
    }

    /// Removes the connection in `slot` (whose ID is `id`), moving the last one into its place.
    private mutating func removeConnection(_ id: UDPConnectionID, at slot: Int) -> Connection {
        self.slotIndex[id] = nil
        let last = self.slots.count - 1
        if slot != last {
            self.slots.swapAt(slot, last)
            self.slotIndex[self.slots[slot].machine.localID] = slot
        }
        let connection = self.slots.removeLast()
        let host = connection.address.hostBytes
        if let count = self.connectionsPerHost[host], count > 1 {
            self.connectionsPerHost[host] = count - 1
        } else {
            self.connectionsPerHost[host] = nil
        }
        return connection
    }
}

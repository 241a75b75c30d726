import FerryTestSupport
import FerryUDP
import NIOCore

/// Runs one client ⇄ server transfer through two ``LossyLink``s in simulated time.
///
/// An event loop over a priority queue of datagram arrivals, state-machine timers and consumer
/// ticks. Every delivered byte is compared with the source file, every STREAM frame the server
/// sends is checked against the credit the client advertised, and the run ends when both sides
/// are closed (or at the time limit).
struct TransferSimulation {
    struct Setup: Sendable {
        var fileSize = 1 << 20
        var fileSeed: UInt64 = 1
        var start: UInt64 = 0
        var end: UInt64 = UDPWireLimits.toEndOfFile
        var forward = LossyLink.Configuration()
        var backward = LossyLink.Configuration()
        var connection = UDPConfiguration()
        /// Bytes per second the client's "disk" consumes; `nil` consumes at once.
        var consumerRate: Double?
        var seed: UInt64 = 1
        /// Both directions drop everything from this instant on.
        var vanishAt: Duration?
        /// From this instant on, the server-to-client direction carries datagrams of at most this size.
        var shrinkForward: (at: Duration, maximumDatagramSize: Int)?
        var timeLimit: Duration = .seconds(120)
        /// The name the client asks for (the server only has ``TransferSimulation/fileName``).
        var fileName = TransferSimulation.fileName
        /// Prints every datagram and state change (for debugging a failing seed).
        var trace = false
    }

    struct Result: Sendable {
        var clientOutcome: UDPTransferOutcome?
        var serverOutcome: UDPTransferOutcome?
        var response: UDPResponseFrame?
        var deliveredBytes = 0
        var mismatches = 0
        var completeAt: TestInstant?
        var clientClosedAt: TestInstant?
        var serverClosedAt: TestInstant?
        var creditViolations = 0
        /// Times a state machine, just pumped, asked to be woken before the current instant.
        var pastDeadlines = 0
        var clientStatistics = UDPConnectionStatistics()
        var serverStatistics: UDPConnectionStatistics?
        var forward = LossyLink.Counters()
        var backward = LossyLink.Counters()
        var events = 0

        /// Delivered bytes per second of simulated time, until the client had every byte.
        var goodput: Double {
            guard let completeAt, completeAt.seconds > 0 else {
                return 0
            }
            return Double(self.deliveredBytes) / completeAt.seconds
        }
    }

    private enum Event {
        case toServer(ByteBuffer)
        case toClient(ByteBuffer)
        case clientTimer(Int)
        case serverTimer(UDPConnectionID, Int)
        case consumerTick
    }

    static let clientAddress = UDPAddress(ip: [10, 0, 0, 2], port: 40_000)
    static let fileName = "file.bin"

    private let setup: Setup
    private let file: InMemoryFile
    private var queue = EventQueue<Event>()
    private var now = TestInstant.zero
    private var server: UDPServerDemultiplexer<TestInstant, UDPAddress>
    private var client: UDPReceiverStateMachine<TestInstant>
    private var forward: LossyLink
    private var backward: LossyLink
    private var clientTimer: (deadline: TestInstant, generation: Int)?
    private var serverTimers: [UDPConnectionID: (deadline: TestInstant, generation: Int)] = [:]
    private var generation = 0
    private var expectedOffset: UInt64
    private var unconsumed = 0
    private var consumerCredit = 0.0
    private var result = Result()

    /// Runs a transfer and returns what happened. The simulation computes without a pause, so it
    /// runs off the cooperative pool (``CPUBoundWork``).
    static func run(_ setup: Setup) async -> Result {
        await CPUBoundWork.run {
            var simulation = TransferSimulation(setup: setup)
            return simulation.run()
        }
    }

    private init(setup: Setup) {
        self.setup = setup
        self.file = InMemoryFile(size: setup.fileSize, seed: setup.fileSeed)
        var generator = SeededGenerator(seed: setup.seed)
        self.server = UDPServerDemultiplexer(
            configuration: .init(connection: setup.connection),
            provider: InMemoryProvider(files: [Self.fileName: self.file]),
            now: .zero,
            generator: SeededGenerator(seed: generator.next())
        )
        self.client = UDPReceiverStateMachine(
            configuration: setup.connection,
            request: UDPRequestFrame(name: setup.fileName, start: setup.start, end: setup.end),
            localID: .random(using: &generator),
            now: .zero
        )
        self.forward = LossyLink(setup.forward, seed: generator.next())
        self.backward = LossyLink(setup.backward, seed: generator.next())
        if let shrink = setup.shrinkForward {
            self.forward.shrink = (TestInstant(offset: shrink.at), shrink.maximumDatagramSize)
        }
        if let vanishAt = setup.vanishAt {
            self.forward.blackholeFrom = TestInstant(offset: vanishAt)
            self.backward.blackholeFrom = TestInstant(offset: vanishAt)
        }
        self.expectedOffset = setup.start
    }

    private mutating func run() -> Result {
        self.pumpClient()
        if self.setup.consumerRate != nil {
            self.queue.push(.consumerTick, at: self.now.advanced(by: .milliseconds(1)))
        }
        let limit = TestInstant(offset: self.setup.timeLimit)
        while let (time, event) = self.queue.pop(), time <= limit {
            precondition(time >= self.now, "time went backwards")
            self.now = time
            self.result.events += 1
            self.handle(event)
            if self.client.isClosed, self.server.connectionCount == 0 {
                break
            }
        }
        self.result.clientOutcome = self.client.outcome
        self.result.clientStatistics = self.client.statistics
        self.result.forward = self.forward.counters
        self.result.backward = self.backward.counters
        return self.result
    }

    private func trace(_ direction: String, _ datagram: ByteBuffer, arrivals: Int) {
        guard self.setup.trace else {
            return
        }
        let summary =
            (try? UDPPacket(decoding: datagram)).map { packet in
                "\(packet.header.type) #\(packet.header.packetNumber) "
                    + packet.frames.map { frame -> String in
                        switch frame {
                        case .stream(let stream): "STREAM(\(stream.offset)+\(stream.data.readableBytes))"
                        case .ack(let ack): "ACK(\(ack.ranges))"
                        case .padding: "PAD"
                        default: "\(frame)"
                        }
                    }.joined(separator: " ")
            } ?? "garbage"
        print("\(self.now) \(direction) \(arrivals == 0 ? "LOST " : "")\(summary)")
    }

    private mutating func handle(_ event: Event) {
        switch event {
        case .toServer(let datagram):
            switch self.server.receive(datagram: datagram, from: Self.clientAddress, at: self.now) {
            case .dropped:
                break
            case .reply(let reply, _):
                self.sendToClient(reply)
            case .delivered(let id):
                self.pumpServer(id)
            }
        case .toClient(let datagram):
            self.client.receive(datagram: datagram, at: self.now)
            self.pumpClient()
        case .clientTimer(let generation):
            guard self.clientTimer?.generation == generation else {
                return
            }
            self.clientTimer = nil
            self.client.handleTimeout(at: self.now)
            self.pumpClient()
        case .serverTimer(let id, let generation):
            guard self.serverTimers[id]?.generation == generation else {
                return
            }
            self.serverTimers[id] = nil
            self.server.handleTimeout(for: id, at: self.now)
            self.pumpServer(id)
        case .consumerTick:
            self.consumeSlowly()
        }
    }

    private mutating func pumpClient() {
        var progressed = true
        while progressed {
            progressed = false
            while let event = self.client.nextEvent() {
                progressed = true
                self.onClientEvent(event)
            }
            while let datagram = self.client.nextDatagram(at: self.now) {
                progressed = true
                let arrivals = self.backward.transmit(datagram, at: self.now)
                self.trace("C→S", datagram, arrivals: arrivals.count)
                for (arrival, copy) in arrivals {
                    self.queue.push(.toServer(copy), at: arrival)
                }
            }
        }
        let deadline = self.client.nextDeadline
        if let deadline, deadline < self.now {
            self.result.pastDeadlines += 1
        }
        if self.setup.trace, deadline != self.clientTimer?.deadline {
            print("\(self.now) client deadline \(deadline.map { "\($0)" } ?? "none")")
        }
        if let deadline, deadline != self.clientTimer?.deadline {
            self.generation += 1
            self.clientTimer = (deadline, self.generation)
            self.queue.push(.clientTimer(self.generation), at: max(deadline, self.now))
        } else if deadline == nil {
            self.clientTimer = nil
        }
    }

    private mutating func pumpServer(_ id: UDPConnectionID) {
        while let (datagram, address) = self.server.nextDatagram(for: id, at: self.now) {
            precondition(address == Self.clientAddress)
            self.sendToClient(datagram)
        }
        while let event = self.server.nextEvent() {
            if case .closed(_, _, let outcome, let statistics) = event {
                self.result.serverOutcome = outcome
                self.result.serverStatistics = statistics
                self.result.serverClosedAt = self.now
            }
        }
        let deadline = self.server.nextDeadline(for: id)
        if let deadline, deadline < self.now {
            self.result.pastDeadlines += 1
        }
        if let deadline, deadline != self.serverTimers[id]?.deadline {
            self.generation += 1
            self.serverTimers[id] = (deadline, self.generation)
            self.queue.push(.serverTimer(id, self.generation), at: max(deadline, self.now))
        } else if deadline == nil {
            self.serverTimers[id] = nil
        }
    }

    private mutating func sendToClient(_ datagram: ByteBuffer) {
        self.checkCredit(datagram)
        let arrivals = self.forward.transmit(datagram, at: self.now)
        self.trace("S→C", datagram, arrivals: arrivals.count)
        for (arrival, copy) in arrivals {
            self.queue.push(.toClient(copy), at: arrival)
        }
    }

    /// The sender must never send a byte at or beyond the credit the client advertised.
    private mutating func checkCredit(_ datagram: ByteBuffer) {
        guard let packet = try? UDPPacket(decoding: datagram) else {
            return
        }
        for case .stream(let frame) in packet.frames where frame.endOffset > self.client.advertisedCredit {
            self.result.creditViolations += 1
        }
    }

    private mutating func onClientEvent(_ event: UDPReceiverEvent) {
        if self.setup.trace, case .data = event {
        } else if self.setup.trace {
            print("\(self.now) client event \(event)")
        }
        switch event {
        case .response(let response):
            self.result.response = response
        case .data(let offset, let bytes):
            if offset != self.expectedOffset
                || self.file.bytes.getSlice(at: Int(offset), length: bytes.readableBytes) != bytes
            {
                self.result.mismatches += 1
            }
            self.expectedOffset = offset + UInt64(bytes.readableBytes)
            self.result.deliveredBytes += bytes.readableBytes
            if self.setup.consumerRate == nil {
                self.client.consumed(bytes: bytes.readableBytes)
            } else {
                self.unconsumed += bytes.readableBytes
            }
        case .complete:
            self.result.completeAt = self.now
        case .closed:
            self.result.clientClosedAt = self.now
        }
    }

    private mutating func consumeSlowly() {
        guard let rate = self.setup.consumerRate, !self.client.isClosed else {
            return
        }
        self.consumerCredit = min(self.consumerCredit + rate / 1000, rate)
        let amount = min(self.unconsumed, Int(self.consumerCredit))
        if amount > 0 {
            self.unconsumed -= amount
            self.consumerCredit -= Double(amount)
            self.client.consumed(bytes: amount)
            self.pumpClient()
        }
        self.queue.push(.consumerTick, at: self.now.advanced(by: .milliseconds(1)))
    }
}

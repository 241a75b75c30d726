import Crypto
import FerryUDP
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The UDP packet decoder, the server's demultiplexer with its sender state machines, and the client's
/// receiver state machine, on a simulated link the input controls.
///
/// Real clients (``UDPReceiverStateMachine``) talk to one ``UDPServerDemultiplexer`` in simulated
/// time, so a valid handshake and transfer happen by themselves; each input byte is an operation on
/// the link: deliver, drop or corrupt the next datagram either way, inject raw bytes to either side
/// (optionally addressed to a live connection), let time pass, start another client. Whatever the
/// operations: no crash, every datagram either side sends decodes, a server never sends a STREAM byte
/// outside the file or different from the file, and a client never delivers wrong bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    var link = SimulatedLink()
    var input = ArraySlice(UnsafeBufferPointer(start: start, count: count))
    link.run(&input)
    return 0
}

/// Writes seed inputs when `FERRY_FUZZ_SEEDS` names a folder, then exits.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    guard let folder = getenv("FERRY_FUZZ_SEEDS").map({ String(cString: $0) }) else { return 0 }
    let both: [UInt8] = [Operation.deliverToServer, Operation.deliverToClient]
    func repeated(_ bytes: [UInt8], _ times: Int) -> [UInt8] { Array(repeating: bytes, count: times).flatMap { $0 } }
    let seeds: [String: [UInt8]] = [
        // A whole transfer: deliver both ways until done.
        "transfer": repeated(both, 80),
        // A lost packet, then time passes and the loss is repaired.
        "loss": repeated(both, 2) + [Operation.dropToClient, Operation.deliverToClient, Operation.tickCode, 3] + repeated(both, 20),
        // More clients: a range, a missing file, an empty file.
        "clients": [Operation.newClientCode, 1, Operation.newClientCode, 2, Operation.newClientCode, 3] + repeated(both, 30),
        // Corruption both ways.
        "corrupt": both + [Operation.corruptToServer, 17, 0xFF, Operation.deliverToClient, Operation.corruptToClient, 40, 0x01] + repeated(both, 20),
        // Raw bytes to the server, addressed to a live connection, and to a client.
        "inject": repeated(both, 2) + [Operation.injectToServer, 0x04, 27, 0xF1, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0x07]
            + [Operation.injectToClient, 0x04, 12, 0xF1, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0],
        // An INITIAL injected with the cookie dance done for it.
        "initial": [Operation.injectToServer, 0x09, 40, 0xF1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0,
                    0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x61],
        // Long silences: idle timeouts on both sides.
        "idle": both + [Operation.tickCode, 255, Operation.tickCode, 255, Operation.tickCode, 255],
    ]
    for (name, bytes) in seeds {
        let path = folder + "/" + name
        guard let file = fopen(path, "wb") else { continue }
        _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    exit(0)
}

/// The operations, one byte each (some followed by argument bytes); bytes are taken modulo 10.
enum Operation {
    static let deliverToServer: UInt8 = 0
    static let deliverToClient: UInt8 = 1
    static let dropToServer: UInt8 = 2
    static let dropToClient: UInt8 = 3
    /// Followed by a position byte and an XOR mask.
    static let corruptToServer: UInt8 = 4
    static let corruptToClient: UInt8 = 5
    /// Followed by a flags byte (bits 0-1: source address; bit 2: address to a live connection;
    /// bit 3: retry an INITIAL with the cookie the server returns), a length byte and the bytes.
    static let injectToServer: UInt8 = 6
    /// Followed by a flags byte (bits 0-1: client), a length byte and the bytes.
    static let injectToClient: UInt8 = 7
    /// Followed by a byte: milliseconds × 16 to let pass (then every timer due runs).
    static let tickCode: UInt8 = 8
    /// Followed by a byte choosing the request.
    static let newClientCode: UInt8 = 9
}

typealias Instant = UDPMonotonicInstant

/// A file of deterministic bytes.
struct PatternFile: UDPFileSource {
    let size: UInt64
    var sha256Hex: String { String(repeating: "ab", count: 32) }

    static func byte(at offset: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: offset &* 31 &+ offset >> 8) }

    func read(offset: UInt64, count: Int) throws -> ByteBuffer {
        precondition(offset + UInt64(count) <= size, "a read outside the file")
        var buffer = ByteBuffer()
        buffer.writeBytes((offset..<offset + UInt64(count)).lazy.map(Self.byte(at:)))
        return buffer
    }
}

struct Provider: UDPFileProvider {
    static let files: [String: UInt64] = ["a": 20_000, "empty": 0, "one": 1, "big": 300_000]

    func lookup(name: String) -> Result<any UDPFileSource, FerryUDPError> {
        guard let size = Self.files[name] else { return .failure(FerryUDPError(.notFound)) }
        return .success(PatternFile(size: size))
    }
}

/// A generator that never repeats within an input and needs no system call.
struct CountingGenerator: RandomNumberGenerator {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct Client {
    var machine: UDPReceiverStateMachine<Instant>
    var address: UDPAddress
    var request: UDPRequestFrame
    var size: UInt64?
}

struct SimulatedLink {
    static let key = SymmetricKey(data: [UInt8](repeating: 7, count: 32))
    static let addresses = (1...4).map { UDPAddress(ip: [127, 0, 0, UInt8($0)], port: 40_000 + UInt16($0)) }
    static let requests = [
        UDPRequestFrame(name: "a"),
        UDPRequestFrame(name: "a", start: 1000, end: 5000),
        UDPRequestFrame(name: "missing"),
        UDPRequestFrame(name: "empty"),
        UDPRequestFrame(name: "one", start: 0, end: 1),
        UDPRequestFrame(name: "big"),
        UDPRequestFrame(name: "a", start: 50_000),
    ]

    var now = Instant(nanoseconds: 1_000_000_000)
    var generator = CountingGenerator()
    var server: UDPServerDemultiplexer<Instant, UDPAddress>
    var clients: [Client] = []
    /// Datagrams in flight: (from client index, bytes) and (to address, bytes).
    var toServer: [(client: Int, datagram: ByteBuffer)] = []
    var toClient: [(address: UDPAddress, datagram: ByteBuffer)] = []
    var steps = 0

    init() {
        var configuration = UDPServerDemultiplexer<Instant, UDPAddress>.Configuration()
        configuration.maximumConnections = 4
        self.server = UDPServerDemultiplexer(
            configuration: configuration, secretKey: Self.key, provider: Provider(), now: now,
            generator: CountingGenerator(state: 1))
        self.addClient(kind: 0)
    }

    mutating func addClient(kind: UInt8) {
        guard clients.count < 4 else { return }
        let request = Self.requests[Int(kind) % Self.requests.count]
        let machine = UDPReceiverStateMachine<Instant>(
            configuration: UDPConfiguration(), request: request, localID: .random(using: &generator), now: now)
        clients.append(Client(machine: machine, address: Self.addresses[clients.count], request: request))
        pumpClient(clients.count - 1)
    }

    mutating func run(_ input: inout ArraySlice<UInt8>) {
        while let byte = input.popFirst(), steps < 500 {
            steps += 1
            switch byte % 10 {
            case Operation.deliverToServer: deliverToServer(mask: nil)
            case Operation.deliverToClient: deliverToClient(mask: nil)
            case Operation.dropToServer: if !toServer.isEmpty { toServer.removeFirst() }
            case Operation.dropToClient: if !toClient.isEmpty { toClient.removeFirst() }
            case Operation.corruptToServer: deliverToServer(mask: (input.popFirst() ?? 0, input.popFirst() ?? 0))
            case Operation.corruptToClient: deliverToClient(mask: (input.popFirst() ?? 0, input.popFirst() ?? 0))
            case Operation.injectToServer: injectToServer(&input)
            case Operation.injectToClient: injectToClient(&input)
            case Operation.tickCode: tick(by: .microseconds(Int64(input.popFirst() ?? 1) * 16_000))
            default: addClient(kind: input.popFirst() ?? 0)
            }
        }
        // Let the link run cleanly for a while: whatever happened, the machines must stay sane.
        for _ in 0..<50 {
            if toServer.isEmpty && toClient.isEmpty { tick(by: .milliseconds(200)) }
            deliverToServer(mask: nil)
            deliverToClient(mask: nil)
            if server.connectionCount == 0 && clients.allSatisfy(\.machine.isClosed) { break }
        }
    }

    // MARK: Delivery

    mutating func deliverToServer(mask: (position: UInt8, xor: UInt8)?) {
        guard !toServer.isEmpty else { return }
        let (client, sent) = toServer.removeFirst()
        var datagram = sent
        if let mask, datagram.readableBytes > 0 {
            let index = datagram.readerIndex + Int(mask.position) % datagram.readableBytes
            datagram.setInteger(datagram.getInteger(at: index, as: UInt8.self)! ^ mask.xor, at: index)
        }
        serverReceive(datagram, from: clients[client].address)
    }

    mutating func deliverToClient(mask: (position: UInt8, xor: UInt8)?) {
        guard !toClient.isEmpty else { return }
        let (address, sent) = toClient.removeFirst()
        var datagram = sent
        if let mask, datagram.readableBytes > 0 {
            let index = datagram.readerIndex + Int(mask.position) % datagram.readableBytes
            datagram.setInteger(datagram.getInteger(at: index, as: UInt8.self)! ^ mask.xor, at: index)
        }
        guard let index = clients.firstIndex(where: { $0.address == address }) else { return }
        clients[index].machine.receive(datagram: datagram, at: now)
        pumpClient(index)
    }

    mutating func injectToServer(_ input: inout ArraySlice<UInt8>) {
        let flags = input.popFirst() ?? 0
        let length = Int(input.popFirst() ?? 0)
        var bytes = Array(input.prefix(length))
        input = input.dropFirst(length)
        let address = Self.addresses[Int(flags & 3)]
        let ids = server.connectionIDs
        if flags & 4 != 0, !ids.isEmpty, bytes.count >= 10 {
            let id = ids[Int(flags >> 4) % ids.count].rawValue
            for index in 0..<8 { bytes[2 + index] = UInt8(truncatingIfNeeded: id >> (56 - 8 * UInt64(index))) }
        }
        if flags & 8 != 0 {
            // Pad like an INITIAL so the cookie path is reached.
            bytes += [UInt8](repeating: 0, count: max(0, UDPWireLimits.minimumInitialDatagramSize - bytes.count))
        }
        let datagram = ByteBuffer(bytes: bytes)
        let result = serverReceive(datagram, from: address)
        if flags & 8 != 0, case .reply(let reply, _) = result,
            let retry = try? UDPPacket(decoding: reply), retry.header.type == .retry,
            let packet = try? UDPPacket(decoding: datagram), packet.header.type == .initial
        {
            let header = UDPPacketHeader(
                type: .initial, destinationID: packet.header.destinationID, sourceID: packet.header.sourceID,
                token: retry.header.token, packetNumber: packet.header.packetNumber)
            serverReceive(UDPPacket(header: header, frames: packet.frames).encoded(), from: address)
        }
    }

    mutating func injectToClient(_ input: inout ArraySlice<UInt8>) {
        let flags = input.popFirst() ?? 0
        let length = Int(input.popFirst() ?? 0)
        var bytes = Array(input.prefix(length))
        input = input.dropFirst(length)
        guard !clients.isEmpty else { return }
        let index = Int(flags & 3) % clients.count
        if flags & 4 != 0, bytes.count >= 10 {
            let id = clients[index].machine.localID.rawValue
            for byte in 0..<8 { bytes[2 + byte] = UInt8(truncatingIfNeeded: id >> (56 - 8 * UInt64(byte))) }
        }
        clients[index].machine.receive(datagram: ByteBuffer(bytes: bytes), at: now)
        pumpClient(index)
    }

    @discardableResult
    mutating func serverReceive(_ datagram: ByteBuffer, from address: UDPAddress) -> UDPServerDemultiplexer<Instant, UDPAddress>.ReceiveResult {
        let result = server.receive(datagram: datagram, from: address, at: now)
        switch result {
        case .dropped:
            break
        case .reply(let reply, let to):
            checkServerDatagram(reply)
            toClient.append((to, reply))
        case .delivered(let id):
            pumpServer(id)
        }
        return result
    }

    // MARK: Pumping

    mutating func pumpServer(_ id: UDPConnectionID) {
        var sent = 0
        while sent < 64, let next = server.nextDatagram(for: id, at: now) {
            checkServerDatagram(next.datagram)
            toClient.append((next.address, next.datagram))
            sent += 1
        }
        while let event = server.nextEvent() {
            if case .opened(_, _, let request) = event {
                check(Provider.files[request.name] != nil, "opened a connection for a missing file \(request.name)")
            }
        }
        trimQueues()
    }

    mutating func pumpClient(_ index: Int) {
        var sent = 0
        while sent < 64, let datagram = clients[index].machine.nextDatagram(at: now) {
            check((try? UDPPacket(decoding: datagram)) != nil, "a client sent a datagram it cannot decode itself")
            toServer.append((index, datagram))
            sent += 1
        }
        while let event = clients[index].machine.nextEvent() {
            switch event {
            case .response(let response):
                clients[index].size = response.fileSize
            case .data(let offset, let bytes):
                // Only the simulated server talks on this link with real files: corrupted or injected
                // bytes may claim any content, so compare only what a real server could have sent.
                if let size = clients[index].size, Provider.files[clients[index].request.name] == size {
                    check(offset + UInt64(bytes.readableBytes) <= size, "client delivered bytes past the end of the file")
                }
                clients[index].machine.consumed(bytes: bytes.readableBytes)
            case .complete, .closed:
                break
            }
        }
        trimQueues()
    }

    /// Bounds the datagrams in flight (a real link drops what does not fit too).
    mutating func trimQueues() {
        if toServer.count > 256 { toServer.removeFirst(toServer.count - 256) }
        if toClient.count > 256 { toClient.removeFirst(toClient.count - 256) }
    }

    mutating func tick(by duration: Duration) {
        now = now.advanced(by: duration)
        for id in server.connectionIDs {
            if let deadline = server.nextDeadline(for: id), deadline <= now {
                server.handleTimeout(for: id, at: now)
                pumpServer(id)
            }
        }
        for index in clients.indices {
            if let deadline = clients[index].machine.nextDeadline, deadline <= now {
                clients[index].machine.handleTimeout(at: now)
                pumpClient(index)
            }
        }
    }

    /// What a server sends must decode, and STREAM bytes must be the file's.
    func checkServerDatagram(_ datagram: ByteBuffer) {
        guard let packet = try? UDPPacket(decoding: datagram) else {
            check(false, "the server sent a datagram that does not decode")
            return
        }
        check(datagram.readableBytes <= UDPWireLimits.maximumDatagramSize, "the server sent an oversized datagram")
        for frame in packet.frames {
            guard case .stream(let stream) = frame else { continue }
            let bytes = stream.data.readableBytesView
            for (index, byte) in bytes.enumerated() where byte != PatternFile.byte(at: stream.offset + UInt64(index)) {
                check(false, "the server sent a wrong byte at \(stream.offset + UInt64(index))")
            }
        }
    }

    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        guard !condition else { return }
        var text = "fuzz invariant broken: \(message())\n"
        text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
        abort()
    }
}

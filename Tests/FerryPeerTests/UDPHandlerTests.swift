@testable import FerryPeer
import FerryUDP
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// A file in memory for the UDP handlers' tests.
final class MemoryFileSource: UDPFileSource, Sendable {
    let bytes: ByteBuffer
    var size: UInt64 { UInt64(bytes.readableBytes) }
    let sha256Hex = String(repeating: "ab", count: 32)

    init(count: Int) {
        bytes = ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
    }

    func read(offset: UInt64, count: Int) throws -> ByteBuffer {
        bytes.getSlice(at: Int(offset), length: count)!
    }
}

struct MemoryProvider: UDPFileProvider {
    let file: MemoryFileSource
    func lookup(name: String) -> Result<any UDPFileSource, FerryUDPError> {
        name == "f" ? .success(file) : .failure(FerryUDPError(.notFound))
    }
}

/// The event loop's virtual time as the handlers' clock.
func virtualClock(_ loop: EmbeddedEventLoop) -> () -> UDPMonotonicInstant {
    { UDPMonotonicInstant(nanoseconds: Int64(loop.now.uptimeNanoseconds)) }
}

@Suite("UDP event-loop handlers on EmbeddedChannel")
struct UDPHandlerTests {
    static let clientAddress = try! SocketAddress(ipAddress: "192.0.2.1", port: 4000)
    static let serverAddress = try! SocketAddress(ipAddress: "192.0.2.2", port: 5000)

    @Test("DeadlineTimer: keeps a timer armed for an earlier deadline, replaces it for an earlier one, cancels for nil")
    func deadlineTimer() throws {
        let loop = EmbeddedEventLoop()
        let clock = virtualClock(loop)
        let start = clock()
        var timer = DeadlineTimer()
        var scheduled = 0
        var fired: [Int] = []
        func schedule(_ label: Int) -> (TimeAmount) -> Scheduled<Void> {
            { delay in
                scheduled += 1
                return loop.scheduleTask(in: delay) { fired.append(label) }
            }
        }
        timer.arm(at: start.advanced(by: .milliseconds(100)), now: start, schedule: schedule(1))
        timer.arm(at: start.advanced(by: .milliseconds(200)), now: start, schedule: schedule(2))
        #expect(scheduled == 1, "a later deadline keeps the armed timer")
        timer.arm(at: start.advanced(by: .milliseconds(50)), now: start, schedule: schedule(3))
        #expect(scheduled == 2, "an earlier deadline needs a new task")
        loop.advanceTime(by: .milliseconds(60))
        #expect(fired == [3])
        timer.fired()
        loop.advanceTime(by: .milliseconds(100))
        #expect(fired == [3], "the replaced task was cancelled")
        timer.arm(at: clock().advanced(by: .milliseconds(10)), now: clock(), schedule: schedule(4))
        timer.arm(at: nil, now: clock(), schedule: schedule(5))
        loop.advanceTime(by: .milliseconds(20))
        #expect(fired == [3])
        #expect(scheduled == 3)
        // A deadline already past is scheduled with no delay.
        timer.arm(at: clock().advanced(by: .milliseconds(-5)), now: clock(), schedule: schedule(6))
        loop.run()
        #expect(fired == [3, 6])
    }

    @Test("GRO: a coalesced envelope is split at its segment size; a plain one is one datagram", arguments: [
        (250, 100 as Int?, [100, 100, 50]), (300, 100, [100, 100, 100]), (250, nil, [250]), (100, 100, [100]), (80, 100, [80]),
    ])
    func groSplitting(_ length: Int, _ segmentSize: Int?, _ expected: [Int]) {
        let data = ByteBuffer(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0) })
        let metadata = segmentSize.map { AddressedEnvelope<ByteBuffer>.Metadata(ecnState: .transportNotCapable, packetInfo: nil, segmentSize: $0) }
        let envelope = AddressedEnvelope(remoteAddress: Self.clientAddress, data: data, metadata: metadata)
        var sizes: [Int] = []
        var joined = ByteBuffer()
        envelope.forEachDatagram { datagram in
            sizes.append(datagram.readableBytes)
            joined.writeImmutableBuffer(datagram)
        }
        #expect(sizes == expected)
        #expect(joined == data)
    }

    /// Splits what the server handler wrote into datagrams, checking each GSO superbuffer: runs of
    /// one size, only the last segment shorter, within the kernel's limits.
    static func datagrams(of envelope: AddressedEnvelope<ByteBuffer>, superbuffers: inout Int) -> [ByteBuffer] {
        guard let size = envelope.metadata?.segmentSize else { return [envelope.data] }
        superbuffers += 1
        #expect(envelope.data.readableBytes <= UDPWireLimits.maximumDatagramSize)
        var data = envelope.data
        var parts: [ByteBuffer] = []
        while data.readableBytes > 0 {
            parts.append(data.readSlice(length: min(size, data.readableBytes))!)
        }
        #expect(parts.count > 1 && parts.count <= UDPServerHandler.segmentLimit(forSize: size))
        #expect(parts.dropLast().allSatisfy { $0.readableBytes == size })
        return parts
    }

    @Test("server handler: sends runs of datagrams as GSO superbuffers a client can split and use, probes alone")
    func serverBatchesDatagrams() throws {
        let loop = EmbeddedEventLoop()
        let clock = virtualClock(loop)
        let file = MemoryFileSource(count: 2 << 20)
        let configuration = UDPServerDemultiplexer<UDPMonotonicInstant, SocketAddress>.Configuration(
            connection: UDPConfiguration(pathMTUProbeSizes: [1472, 8192]))
        let handler = UDPServerHandler(configuration: configuration, provider: MemoryProvider(file: file), rateLimiter: nil,
                                       logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                       segmentation: true, clock: clock)
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        defer { _ = try? channel.finish() }
        var client = UDPReceiverStateMachine(configuration: UDPConfiguration(), request: UDPRequestFrame(name: "f"), now: clock())
        var received = ByteBuffer()
        var superbuffers = 0
        var sizes: Set<Int> = []
        for _ in 0..<100_000 where !client.isClosed {
            var exchanged = false
            while let datagram = client.nextDatagram(at: clock()) {
                exchanged = true
                try channel.writeInbound(AddressedEnvelope(remoteAddress: Self.clientAddress, data: datagram))
            }
            while let envelope = try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
                exchanged = true
                #expect(envelope.remoteAddress == Self.clientAddress)
                for datagram in Self.datagrams(of: envelope, superbuffers: &superbuffers) {
                    sizes.insert(datagram.readableBytes)
                    client.receive(datagram: datagram, at: clock())
                }
            }
            while let event = client.nextEvent() {
                if case .data(_, var bytes) = event {
                    client.consumed(bytes: bytes.readableBytes)
                    received.writeBuffer(&bytes)
                }
            }
            if !exchanged {
                // Quiet: time moves on, and the timers of both ends fire.
                loop.advanceTime(by: .milliseconds(1))
            }
            if let deadline = client.nextDeadline, deadline <= clock() { client.handleTimeout(at: clock()) }
        }
        #expect(client.outcome == .completed)
        #expect(received == file.bytes)
        #expect(superbuffers > 10, "no GSO batches were written")
        #expect(sizes.contains(8192), "path MTU discovery reached the loopback size")
    }

    @Test("client handler: hands bytes over at the end of a transfer, or after 10 ms while more are awaited")
    func clientHandOver() async throws {
        for advance in [false, true] {
            let events = try await Self.runClient(datagramsFromServer: 10, advanceTime: advance)
            guard case .response = events.first else {
                Issue.record("no RESPONSE first: \(events)")
                continue
            }
            let handedOver = events.reduce(0) { total, event in
                if case .data(let bytes) = event { return total + bytes.readableBytes }
                return total
            }
            if advance {
                #expect(handedOver > 0 && handedOver < UDPClientHandler.handOverSize, "the timer hands over what waited 10 ms")
            } else {
                #expect(handedOver == 0, "fewer bytes than a hand-over wait for more")
            }
            guard case .closed = events.last else {
                Issue.record("the stream did not end with closed: \(events)")
                continue
            }
        }
        // A whole transfer: every byte, in order, in chunks of at most the chunk size.
        let events = try await Self.runClient(datagramsFromServer: .max, advanceTime: true)
        var all = ByteBuffer()
        for case .data(var bytes) in events {
            #expect(bytes.readableBytes <= UDPClientHandler.chunkSize + (1 << 16))
            all.writeBuffer(&bytes)
        }
        #expect(all == Self.clientFile.bytes)
        #expect(events.last.map { if case .closed(.completed) = $0 { true } else { false } } == true)
    }

    static let clientFile = MemoryFileSource(count: 3 << 20)

    /// Runs a UDPClientHandler on an EmbeddedChannel against a pure server, passing at most
    /// `datagramsFromServer` server datagrams; returns every event the handler gave the task.
    static func runClient(datagramsFromServer limit: Int, advanceTime: Bool) async throws -> [UDPDownloadEvent] {
        let loop = EmbeddedEventLoop()
        let clock = virtualClock(loop)
        var server = UDPServerDemultiplexer<UDPMonotonicInstant, SocketAddress>(
            provider: MemoryProvider(file: clientFile), now: clock())
        let (stream, continuation) = AsyncStream.makeStream(of: UDPDownloadEvent.self)
        let handler = UDPClientHandler(configuration: UDPConfiguration(), request: UDPRequestFrame(name: "f"),
                                       server: serverAddress, events: continuation, clock: clock)
        let channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.writeOutbound(UDPDownloadCommand.start)
        var passed = 0
        var rounds = 0
        while passed < limit, rounds < 20_000 {
            rounds += 1
            var quiet = true
            while let envelope = try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
                quiet = false
                switch server.receive(datagram: envelope.data, from: clientAddress, at: clock()) {
                case .reply(let reply, _):
                    try channel.writeInbound(AddressedEnvelope(remoteAddress: serverAddress, data: reply))
                case .delivered(let id):
                    while passed < limit, let (datagram, _) = server.nextDatagram(for: id, at: clock()) {
                        passed += 1
                        try channel.writeInbound(AddressedEnvelope(remoteAddress: serverAddress, data: datagram))
                    }
                case .dropped:
                    break
                }
            }
            for id in server.connectionIDs {
                server.handleTimeout(for: id, at: clock())
                while passed < limit, let (datagram, _) = server.nextDatagram(for: id, at: clock()) {
                    quiet = false
                    passed += 1
                    try channel.writeInbound(AddressedEnvelope(remoteAddress: serverAddress, data: datagram))
                }
            }
            if server.connectionCount == 0, passed > 0 { break }
            if quiet {
                guard advanceTime else { break }
                loop.advanceTime(by: .milliseconds(5))
            }
        }
        if limit < .max, advanceTime {
            loop.advanceTime(by: .milliseconds(10))
        }
        _ = try? channel.finish()
        var events: [UDPDownloadEvent] = []
        for await event in stream { events.append(event) }
        return events
    }
}

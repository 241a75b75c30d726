import FerryUDP
import FerryWire
import Logging
import NIOCore

/// Drives Ferry's UDP protocol on the event loop: every datagram goes to a pure
/// ``UDPServerDemultiplexer``; what it has to send goes out in batches (one GSO superbuffer per run of
/// full-size datagrams to one address, where the kernel offers it, so the kernel splits them); one
/// timer per connection is re-armed at the deadline the state machine asks for.
///
/// A handler rather than an async sequence: at these packet rates the async wrapper's buffering would
/// drop datagrams.
final class UDPServerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let clock = ContinuousClock()
    private var demultiplexer: UDPServerDemultiplexer<ContinuousClock.Instant, SocketAddress>
    private var timers: [UDPConnectionID: Scheduled<Void>] = [:]
    private let segmentation: Bool
    private let maximumDatagramSize: Int
    private let logger: Logger

    init(configuration: UDPServerDemultiplexer<ContinuousClock.Instant, SocketAddress>.Configuration,
         provider: any UDPFileProvider, logger: Logger) {
        self.demultiplexer = UDPServerDemultiplexer(configuration: configuration, provider: provider, now: clock.now)
        self.segmentation = System.supportsUDPSegmentationOffload
        self.maximumDatagramSize = configuration.connection.maximumDatagramSize
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let now = clock.now
        for datagram in Self.segments(of: envelope) {
            switch demultiplexer.receive(datagram: datagram, from: envelope.remoteAddress, at: now) {
            case .dropped:
                continue
            case .reply(let reply, let address):
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: reply)), promise: nil)
            case .delivered(let id):
                pump(id, context: context, now: now)
            }
        }
        handleEvents(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        for timer in timers.values { timer.cancel() }
        timers = [:]
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket reports ICMP errors of one peer here; they concern no one else.
        logger.debug("UDP socket error", metadata: ["error": "\(error)"])
    }

    /// Sends what connection `id` has to send now, then re-arms its timer.
    private func pump(_ id: UDPConnectionID, context: ChannelHandlerContext, now: ContinuousClock.Instant) {
        var batch = ByteBuffer()
        var batchAddress: SocketAddress?
        var segments = 0
        func flushBatch() {
            guard let address = batchAddress, batch.readableBytes > 0 else { return }
            let metadata = segments > 1
                ? AddressedEnvelope<ByteBuffer>.Metadata(ecnState: .transportNotCapable, packetInfo: nil, segmentSize: maximumDatagramSize)
                : nil
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: batch, metadata: metadata)), promise: nil)
            batch = ByteBuffer()
            segments = 0
            batchAddress = nil
        }
        while let (datagram, address) = demultiplexer.nextDatagram(for: id, at: now) {
            guard segmentation else {
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: datagram)), promise: nil)
                continue
            }
            if batchAddress != address || segments == Self.maximumSegments { flushBatch() }
            batchAddress = address
            let size = datagram.readableBytes
            var datagram = datagram
            batch.writeBuffer(&datagram)
            segments += 1
            // Only the last segment of a superbuffer may be shorter than the segment size.
            if size != maximumDatagramSize { flushBatch() }
        }
        flushBatch()
        context.flush()
        arm(id, context: context, now: now)
        handleEvents(context: context)
    }

    private func arm(_ id: UDPConnectionID, context: ChannelHandlerContext, now: ContinuousClock.Instant) {
        timers.removeValue(forKey: id)?.cancel()
        guard let deadline = demultiplexer.nextDeadline(for: id) else { return }
        let delay = max(now.duration(to: deadline), .zero)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timers[id] = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.nanoseconds))) {
            let (handler, context) = loopBound.value
            handler.timerFired(id, context: context)
        }
    }

    private func timerFired(_ id: UDPConnectionID, context: ChannelHandlerContext) {
        timers[id] = nil
        let now = clock.now
        demultiplexer.handleTimeout(for: id, at: now)
        pump(id, context: context, now: now)
    }

    private func handleEvents(context: ChannelHandlerContext) {
        while let event = demultiplexer.nextEvent() {
            switch event {
            case .opened(let id, let address, let request):
                logger.debug("UDP upload", metadata: ["client": "\(address.displayString)", "file": "\(request.name)",
                                                      "from": "\(request.start)", "connection": "\(id)"])
            case .closed(let id, let address, let outcome, let statistics):
                timers.removeValue(forKey: id)?.cancel()
                logger.debug("UDP upload ended", metadata: ["client": "\(address.displayString)", "outcome": "\(outcome)",
                                                            "sent": "\(statistics.bytesSent)", "lost": "\(statistics.packetsLost)"])
            }
        }
    }

    /// The datagrams in an envelope: one, or several when the kernel coalesced them (GRO).
    static func segments(of envelope: AddressedEnvelope<ByteBuffer>) -> [ByteBuffer] {
        guard let size = envelope.metadata?.segmentSize, size > 0, envelope.data.readableBytes > size else {
            return [envelope.data]
        }
        var data = envelope.data
        var parts: [ByteBuffer] = []
        while data.readableBytes > 0 {
            parts.append(data.readSlice(length: min(size, data.readableBytes))!)
        }
        return parts
    }

    /// Linux sends at most 64 segments in one GSO write.
    static let maximumSegments = 48
}

extension SocketAddress: UDPPeerAddress {
    /// The raw address and port: what the UDP cookie binds to.
    public var cookieBytes: [UInt8] {
        switch self {
        case .v4(let address):
            return withUnsafeBytes(of: address.address.sin_addr) { Array($0) } + withUnsafeBytes(of: address.address.sin_port) { Array($0) }
        case .v6(let address):
            return withUnsafeBytes(of: address.address.sin6_addr) { Array($0) } + withUnsafeBytes(of: address.address.sin6_port) { Array($0) }
        default:
            return Array(description.utf8)
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

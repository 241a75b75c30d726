import FerryUDP
import FerryWire
import Logging
import NIOCore

/// Drives Ferry's UDP protocol on the event loop: every datagram goes to a pure
/// ``UDPServerDemultiplexer``; what it has to send goes out in batches (one GSO superbuffer per run of
/// same-size datagrams to one address, where the kernel offers it, so the kernel splits them); one
/// timer per connection is re-armed at the deadline the state machine asks for.
///
/// A handler rather than an async sequence: at these packet rates the async wrapper's buffering would
/// drop datagrams.
final class UDPServerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private var demultiplexer: UDPServerDemultiplexer<UDPMonotonicInstant, SocketAddress>
    /// One timer per connection.
    private var timers: [UDPConnectionID: DeadlineTimer] = [:]
    private let segmentation: Bool
    /// The datagram size connections start with (path MTU discovery may raise it per connection).
    private let maximumDatagramSize: Int
    private let logger: Logger
    /// The peer's upload cap, shared with the TCP server; `nil` for none.
    private let rateLimiter: RateLimiter?
    /// Under a rate limit: a connection's datagram that must wait for its turn, and the timer that
    /// sends it. The connection gives no more datagrams until it is gone, so its congestion
    /// controller sees the limit as the bottleneck it is.
    private var held: [UDPConnectionID: (datagram: ByteBuffer, address: SocketAddress, release: Scheduled<Void>)] = [:]
    /// The connections that received datagrams since the last read burst ended (few: a linear
    /// search beats hashing).
    private var touched: [UDPConnectionID] = []
    /// Once shutting down: completed when every transfer ended or was closed after the grace period.
    private var shutdownDone: EventLoopPromise<Void>?
    private var shutdownTimer: Scheduled<Void>?

    /// The event that shuts the server down: no new transfers; running ones may go on for `grace`,
    /// then each gets CLOSE(busy, "shutting down"); `done` is completed then (or when the last
    /// transfer ended), after which the driver may close the channel.
    struct ShutDown: Sendable {
        var grace: TimeAmount
        var done: EventLoopPromise<Void>
    }

    /// The error a transfer still running at the end of the grace period is closed with: `busy`,
    /// so that the client resumes from another holder.
    static let shutdownError = FerryUDPError(.busy, reason: "the peer is shutting down")

    /// The monotonic clock (the event loop's own in `EmbeddedChannel` tests).
    private let clock: () -> UDPMonotonicInstant
    /// The file reads on the thread pool, if the provider's sources use them.
    private let diskReads: DiskReads?
    /// Connections that had data to send but waited for their file: drained when a read completes.
    private var waitingForData: [UDPConnectionID] = []
    /// Hears how each upload ended.
    private let metrics: PeerMetrics?

    init(configuration: UDPServerDemultiplexer<UDPMonotonicInstant, SocketAddress>.Configuration,
         provider: any UDPFileProvider, rateLimiter: RateLimiter?, logger: Logger,
         diskReads: DiskReads? = nil, metrics: PeerMetrics? = nil,
         segmentation: Bool = System.supportsUDPSegmentationOffload,
         clock: @escaping () -> UDPMonotonicInstant = { UDPMonotonicInstant.now }) {
        self.clock = clock
        self.metrics = metrics
        self.diskReads = diskReads
        self.demultiplexer = UDPServerDemultiplexer(configuration: configuration, provider: provider, now: clock())
        self.segmentation = segmentation
        self.maximumDatagramSize = configuration.connection.maximumDatagramSize
        self.logger = logger
        self.rateLimiter = rateLimiter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let now = clock()
        envelope.forEachDatagram { datagram in
            switch demultiplexer.receive(datagram: datagram, from: envelope.remoteAddress, at: now) {
            case .dropped:
                break
            case .reply(let reply, let address):
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: reply)), promise: nil)
            case .delivered(let id):
                if !touched.contains(id) { touched.append(id) }
            }
        }
        handleEvents(context: context)
    }

    /// The connections that received datagrams in this read burst answer once, at its end: the
    /// ACKs of a burst free their window together, so the datagrams they release go out as a few
    /// large GSO writes instead of many small ones.
    func channelReadComplete(context: ChannelHandlerContext) {
        let now = clock()
        for id in touched {
            pump(id, context: context, now: now)
        }
        touched.removeAll(keepingCapacity: true)
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let shutDown = event as? ShutDown else {
            return context.fireUserInboundEventTriggered(event)
        }
        demultiplexer.beginDraining()
        if let pending = shutdownDone {
            pending.futureResult.cascade(to: shutDown.done)
        } else {
            shutdownDone = shutDown.done
        }
        guard demultiplexer.connectionCount > 0 else {
            return finishShutdown()
        }
        guard shutDown.grace > .zero else {
            return closeEveryTransfer(context: context)
        }
        guard shutdownTimer == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        shutdownTimer = context.eventLoop.scheduleTask(in: shutDown.grace) {
            let (handler, context) = loopBound.value
            handler.closeEveryTransfer(context: context)
        }
    }

    /// Ends every transfer with ``shutdownError``: each CLOSE goes out now, past any rate limit.
    private func closeEveryTransfer(context: ChannelHandlerContext) {
        shutdownTimer?.cancel()
        shutdownTimer = nil
        let now = clock()
        for id in demultiplexer.abortAll(Self.shutdownError, at: now) {
            held.removeValue(forKey: id)?.release.cancel()
            while let (datagram, address) = demultiplexer.nextDatagram(for: id, at: now) {
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: datagram)), promise: nil)
            }
        }
        context.flush()
        finishShutdown()
    }

    private func finishShutdown() {
        shutdownDone?.succeed()
        shutdownDone = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        diskReads?.onCompletion = {
            let (handler, context) = loopBound.value
            handler.readCompleted(context: context)
        }
    }

    /// A file read finished: the connections that waited for one send what they can now.
    private func readCompleted(context: ChannelHandlerContext) {
        guard !waitingForData.isEmpty else { return }
        let ids = waitingForData
        waitingForData.removeAll(keepingCapacity: true)
        let now = clock()
        for id in ids {
            pump(id, context: context, now: now)
        }
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        diskReads?.onCompletion = {}
        shutdownTimer?.cancel()
        finishShutdown()
        for var timer in timers.values { timer.cancel() }
        timers = [:]
        for waiting in held.values { waiting.release.cancel() }
        held = [:]
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket reports ICMP errors of one peer here; they concern no one else.
        logger.debug("UDP socket error", metadata: ["error": "\(error)"])
    }

    /// Writes what connection `id` has to send now, then re-arms its timer. The caller flushes:
    /// at the end of a read burst, once for every connection pumped.
    private func pump(_ id: UDPConnectionID, context: ChannelHandlerContext, now: UDPMonotonicInstant) {
        if let rateLimiter {
            sendPaced(id, by: rateLimiter, context: context)
        } else if segmentation {
            sendBatches(of: id, context: context, now: now)
        } else {
            while let (datagram, address) = demultiplexer.nextDatagram(for: id, at: now) {
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: datagram)), promise: nil)
            }
        }
        if inPlace(&demultiplexer, { $0.isWaitingForData(id) }), !waitingForData.contains(id) {
            waitingForData.append(id)
        }
        arm(id, context: context, now: now)
        handleEvents(context: context)
    }

    /// Sends the connection's datagrams as GSO superbuffers, building each datagram straight into
    /// the superbuffer. A superbuffer is a run of datagrams of its first one's size that ends early
    /// after a shorter one (only the last segment may be shorter). A larger datagram — a path MTU
    /// probe — cannot join a run: it is cut off the end and sent on its own.
    private func sendBatches(of id: UDPConnectionID, context: ChannelHandlerContext, now: UDPMonotonicInstant) {
        guard let address = inPlace(&demultiplexer, { $0.address(of: id) }) else { return }
        var batch = ByteBuffer()
        var segments = 0
        var segmentSize = 0
        func write(_ datagrams: ByteBuffer, segments: Int, size: Int) {
            let metadata = segments > 1
                ? AddressedEnvelope<ByteBuffer>.Metadata(ecnState: .transportNotCapable, packetInfo: nil, segmentSize: size)
                : nil
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: datagrams, metadata: metadata)), promise: nil)
        }
        func flush() {
            guard segments > 0 else { return }
            write(batch, segments: segments, size: segmentSize)
            batch = ByteBuffer()
            segments = 0
        }
        while true {
            if segments == 0 { batch.reserveCapacity(Self.initialBatchSegments * maximumDatagramSize) }
            let start = batch.writerIndex
            guard let size = demultiplexer.appendNextDatagram(for: id, to: &batch, at: now) else { break }
            if segments > 0, size > segmentSize {
                let alone = batch.getSlice(at: start, length: size)!
                batch.moveWriterIndex(to: start)
                flush()
                write(alone, segments: 1, size: size)
                continue
            }
            if segments == 0 { segmentSize = size }
            segments += 1
            if size != segmentSize || segments == Self.segmentLimit(forSize: segmentSize) { flush() }
        }
        flush()
    }

    /// Sends the connection's datagrams one by one, each when the shared rate limit allows; the first
    /// that must wait is held and sent by a timer, which then carries on.
    private func sendPaced(_ id: UDPConnectionID, by limiter: RateLimiter, context: ChannelHandlerContext) {
        guard held[id] == nil else { return }
        while let (datagram, address) = demultiplexer.nextDatagram(for: id, at: clock()) {
            let wait = limiter.reserve(datagram.readableBytes)
            guard wait > .milliseconds(1) else {
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: address, data: datagram)), promise: nil)
                continue
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let release = context.eventLoop.scheduleTask(in: .nanoseconds(wait.wholeNanoseconds)) {
                let (handler, context) = loopBound.value
                guard let waiting = handler.held.removeValue(forKey: id) else { return }
                context.write(handler.wrapOutboundOut(AddressedEnvelope(remoteAddress: waiting.address, data: waiting.datagram)), promise: nil)
                handler.pump(id, context: context, now: handler.clock())
                context.flush()
            }
            held[id] = (datagram, address, release)
            return
        }
    }

    private func arm(_ id: UDPConnectionID, context: ChannelHandlerContext, now: UDPMonotonicInstant) {
        guard let deadline = inPlace(&demultiplexer, { $0.nextDeadline(for: id) }) else {
            timers[id]?.cancel()
            timers[id] = nil
            return
        }
        timers[id, default: DeadlineTimer()].arm(at: deadline, now: now) { delay in
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            return context.eventLoop.scheduleTask(in: delay) {
                let (handler, context) = loopBound.value
                handler.timerFired(id, context: context)
            }
        }
    }

    private func timerFired(_ id: UDPConnectionID, context: ChannelHandlerContext) {
        timers[id]?.fired()
        let now = clock()
        demultiplexer.handleTimeout(for: id, at: now)
        pump(id, context: context, now: now)
        context.flush()
    }

    private func handleEvents(context: ChannelHandlerContext) {
        while let event = demultiplexer.nextEvent() {
            switch event {
            case .opened(let id, let address, let request):
                logger.debug("UDP upload", metadata: ["client": "\(address.displayString)", "file": "\(request.name)",
                                                      "from": "\(request.start)", "connection": "\(id)"])
            case .closed(let id, let address, let outcome, let statistics):
                timers[id]?.cancel()
                timers[id] = nil
                metrics?.udpUploadEnded(statistics)
                held.removeValue(forKey: id)?.release.cancel()
                if demultiplexer.isDraining, demultiplexer.connectionCount == 0 {
                    finishShutdown()
                }
                logger.debug("UDP upload ended", metadata: ["client": "\(address.displayString)", "outcome": "\(outcome)",
                                                            "sent": "\(statistics.bytesSent)", "datagrams": "\(statistics.datagramsSent)", "datagram_size": "\(statistics.datagramSize)",
                                                            "lost": "\(statistics.packetsLost)", "ptos": "\(statistics.probeTimeouts)",
                                                            "srtt": "\(statistics.smoothedRTT)", "min_rtt": "\(statistics.minimumRTT)"])
            }
        }
    }

    /// Linux sends at most 64 segments in one GSO write.
    static let maximumSegments = 48

    /// The most datagrams of `size` bytes in one superbuffer: ``maximumSegments``, and no more than
    /// fit the 65 507 bytes a UDP payload (a GSO write included) may have — beyond that the write
    /// fails.
    static func segmentLimit(forSize size: Int) -> Int {
        max(1, min(maximumSegments, UDPWireLimits.maximumDatagramSize / size))
    }

    /// The room a new superbuffer starts with, in datagrams (it grows if more are ready).
    static let initialBatchSegments = 16
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

    /// The raw IP address: what per-address caps count by.
    public var hostBytes: [UInt8] {
        switch self {
        case .v4(let address):
            return withUnsafeBytes(of: address.address.sin_addr) { Array($0) }
        case .v6(let address):
            return withUnsafeBytes(of: address.address.sin6_addr) { Array($0) }
        default:
            return Array(description.utf8)
        }
    }
}

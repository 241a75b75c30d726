import FerryUDP
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the UDP download's handler reports to the task that writes the part file.
enum UDPDownloadEvent: Sendable {
    /// The server accepted the request.
    case response(UDPResponseFrame)
    /// File bytes in order, gathered from many datagrams.
    case data(ByteBuffer)
    /// The transfer ended.
    case closed(UDPTransferOutcome)
    /// The peer's UDP port is closed (ICMP port unreachable) or the socket failed.
    case unreachable(String)
}

/// Commands from the download task to its handler.
enum UDPDownloadCommand: Sendable {
    /// Sends the first INITIAL.
    case start
    /// The task has written `n` bytes: grant the sender more credit.
    case consumed(Int)
    /// Stop: the content is not what was announced, or the download was cancelled.
    case abort(FerryUDPError)
}

/// The client side of Ferry's UDP protocol on the event loop: feeds datagrams to a pure
/// ``UDPReceiverStateMachine``, sends what it produces, keeps its one timer, and hands file bytes to
/// the download task in large chunks (not one event per datagram).
final class UDPClientHandler: ChannelDuplexHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundIn = UDPDownloadCommand
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    /// Bytes gathered before they are handed over even within one read burst.
    static let chunkSize = 1 << 20
    /// Bytes worth handing over at the end of a read burst: fewer wait for more (one write of
    /// 256 KiB instead of a write per burst), but never longer than ``handOverDelay``.
    static let handOverSize = 256 << 10
    /// The longest bytes wait to be handed over while more keep arriving, so that progress and the
    /// flow-control credit move along on a slow transfer too.
    static let handOverDelay = Duration.milliseconds(10)

    private var machine: UDPReceiverStateMachine<UDPMonotonicInstant>
    private let server: SocketAddress
    private let events: AsyncStream<UDPDownloadEvent>.Continuation
    private var timer = DeadlineTimer()
    private var pending: ByteBuffer?
    /// When the first byte of ``pending`` arrived.
    private var pendingSince = UDPMonotonicInstant(nanoseconds: 0)
    private var finished = false

    /// The monotonic clock (the event loop's own in `EmbeddedChannel` tests).
    private let clock: () -> UDPMonotonicInstant

    init(configuration: UDPConfiguration, request: UDPRequestFrame, server: SocketAddress,
         events: AsyncStream<UDPDownloadEvent>.Continuation,
         clock: @escaping () -> UDPMonotonicInstant = { UDPMonotonicInstant.now }) {
        self.clock = clock
        self.machine = UDPReceiverStateMachine(configuration: configuration, request: request, now: clock())
        self.server = server
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == server else { return }
        let now = clock()
        envelope.forEachDatagram { datagram in
            machine.receive(datagram: datagram, at: now)
        }
        deliverEvents(context: context)
    }

    /// One answer per read burst: the ACK (and anything else due) covers every datagram of the
    /// burst, instead of one ACK per envelope the kernel handed over.
    func channelReadComplete(context: ChannelHandlerContext) {
        drain(context: context, now: clock())
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .start: break
        case .consumed(let count): machine.consumed(bytes: count)
        case .abort(let error): machine.abort(error)
        }
        promise?.succeed()
        drain(context: context, now: clock())
    }

    /// How long a port-unreachable error waits for datagrams read after it (see `errorCaught`). Half
    /// a second: 100 ms was too short for a loaded event loop (a thread-sanitizer run of the whole
    /// suite lost a server's CLOSE(busy) to it), and a port that is really closed costs only this.
    static let unreachableGrace = TimeAmount.milliseconds(500)

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let unreachable = UDPDownloadEvent.unreachable(describe(connectError: error, timeout: .seconds(0)))
        guard (error as? IOError)?.errnoCode == ECONNREFUSED, !finished else {
            finish(unreachable)
            context.close(promise: nil)
            return
        }
        // Linux reports an ICMP port-unreachable before the datagrams already queued on the socket,
        // and the channel stays open: a server that said CLOSE (say, `busy` as it shuts down) and
        // then closed its port would otherwise be reported as unreachable, its reason lost.
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: Self.unreachableGrace) {
            let (handler, context) = loopBound.value
            handler.finish(unreachable)
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer.cancel()
        finish(.closed(.failed(FerryUDPError(.cancelled, reason: "the download ended"))))
    }

    /// Passes on the machine's events, sends its datagrams and re-arms its timer.
    private func drain(context: ChannelHandlerContext, now: UDPMonotonicInstant) {
        deliverEvents(context: context)
        if let bytes = pending, bytes.readableBytes >= Self.handOverSize || pendingSince.advanced(by: Self.handOverDelay) <= now {
            handOverPending()
        }
        while let datagram = machine.nextDatagram(at: now) {
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: server, data: datagram)), promise: nil)
        }
        context.flush()
        arm(context: context, now: now)
    }

    /// Passes on the machine's events, gathering file bytes into chunks (taken at once, so that the
    /// read buffers they are slices of can be reused).
    private func deliverEvents(context: ChannelHandlerContext) {
        while let event = machine.nextEvent() {
            switch event {
            case .response(let response):
                events.yield(.response(response))
            case .data(_, var bytes):
                // One allocation per chunk, sized so that it never grows: a chunk is handed over
                // once it holds `chunkSize` bytes, and each event adds at most one datagram's payload.
                if pending == nil {
                    pending = context.channel.allocator.buffer(capacity: Self.chunkSize + (1 << 16))
                    pendingSince = clock()
                }
                pending!.writeBuffer(&bytes)
                if pending!.readableBytes >= Self.chunkSize { handOverPending() }
            case .complete:
                handOverPending()
            case .closed(let outcome):
                handOverPending()
                finish(.closed(outcome))
            }
        }
    }

    /// Arms the timer for the machine's deadline, or for bytes waiting to be handed over.
    private func arm(context: ChannelHandlerContext, now: UDPMonotonicInstant) {
        let handOverDeadline = pending.map { _ in pendingSince.advanced(by: Self.handOverDelay) }
        let deadline = finished ? nil : UDPMonotonicInstant.earliest(inPlace(&machine, { $0.nextDeadline }), handOverDeadline)
        timer.arm(at: deadline, now: now) { delay in
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            return context.eventLoop.scheduleTask(in: delay) {
                let (handler, context) = loopBound.value
                handler.timer.fired()
                let now = handler.clock()
                handler.machine.handleTimeout(at: now)
                handler.drain(context: context, now: now)
            }
        }
    }

    private func handOverPending() {
        guard let bytes = pending, bytes.readableBytes > 0 else { return }
        pending = nil
        events.yield(.data(bytes))
    }

    private func finish(_ event: UDPDownloadEvent) {
        guard !finished else { return }
        finished = true
        events.yield(event)
        events.finish()
    }
}

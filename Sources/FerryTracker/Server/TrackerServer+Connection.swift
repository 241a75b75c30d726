import FerryWire
import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore

extension TrackerServer {
    /// How long a `421` line may take to leave before the connection is closed anyway (a client that
    /// does not read must not hold a closing connection open).
    static let closingLineGracePeriod = TimeAmount.seconds(1)

    /// Reads of 8 KiB per event-loop wake-up for a connection in an `UPDATE` (1 otherwise).
    static let readsPerWakeUpInUpdate: UInt = 16

    /// Lines of one turn handled before the turn lets other tasks run.
    static let linesPerTurn = 64

    /// Sends `line` if the connection can take it, then closes; a connection that does not read is
    /// closed after ``closingLineGracePeriod`` whatever happens to the line.
    static func close(_ channel: any Channel, with line: TrackerReplyLine) {
        channel.eventLoop.execute {
            guard channel.isActive else { return }
            let forced = channel.eventLoop.scheduleTask(in: closingLineGracePeriod) { channel.close(promise: nil) }
            channel.writeAndFlush(encode([line])).whenComplete { _ in
                forced.cancel()
                channel.close(promise: nil)
            }
        }
    }
}

/// What every connection handler of one tracker shares.
struct TrackerServices: Sendable {
    var index: MemoryTrackerIndex
    var store: any TrackerStore
    /// `SEND` is answered on the event loop from ``index`` (``TrackerServer/IndexMode/inMemory``);
    /// otherwise it goes to the store in a turn, as every other request.
    var answersLookupsOnLoop: Bool
    var connections: TrackerConnections
    var endpoints: PeerEndpointTable
    var updateBudget: ByteBudget
    var waitingForReader: NIOLockedValueBox<Int>
    var heartbeatTimeout: TimeAmount
    var idleTimeout: TimeAmount
    var logger: Logger
    var metrics: TrackerMetrics
}

/// One tracker connection, on its event loop, from admission to the last index change of its peer.
///
/// - **Lookups on the loop.** While no `UPDATE` is under way, `SEND` and `PING` are answered here,
///   synchronously, from the ``MemoryTrackerIndex``: no task, no thread hop, no database. This is the
///   path of `ferry get`, of every download's lookups and of every heartbeat.
/// - **Everything else in a turn.** The other requests (and every request after one of them in the
///   same read, so that replies keep their order) go to the connection's ``TrackerConversation`` in a
///   task: a *turn*. While a turn runs, the connection is not read; its replies are written when it
///   ends, then reading goes on.
/// - **Bounded.** One read is at most ``TrackerLimits/receiveBufferSize`` bytes and a turn takes the
///   lines of one read. A connection whose replies are not read stops being read
///   (``TrackerLimits/outboundBufferHighWaterMark``). A connection is closed after
///   ``TrackerLimits/idleTimeout`` silent seconds before `HELLO`, the heartbeat timeout after.
final class TrackerConnectionHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked: every stored property is used on the channel's event loop only; a turn's task
    // gets the conversation by value and hands it back through the loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let services: TrackerServices
    private var remote: SocketAddress?
    private var address = "unknown"
    private var admitted = false
    /// Made at the first request that is not a lookup (most connections only look up); `nil` while
    /// a turn has it.
    private var conversation: TrackerConversation?
    /// Made with the conversation: how the endpoint table sees this connection.
    private var handle: TrackerConnectionHandle?
    private var inTurn = false
    private var registered = false
    private var decoder = LineFrameDecoder(maximumLineLength: TrackerLimits.maximumLineLength)
    /// At most one read and the start of a line (the decoder drops over-long ones).
    private var received = ByteBuffer()
    private var lastHeard = NIODeadline.now()
    private var watchdog: Scheduled<Void>?
    private var readPending = false
    private var readingInBulk = false
    private var waitingForReader = false
    private var closing = false
    private var inactive = false
    /// This loop's request counts and lookup latency histogram (see ``TrackerMetrics``).
    private var counters: TrackerLoopCounters?
    private var lookupTimer: CoreMetrics.Timer?

    /// The tracker's logger with this client's address, made when first needed.
    private lazy var logger: Logger = {
        var logger = services.logger
        logger[metadataKey: "client"] = "\(remote?.displayString ?? "unknown")"
        return logger
    }()

    init(services: TrackerServices) {
        self.services = services
    }

    /// `logger.debug`, without making ``logger`` when debug lines are not printed: it costs a string
    /// of the client's address, and every client that resets its connection would make one (3 % of
    /// the tracker's time with a new connection per lookup).
    private func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil) {
        guard services.logger.logLevel <= .debug else { return }
        logger.debug(message(), metadata: metadata())
    }

    // MARK: Admission and the end

    func handlerAdded(context: ChannelHandlerContext) {
        let loop = services.metrics.loopCounters(for: context.eventLoop)
        counters = loop.counters
        lookupTimer = loop.timer
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        remote = channel.remoteAddress
        address = remote?.ipAddress ?? "unknown"
        switch services.connections.admit(ObjectIdentifier(channel), address: address, closer: Self.closer(for: channel)) {
        case .refused(let text):
            logger.info("connection refused", metadata: ["reason": "\(text)"])
            closing = true
            TrackerServer.close(channel, with: TrackerReplyLine(status: .closing, isFinal: true, text: text))
        case .admitted:
            admitted = true
            lastHeard = .now()
            armWatchdog(context)
        }
        context.fireChannelActive()
    }

    private static func closer(for channel: any Channel) -> TrackerConnections.Closer {
        { line in TrackerServer.close(channel, with: line) }
    }

    /// The conversation, made now if this is the first request that needs it.
    private func takeConversation(_ context: ChannelHandlerContext) -> TrackerConversation {
        if let conversation {
            self.conversation = nil
            return conversation
        }
        let handle = TrackerConnectionHandle()
        handle.heard(at: lastHeard)
        handle.onSupersede(Self.closer(for: context.channel))
        self.handle = handle
        return TrackerConversation(
            store: services.store, observedHost: address, logger: logger,
            endpoints: services.endpoints, connection: handle, updateBudget: services.updateBudget)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        watchdog?.cancel()
        watchdog = nil
        setWaitingForReader(false)
        if admitted {
            services.connections.release(ObjectIdentifier(context.channel), address: address)
            // A turn under way finishes the conversation when it ends.
            if let conversation { finish(conversation) }
        }
        context.fireChannelInactive()
    }

    /// The peer leaves the index, and what the conversation held is given back.
    private func finish(_ conversation: TrackerConversation) {
        self.conversation = nil
        if conversation.isRegistered { logger.info(handle?.isSuperseded == true ? "peer session taken over" : "peer gone") }
        guard conversation.isRegistered || conversation.pendingUpdateBytes > 0 else { return }
        Task { await conversation.finish() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        debug("connection ended with an error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard admitted, !closing else { return }
        var bytes = unwrapInboundIn(data)
        lastHeard = .now()
        handle?.heard(at: lastHeard)
        if received.readableBytes == 0 {
            // The read's own buffer, not a copy; it goes back to NIO's pool once its lines are taken.
            received = bytes
        } else {
            received.writeBuffer(&bytes)
        }
        // Not asked for: while a turn runs or replies wait for the client, reads are held back,
        // but a closing socket is drained by NIO whatever the handler asked (up to the whole kernel
        // buffer of a client that sent and never read: answering that, line by line, held the event
        // loop for seconds). What is held stays within what the reads asked for could bring; more
        // ends the connection, whose replies could not be delivered anyway.
        if inTurn || !context.channel.isWritable {
            if received.readableBytes > Self.maximumHeldInput {
                debug("input beyond what was read while replies wait: closing")
                closing = true
                context.close(promise: nil)
            }
            return
        }
        process(context)
    }

    /// What `received` holds once its lines are taken: no storage of its own, so that the read's buffer
    /// is NIO's alone again.
    private static let nothingReceived = ByteBuffer()

    /// The most input held unanswered: the reads of one wake-up during an `UPDATE` (those that
    /// came after the turn began), and the start of a line.
    static let maximumHeldInput = Int(TrackerServer.readsPerWakeUpInUpdate) * TrackerLimits.receiveBufferSize
        + TrackerLimits.maximumLineLength

    /// Handles the complete lines received: lookups at once, the rest in a turn. Nothing while a
    /// turn runs or the client leaves replies unread: the lines wait in `received`.
    private func process(_ context: ChannelHandlerContext) {
        guard !inTurn, !closing, context.channel.isWritable else { return }
        var direct = conversation?.answersLookupsDirectly ?? true
        var replies = context.channel.allocator.buffer(capacity: 0)
        var turn: [LineFrame] = []
        do {
            while let frame = try decoder.decode(buffer: &received) {
                if turn.isEmpty, direct, answerDirectly(frame, into: &replies) { continue }
                // The FILE lines of an UPDATE, but for the last, are taken here too.
                if turn.isEmpty, !direct, case .handled(let response) = conversation!.handleDirectly(frame) {
                    if let response { TrackerServer.append(response.lines, to: &replies) }
                    counters?.count(.file, code: response?.lines.first?.status.code ?? 0)
                    direct = conversation!.answersLookupsDirectly
                    continue
                }
                turn.append(frame)
            }
        } catch {
            // The decoder throws for nothing it is given; a read that cannot be split ends the connection.
            context.close(promise: nil)
            return
        }
        if received.readableBytes == 0 {
            received = Self.nothingReceived
        } else {
            received.discardReadBytes()
        }
        readInBulk(!direct, context)
        if handle?.isSuperseded == true {
            closing = true
            return
        }
        if replies.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(replies), promise: nil) }
        if !turn.isEmpty { startTurn(turn, context) }
    }

    /// While an `UPDATE` is under way, a wake-up reads up to ``TrackerServer/readsPerWakeUpInUpdate``
    /// times 8 KiB instead of 8 KiB: its `FILE` lines cost microseconds each, and one read per turn of
    /// a busy event loop made an update of 100,000 files take seconds.
    private func readInBulk(_ bulk: Bool, _ context: ChannelHandlerContext) {
        guard bulk != readingInBulk, let options = context.channel.syncOptions else { return }
        readingInBulk = bulk
        try? options.setOption(.maxMessagesPerRead, value: bulk ? TrackerServer.readsPerWakeUpInUpdate : UInt(1))
    }

    /// Bytes reserved for a lookup's reply: one name with a few holders fits.
    private static let usualLookupReplySize = 512

    /// Answers `SEND`, `REPORT` and `PING` from the index into `replies`; `false` for anything else.
    private func answerDirectly(_ frame: LineFrame, into replies: inout ByteBuffer) -> Bool {
        guard case .line(let line) = frame, let request = try? TrackerRequest(parsing: line) else { return false }
        switch request {
        case .send(let names):
            guard services.answersLookupsOnLoop else { return false }
            // Two clock reads and a histogram record under a lock only this loop takes (but a scrape).
            let start = NIODeadline.now()
            // One allocation for the usual reply (a name with a few holders), not a growth per line.
            replies.reserveCapacity(replies.writerIndex + Self.usualLookupReplySize)
            services.index.appendLookupReply(for: names, to: &replies)
            lookupTimer?.recordNanoseconds((NIODeadline.now() - start).nanoseconds)
            counters?.lookups += 1
            return true
        case .ping:
            TrackerServer.append(TrackerConversation.pong.lines, to: &replies)
            counters?.pings += 1
            return true
        case .report(let report):
            // In shared mode (PostgreSQL) the index is not the truth: the conversation answers.
            guard services.answersLookupsOnLoop else { return false }
            let known = services.index.report(report, from: address)
            TrackerServer.append((known ? TrackerConversation.reported : TrackerConversation.unknownHolder(report)).lines,
                                 to: &replies)
            counters?.count(.report, code: known ? TrackerStatus.ok.code : TrackerStatus.notFound.code)
            return true
        default:
            return false
        }
    }

    private struct TurnResult: Sendable {
        var conversation: TrackerConversation
        var replies: ByteBuffer
        var close: Bool
        /// Each handled line's verb and the status code of its answer (0: none), for the metrics.
        var counted: [(TrackerVerb, UInt16)]
    }

    /// Hands `frames` to the conversation in a task; the connection is not read until it ends.
    private func startTurn(_ frames: [LineFrame], _ context: ChannelHandlerContext) {
        let conversation = takeConversation(context)
        inTurn = true
        let handle = self.handle!
        let promise = context.eventLoop.makePromise(of: TurnResult.self)
        promise.completeWithTask { await Self.turn(conversation, frames, handle) }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { result in
            let (handler, context) = loopBound.value
            handler.endTurn(result, context)
        }
    }

    /// The conversation handles `frames` in order, yielding every ``TrackerServer/linesPerTurn`` lines.
    private static func turn(_ start: TrackerConversation, _ frames: [LineFrame], _ handle: TrackerConnectionHandle) async -> TurnResult {
        var conversation = start
        var replies = ByteBuffer()
        var close = false
        var handled = 0
        var counted: [(TrackerVerb, UInt16)] = []
        for frame in frames {
            if handle.isSuperseded { break }
            handled += 1
            if handled % TrackerServer.linesPerTurn == 0 { await Task.yield() }
            let response = await conversation.handle(frame)
            let verb: TrackerVerb
            if case .line(let line) = frame { verb = TrackerVerb(line: line) } else { verb = .other }
            counted.append((verb, response?.lines.first?.status.code ?? 0))
            guard let response else { continue }
            TrackerServer.append(response.lines, to: &replies)
            if response.close {
                close = true
                break
            }
        }
        return TurnResult(conversation: conversation, replies: replies, close: close, counted: counted)
    }

    private func endTurn(_ result: TurnResult, _ context: ChannelHandlerContext) {
        inTurn = false
        // Reads were held during the turn: the client's silence counts from now, not from before it.
        lastHeard = NIODeadline.now()
        handle?.heard(at: lastHeard)
        for (verb, code) in result.counted { counters?.count(verb, code: code) }
        let wasRegistered = registered
        registered = result.conversation.isRegistered
        guard !inactive else {
            finish(result.conversation)
            return
        }
        // The watchdog waits for the idle timeout until HELLO, the heartbeat timeout after it: a
        // shorter one must not wait for the longer one's wake-up.
        if registered != wasRegistered {
            watchdog?.cancel()
            armWatchdog(context)
        }
        conversation = result.conversation
        if result.replies.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(result.replies), promise: nil) }
        if result.close || handle?.isSuperseded == true {
            closing = true
            if result.close { context.close(promise: nil) }
            return
        }
        // Lines that arrived with the turn's, after them, then the next read.
        process(context)
        resumeReading(context)
    }

    // MARK: Backpressure: not read during a turn, nor while replies wait for the client

    func read(context: ChannelHandlerContext) {
        if inTurn || !context.channel.isWritable {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        setWaitingForReader(!context.channel.isWritable)
        if context.channel.isWritable {
            // Lines held while the client did not read come first, then the next read.
            process(context)
            resumeReading(context)
        }
        context.fireChannelWritabilityChanged()
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        guard readPending, !inTurn, context.channel.isWritable else { return }
        readPending = false
        context.read()
    }

    private func setWaitingForReader(_ waiting: Bool) {
        guard waiting != waitingForReader else { return }
        waitingForReader = waiting
        services.waitingForReader.withLockedValue { $0 += waiting ? 1 : -1 }
    }

    // MARK: Silence

    /// Closes the connection when it stays silent too long: the heartbeat timeout for a registered
    /// peer, the idle timeout for anyone else. Wakes at the deadline, not on a fixed tick.
    /// - Parameter from: when the silence counts from (``lastHeard`` unless a turn holds the reads).
    private func armWatchdog(_ context: ChannelHandlerContext, from start: NIODeadline? = nil) {
        let limit = registered ? services.heartbeatTimeout : services.idleTimeout
        let deadline = (start ?? lastHeard) + limit
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleTask(deadline: deadline + .milliseconds(1)) {
            let (handler, context) = loopBound.value
            handler.watchdogFired(context)
        }
    }

    private func watchdogFired(_ context: ChannelHandlerContext) {
        guard !inactive else { return }
        // During a turn the tracker owes the reply and holds the client's next lines unread: the
        // silence is the tracker's. `endTurn` restarts the count.
        if inTurn {
            armWatchdog(context, from: .now())
            return
        }
        let limit = registered ? services.heartbeatTimeout : services.idleTimeout
        guard NIODeadline.now() >= lastHeard + limit else {
            armWatchdog(context)
            return
        }
        logger.info(registered ? "peer missed its heartbeats; dropping it" : "idle connection closed")
        closing = true
        TrackerServer.close(context.channel, with: TrackerReplyLine(
            status: .closing, isFinal: true, text: "no message for \(limit.nanoseconds / 1_000_000_000) s; closing"))
    }
}

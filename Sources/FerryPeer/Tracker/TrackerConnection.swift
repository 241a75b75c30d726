import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One control connection to the tracker: requests go out in order and each gets its whole reply.
///
/// The pipeline is `LineFrameDecoder` → ``TrackerReplyHandler`` → ``TrackerRequestHandler``, so
/// replies are matched to requests by order, as the protocol promises. Every request ends within
/// ``replyTimeout``: with its reply, or with an error that says why (the tracker closed the
/// connection, sent `421`, reset it, or did not answer in time).
public final class TrackerConnection: Sendable {
    /// How long a reply may take before the connection is taken for dead (the documented limit).
    public static let replyTimeout: Duration = .seconds(10)
    /// How long `QUIT` may take when leaving: leaving must not hold up a shutdown.
    public static let quitTimeout: Duration = .seconds(1)
    /// How long connecting may take.
    public static let connectTimeout: Duration = .seconds(5)

    private let channel: any Channel
    private let replyTimeout: Duration
    private let ending: NIOLockedValueBox<PeerError?>
    /// The feature words of the tracker's `HELLO` reply (``TrackerFeature``).
    private let features = NIOLockedValueBox<Set<String>>([])

    private init(channel: any Channel, replyTimeout: Duration, ending: NIOLockedValueBox<PeerError?>) {
        self.channel = channel
        self.replyTimeout = replyTimeout
        self.ending = ending
    }

    /// Why the connection ended, once it has: the tracker closed it, said `421 …`, broke the protocol.
    public var endReason: PeerError? { ending.withLockedValue { $0 } }

    /// Connects to `server`. When `localHost` is a specific address the connection leaves from it (so
    /// the tracker records that address); `sourcePort` binds the local port too. `replyTimeout` is
    /// how long each request may wait for its reply, `connectTimeout` how long the connect may take
    /// (tests change them).
    public static func connect(
        to server: Endpoint,
        localHost: String? = nil,
        sourcePort: Int? = nil,
        replyTimeout: Duration = TrackerConnection.replyTimeout,
        connectTimeout: Duration = TrackerConnection.connectTimeout,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TrackerConnection {
        let ending = NIOLockedValueBox<PeerError?>(nil)
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(
                        LineFrameDecoder(maximumLineLength: TrackerLimits.maximumLineLength)))
                    try sync.addHandler(TrackerReplyHandler())
                    try sync.addHandler(TrackerRequestHandler { reason in ending.withLockedValue { $0 = reason } })
                }
            }
        let bindHost = localHost.flatMap { $0 == "0.0.0.0" || $0 == "::" ? nil : $0 }
        if bindHost != nil || sourcePort != nil {
            let local = try SocketAddress.makeAddressResolvingHost(bindHost ?? "0.0.0.0", port: sourcePort ?? 0)
            bootstrap = bootstrap.bind(to: local)
        }
        do {
            let channel = try await bootstrap.connect(host: server.host, port: server.port).get()
            return TrackerConnection(channel: channel, replyTimeout: replyTimeout, ending: ending)
        } catch {
            throw PeerError(.trackerUnavailable,
                            "cannot reach the tracker at \(server): \(describe(connectError: error, timeout: TimeAmount(connectTimeout)))")
        }
    }

    /// Sends `lines` as one request and waits for the reply, at most ``replyTimeout``: past it the
    /// connection is closed and the request fails with `tracker_unavailable`.
    public func send(_ lines: [String]) async throws -> TrackerReply {
        try await send(lines, timeout: replyTimeout)
    }

    private func send(_ lines: [String], timeout: Duration) async throws -> TrackerReply {
        var buffer = channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            buffer.writeString(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        let channel = self.channel
        let reply = channel.eventLoop.makePromise(of: TrackerReply.self)
        // The deadline is a timer on the event loop, so it holds whatever the tracker does.
        reply.failAfter(TimeAmount(timeout),
                        with: PeerError(.trackerUnavailable, "the tracker did not answer within \(timeout.spoken)"),
                        onTimeout: { channel.close(promise: nil) })
        // A write that cannot go out (the connection is gone) fails the reply with the reason the
        // connection ended for (a `421 …` line the tracker sent before closing, say), if one was heard.
        let written = channel.eventLoop.makePromise(of: Void.self)
        let ending = self.ending
        written.futureResult.whenFailure { error in
            reply.fail(error as? PeerError ?? ending.withLockedValue { $0 } ?? TrackerRequestHandler.closedByTracker)
        }
        channel.writeAndFlush(TrackerRequestHandler.Request(bytes: buffer, reply: reply), promise: written)
        let answer = try await reply.valueCancellingOnTaskCancel()
        // 421 ends the connection whatever was asked.
        if answer.final.status == .closing {
            throw TrackerRequestHandler.closing(answer)
        }
        return answer
    }

    /// Sends one request and waits for its reply, which must report success.
    public func send(_ request: TrackerRequest) async throws -> TrackerReply {
        try await send([request.line]).checked()
    }

    /// Registers as a peer serving on these ports; returns the address the tracker sees.
    public func hello(tcpPort: Int, udpPort: Int) async throws -> String {
        let reply = try await send(.hello(tcpPort: UInt16(tcpPort), udpPort: UInt16(udpPort)))
        features.withLockedValue { $0 = TrackerFeature.features(ofHelloReply: reply.final.text) }
        var scanner = LineScanner(reply.final.text)
        _ = scanner.word()
        return scanner.word() ?? "?"
    }

    /// Whether the tracker said, in its `HELLO` reply, that `FILE` and `ADD` lines may carry roots.
    public var acceptsRoots: Bool { features.withLockedValue { $0.contains(TrackerFeature.roots) } }

    /// Whether the tracker said, in its `HELLO` reply, that `ADD` lines may announce partial holders.
    public var acceptsPartialHolders: Bool { features.withLockedValue { $0.contains(TrackerFeature.partial) } }

    /// `entry` as this tracker takes it: without its root unless the tracker accepts roots.
    public func announceable(_ entry: SharedFileEntry) -> SharedFileEntry {
        acceptsRoots ? entry : entry.withoutRoot
    }

    /// Replaces the peer's whole share on the tracker.
    public func announce(_ entries: [SharedFileEntry]) async throws -> TrackerReply {
        try await send([TrackerRequest.update(count: entries.count).line] + entries.map { TrackerRequest.file(announceable($0)).line })
            .checked()
    }

    /// Asks who holds each name.
    public func lookup(_ names: [String]) async throws -> [LookupResult] {
        let reply = try await send([TrackerRequest.send(names).line])
        do {
            return try LookupResult.results(of: reply)
        } catch {
            throw PeerError(.trackerProtocol, "tracker: \(error)")
        }
    }

    /// Sends `REPORT` lines, one request each (the tracker answers them on its event loop, at once);
    /// stops at the first that fails (an old tracker answers `401`: it does not rank holders). A
    /// reply that does not come within the reply timeout ends the connection, as for any request.
    public func report(_ reports: [HolderReport]) async {
        for report in reports where channel.isActive {
            let reply: TrackerReply
            do {
                reply = try await send([TrackerRequest.report(report).line])
            } catch {
                return
            }
            guard reply.final.status.isSuccess || reply.final.status == .notFound else { return }
        }
    }

    /// Lists shared files matching `pattern` (the entries of ``listing(_:)``).
    public func list(_ pattern: String?) async throws -> [ListEntry] {
        try await listing(pattern).entries
    }

    /// Completes when the connection closes.
    public func closed() async {
        try? await channel.closeFuture.get()
    }

    /// Closes at once, without `QUIT`.
    func abort() {
        channel.close(promise: nil)
    }

    public var isActive: Bool { channel.isActive }

    /// Says `QUIT` (best effort, at most ``quitTimeout``) and closes. A cancelled task closes at once,
    /// as a killed process would.
    public func close() async {
        if channel.isActive, !Task.isCancelled {
            _ = try? await send([TrackerRequest.quit.line], timeout: Self.quitTimeout)
        }
        try? await channel.close()
    }
}

/// Gathers tracker lines into replies; anything that breaks the protocol closes the connection.
final class TrackerReplyHandler: ChannelInboundHandler {
    typealias InboundIn = LineFrame
    typealias InboundOut = TrackerReply

    private var assembler = TrackerReplyAssembler()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .line(let line):
            do {
                if let reply = try assembler.push(line) {
                    context.fireChannelRead(wrapInboundOut(reply))
                }
            } catch {
                context.fireErrorCaught(PeerError(.trackerProtocol, "tracker: \(error)"))
            }
        case .invalid(let problem):
            context.fireErrorCaught(PeerError(.trackerProtocol, "tracker sent a bad line: \(problem)"))
        }
    }
}

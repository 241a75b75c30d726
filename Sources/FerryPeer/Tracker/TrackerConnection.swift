import FerryWire
import NIOCore
import NIOExtras
import NIOPosix

/// One control connection to the tracker: requests go out in order and each gets its whole reply.
///
/// The pipeline is `LineFrameDecoder` → ``TrackerReplyHandler`` → NIOExtras' `RequestResponseHandler`,
/// so replies are matched to requests by order, as the protocol promises.
public final class TrackerConnection: Sendable {
    /// How long a reply may take before the connection is taken for dead.
    public static let replyTimeout: Duration = .seconds(10)

    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects to `server`. When `localHost` is a specific address the connection leaves from it (so
    /// the tracker records that address); `sourcePort` binds the local port too.
    public static func connect(
        to server: Endpoint,
        localHost: String? = nil,
        sourcePort: Int? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TrackerConnection {
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(
                        LineFrameDecoder(maximumLineLength: TrackerLimits.maximumLineLength)))
                    try sync.addHandler(TrackerReplyHandler())
                    try sync.addHandler(RequestResponseHandler<ByteBuffer, TrackerReply>())
                }
            }
        let bindHost = localHost.flatMap { $0 == "0.0.0.0" || $0 == "::" ? nil : $0 }
        if bindHost != nil || sourcePort != nil {
            let local = try SocketAddress.makeAddressResolvingHost(bindHost ?? "0.0.0.0", port: sourcePort ?? 0)
            bootstrap = bootstrap.bind(to: local)
        }
        do {
            let channel = try await bootstrap.connect(host: server.host, port: server.port).get()
            return TrackerConnection(channel: channel)
        } catch {
            throw PeerError(.trackerUnavailable,
                            "cannot reach the tracker at \(server): \(describe(connectError: error, timeout: .seconds(5)))")
        }
    }

    /// Sends `lines` as one request and waits for the reply.
    public func send(_ lines: [String]) async throws -> TrackerReply {
        var buffer = channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            buffer.writeString(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        let promise = channel.eventLoop.makePromise(of: TrackerReply.self)
        channel.writeAndFlush((buffer, promise), promise: nil)
        let future = promise.futureResult
        let channel = self.channel
        do {
            return try await withTimeout(Self.replyTimeout) { try await future.get() }
        } catch is TimeoutError {
            channel.close(promise: nil)
            throw PeerError(.trackerUnavailable, "the tracker did not answer within \(Self.replyTimeout)")
        }
    }

    /// Sends one request and waits for its reply, which must report success.
    public func send(_ request: TrackerRequest) async throws -> TrackerReply {
        try await send([request.line]).checked()
    }

    /// Registers as a peer serving on these ports; returns the address the tracker sees.
    public func hello(tcpPort: Int, udpPort: Int) async throws -> String {
        let reply = try await send(.hello(tcpPort: UInt16(tcpPort), udpPort: UInt16(udpPort)))
        var scanner = LineScanner(reply.final.text)
        _ = scanner.word()
        return scanner.word() ?? "?"
    }

    /// Replaces the peer's whole share on the tracker.
    public func announce(_ entries: [SharedFileEntry]) async throws -> TrackerReply {
        try await send([TrackerRequest.update(count: entries.count).line] + entries.map { TrackerRequest.file($0).line })
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

    /// Lists shared files matching `pattern`.
    public func list(_ pattern: String?) async throws -> [ListEntry] {
        try ListEntry.entries(of: try await send([TrackerRequest.list(pattern: pattern).line]))
    }

    /// Completes when the connection closes.
    public func closed() async {
        try? await channel.closeFuture.get()
    }

    public var isActive: Bool { channel.isActive }

    /// Says `QUIT` (best effort) and closes.
    public func close() async {
        if channel.isActive {
            _ = try? await withTimeout(.seconds(1)) { [self] in try await send([TrackerRequest.quit.line]) }
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

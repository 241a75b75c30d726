import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The HTTP/1.1 side of `ferry server --http` and `ferry peer --http`: `/metrics`, `/`,
/// `/status.json`, `/healthz` (``ObservabilityRoute``), from an ``ObservabilitySource``.
///
/// Built for a port that strangers may reach:
/// - one request per connection, answered with `Connection: close` (GET and HEAD carry no body, and
///   nothing is kept between requests);
/// - the request head is bounded (``Limits/maximumHeadBytes``, `431` beyond) before the decoder sees
///   it, and must arrive within ``Limits/headTimeout`` (a slow sender is closed);
/// - at most ``Limits/maximumConnections`` at once (`503` beyond); a client that does not read its
///   answer is closed after ``Limits/writeTimeout``;
/// - only GET and HEAD (`405`), only the four paths (`404`); malformed requests get NIO's `400`.
///
/// It runs on its own listening socket with channel handlers on the event loops; the source is asked
/// in a task, so a slow answer never blocks a loop.
public struct ObservabilityServer: Service, CustomStringConvertible {
    public struct Limits: Sendable {
        public var maximumHeadBytes = 8 * 1024
        public var headTimeout = TimeAmount.seconds(10)
        public var writeTimeout = TimeAmount.seconds(10)
        public var maximumConnections = 64
        public init() {}
    }

    let address: HTTPListenAddress
    let limits: Limits
    let source: any ObservabilitySource
    let logger: Logger
    let group: any EventLoopGroup
    let onListening: @Sendable (SocketAddress) -> Void

    public init(address: HTTPListenAddress, source: any ObservabilitySource, limits: Limits = Limits(), logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.address = address
        self.source = source
        self.limits = limits
        self.logger = logger
        self.group = group
        self.onListening = onListening
    }

    public var description: String { "ObservabilityServer(\(address))" }

    /// The HTTP side could not listen: a sentence for people.
    public struct ListenError: Error, CustomStringConvertible {
        public var address: HTTPListenAddress
        public var underlying: any Error
        public var description: String {
            "cannot serve --http on \(address): \(underlying); choose another port with --http"
        }
    }

    public func run() async throws {
        let open = NIOLockedValueBox(0)
        let limits = self.limits
        let source = self.source
        let logger = self.logger
        let title = source.title
        let page = ObservabilityHTTPHandler.Page(html: Array(StatusPage.html(title: title).utf8))
        let server: any Channel
        do {
            // Every connection on the loop that accepts it: their initializers, which take the slots,
            // then run in the order of the accepts. (Spread over the group's loops, a later connection's
            // initializer could run first and take the last slot from the one before it.) A scrape and
            // a status page are light, and they are few.
            let loop = group.next()
            server = try await ServerBootstrap(group: loop, childGroup: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 128)
                .childChannelOption(.allowRemoteHalfClosure, value: false)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let admitted = open.withLockedValue { count -> Bool in
                            guard count < limits.maximumConnections else { return false }
                            count += 1
                            return true
                        }
                        let pipeline = channel.pipeline.syncOperations
                        guard admitted else {
                            try pipeline.addHandler(RefusingHandler(response: Self.plainResponse(.serviceUnavailable, "too many connections\n")))
                            return
                        }
                        channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
                        try pipeline.addHandler(HeadBoundHandler(limits: limits))
                        try pipeline.addHandler(HTTPResponseEncoder())
                        try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                        try pipeline.addHandler(HTTPServerProtocolErrorHandler())
                        try pipeline.addHandler(ObservabilityHTTPHandler(source: source, page: page, writeTimeout: limits.writeTimeout, logger: logger))
                    }
                }
                .bind(host: address.host, port: address.port)
                .get()
        } catch {
            throw ListenError(address: address, underlying: error)
        }
        let bound = server.localAddress!
        let shown = bound.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "\(bound)"
        logger.notice("HTTP status and metrics listening", metadata: ["address": "\(shown):\(bound.port ?? address.port)"])
        onListening(bound)
        try? await withTaskCancellationOrGracefulShutdownHandler {
            try await server.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            server.close(promise: nil)
        }
    }

    /// How long a connection whose answer was sent may stay open for its client to close it.
    static let lingerAfterAnswer = TimeAmount.seconds(2)

    /// Closes the sending side once everything written is sent, and the whole connection when the
    /// client closes its side or after ``lingerAfterAnswer``. Closing at once, with bytes of the
    /// client still unread, would make the kernel send a reset that can destroy the answer in flight.
    static func finish(_ channel: any Channel, after written: EventLoopFuture<Void>) {
        written.whenComplete { _ in channel.close(mode: .output, promise: nil) }
        channel.eventLoop.scheduleTask(in: lingerAfterAnswer) { channel.close(promise: nil) }
    }

    /// A whole `HTTP/1.1` response with a plain-text body, as bytes (for the handlers that answer
    /// before the HTTP codec: 431, 503).
    static func plainResponse(_ status: HTTPResponseStatus, _ body: String) -> [UInt8] {
        let text = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        return Array(text.utf8)
    }
}

/// Sends one fixed response, then closes: a connection over the cap.
final class RefusingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let response: [UInt8]
    init(response: [UInt8]) { self.response = response }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        ObservabilityServer.finish(channel, after: context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: response))))
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Bounds the request head (``RequestHeadBound``) and the time it may take, before the decoder.
/// Bytes after the head are dropped: the connection serves that one request.
final class HeadBoundHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var bound: RequestHeadBound
    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(limits: ObservabilityServer.Limits) {
        bound = RequestHeadBound(maximumBytes: limits.maximumHeadBytes)
        timeout = limits.headTimeout
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch bound.verdict {
        case .complete, .tooLarge:
            return
        case .incomplete:
            break
        }
        switch bound.consume(bytes.readableBytesView) {
        case .incomplete:
            context.fireChannelRead(data)
        case .complete:
            deadline?.cancel()
            context.fireChannelRead(data)
        case .tooLarge:
            deadline?.cancel()
            let channel = context.channel
            let response = ObservabilityServer.plainResponse(.requestHeaderFieldsTooLarge, "request head too large\n")
            // What the client sends meanwhile is read and dropped (above).
            ObservabilityServer.finish(channel, after: context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: response))))
        }
    }
}

import Logging
import NIOCore
import NIOHTTP1

/// Answers the one request of a connection from the ``ObservabilitySource``, then closes.
final class ObservabilityHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The status page, rendered once per server.
    struct Page: Sendable {
        var html: [UInt8]
    }

    /// One answer, made off the loop.
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]
        var extraHeaders: [(String, String)] = []
    }

    private let source: any ObservabilitySource
    private let page: Page
    private let writeTimeout: TimeAmount
    private let logger: Logger
    private var decision: ObservabilityRoute.Decision?
    private var answered = false

    init(source: any ObservabilitySource, page: Page, writeTimeout: TimeAmount, logger: Logger) {
        self.source = source
        self.page = page
        self.writeTimeout = writeTimeout
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if decision == nil { decision = ObservabilityRoute.decide(method: head.method, uri: head.uri) }
        case .body:
            break
        case .end:
            guard let decision, !answered else { return }
            answered = true
            answer(decision, context)
        }
    }

    private func answer(_ decision: ObservabilityRoute.Decision, _ context: ChannelHandlerContext) {
        switch decision {
        case .refuse(let status):
            var extra: [(String, String)] = []
            if status == .methodNotAllowed { extra.append(("Allow", "GET, HEAD")) }
            write(Response(status: status, contentType: "text/plain; charset=utf-8",
                           body: Array("\(status.code) \(status.reasonPhrase)\n".utf8), extraHeaders: extra),
                  headOnly: false, context)
        case .serve(let route, let headOnly):
            let source = self.source
            let page = self.page
            let promise = context.eventLoop.makePromise(of: Response.self)
            promise.completeWithTask { await Self.response(for: route, source: source, page: page) }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = bound.value
                handler.write(response, headOnly: headOnly, context)
            }
        }
    }

    static func response(for route: ObservabilityRoute, source: any ObservabilitySource, page: Page) async -> Response {
        switch route {
        case .statusPage:
            return Response(status: .ok, contentType: "text/html; charset=utf-8", body: page.html,
                            extraHeaders: [("Content-Security-Policy", StatusPage.contentSecurityPolicy)])
        case .statusJSON:
            return Response(status: .ok, contentType: "application/json", body: await source.status().encoded())
        case .metrics:
            return Response(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(await source.metricsText().utf8))
        case .health:
            let report = await source.health()
            return report.healthy
                ? Response(status: .ok, contentType: "text/plain; charset=utf-8", body: Array("ok\n".utf8))
                : Response(status: .serviceUnavailable, contentType: "text/plain; charset=utf-8", body: Array("\(report.text)\n".utf8))
        }
    }

    private func write(_ response: Response, headOnly: Bool, _ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Connection", value: "close")
        for (name, value) in response.extraHeaders { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        if !headOnly {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let channel = context.channel
        ObservabilityServer.finish(channel, after: context.writeAndFlush(wrapOutboundOut(.end(nil))))
        // A client that does not read its answer is not waited for.
        channel.eventLoop.scheduleTask(in: writeTimeout) { channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("HTTP connection ended with an error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}

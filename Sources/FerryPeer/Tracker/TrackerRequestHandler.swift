import FerryWire
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Matches tracker replies to requests by order, and guarantees that every reply promise it is given
/// completes: with its reply, or with the reason the connection ended.
///
/// It replaces NIOExtras' `RequestResponseHandler`, which fails outstanding promises on
/// `channelInactive` but cannot see a request written after the pipeline was torn down, and which
/// passes an unsolicited reply on as an error nobody handles. Here:
/// - a request written once the connection has ended fails at once with that reason;
/// - a reply with no request waiting (the tracker's `421` before it closes) ends the connection and
///   becomes the reason every later request fails with;
/// - `channelInactive`, an error and the handler's removal all fail what is outstanding.
final class TrackerRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = TrackerReply
    typealias InboundOut = Never
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    /// The request's bytes (one or more lines) and the promise its reply completes.
    struct Request {
        var bytes: ByteBuffer
        var reply: EventLoopPromise<TrackerReply>
    }

    private var pending = CircularBuffer<EventLoopPromise<TrackerReply>>()
    /// Set once the connection is over: the error every outstanding and later request fails with.
    private var ended: PeerError?
    /// Hears why the connection ended, once.
    private let onEnd: @Sendable (PeerError) -> Void

    init(onEnd: @escaping @Sendable (PeerError) -> Void = { _ in }) {
        self.onEnd = onEnd
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let ended {
            request.reply.fail(ended)
            promise?.fail(ended)
            return
        }
        pending.append(request.reply)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard ended == nil else { return }
        if let promise = pending.popFirst() {
            promise.succeed(reply)
            // A 421 answers the request and ends the connection: it is the reason for what follows.
            if reply.final.status == .closing {
                end(Self.closing(reply))
                context.close(promise: nil)
            }
            return
        }
        // Nothing was asked: the tracker is telling us it is closing (421), or breaking the protocol.
        let reason = reply.final.status == .closing
            ? Self.closing(reply)
            : PeerError(.trackerProtocol, "the tracker sent a reply nobody asked for: \(reply.final.line)")
        end(reason)
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(Self.reason(for: error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(Self.closedByTracker)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end(Self.closedByTracker)
    }

    static let closedByTracker = PeerError(.trackerUnavailable, "the tracker closed the connection")

    /// The reason for a connection the tracker ended with `421 …`.
    static func closing(_ reply: TrackerReply) -> PeerError {
        PeerError(.trackerUnavailable, "the tracker closed the connection: \(reply.final.line)")
    }

    /// A plain sentence for an error on the connection.
    static func reason(for error: any Error) -> PeerError {
        if let error = error as? PeerError { return error }
        if let error = error as? IOError, error.errnoCode == ECONNRESET {
            return PeerError(.trackerUnavailable, "the tracker reset the connection")
        }
        return PeerError(.trackerUnavailable, "the tracker connection failed: \(describe(connectError: error, timeout: .zero))")
    }

    /// Records why the connection ended (the first reason wins) and fails every outstanding request.
    private func end(_ reason: PeerError) {
        if ended == nil {
            ended = reason
            onEnd(reason)
        }
        while let promise = pending.popFirst() {
            promise.fail(ended!)
        }
    }
}

@available(*, unavailable)
extension TrackerRequestHandler: Sendable {}

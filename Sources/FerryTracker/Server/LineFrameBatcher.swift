import FerryWire
import NIOCore

/// Gathers the frames decoded from one burst of reads into one array, passed on at
/// `channelReadComplete`.
///
/// The tracker answers a batch with one write: a client that sends thousands of lines at once costs
/// one hop to the event loop and one system call per read, not one per line. Without it a `PING` flood
/// queued one event-loop task per reply, and accepting a new connection waited behind all of them.
/// A batch is bounded by what one read takes in (``TrackerLimits/receiveBufferSize`` bytes: the tracker
/// reads once per wake-up).
final class LineFrameBatcher: ChannelInboundHandler {
    typealias InboundIn = LineFrame
    typealias InboundOut = [LineFrame]

    private var pending: [LineFrame] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.append(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        passOn(context: context)
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Frames decoded at the end of the stream come before the news of the end.
        passOn(context: context)
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        passOn(context: context)
        context.fireChannelInactive()
    }

    private func passOn(context: ChannelHandlerContext) {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending = []
        context.fireChannelRead(wrapInboundOut(batch))
    }
}

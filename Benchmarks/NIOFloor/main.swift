// ferry-nio-floor: the least a SwiftNIO line server does per connection, for bench/tracker.sh.
//
// It listens as `ferry server` does (one socket per event loop, SO_REUSEPORT, the same socket
// options) and answers every request line with a fixed reply, no index, no admission, no timers: what
// SwiftNIO itself costs per lookup and per connection on this machine, the floor under Ferry's
// tracker. A `SEND` gets a reply of the shape and size of Ferry's in bench/tracker.sh (one content,
// five holders); it understands just enough of `HELLO` and `UPDATE` for ferry-tracker-load to register.
import ArgumentParser
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

final class FloorHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A reply of the shape and size of Ferry's in the bench: one name, one content, five holders.
    static let lookupReply = "210-FILE \"bench-0000042.bin\" 512042 " + String(repeating: "5f3a9c0e1b2d4f68", count: 4) + " 5\n"
        + (1...5).map { "211-PEER 127.11.0.\($0) 2000\($0) 0\n" }.joined() + "200 SEND 1\n"

    private var skipping = 0
    private var line: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        var reply = context.channel.allocator.buffer(capacity: 0)
        for byte in bytes.readableBytesView {
            guard byte == UInt8(ascii: "\n") else {
                if line.count < 64 { line.append(byte) }
                continue
            }
            defer { line.removeAll(keepingCapacity: true) }
            if skipping > 0 {
                skipping -= 1
                if skipping == 0 { reply.writeString("200 UPDATED\n") }
                continue
            }
            if line.starts(with: "UPDATE ".utf8) {
                skipping = Int(String(decoding: line.dropFirst(7), as: UTF8.self)) ?? 0
                if skipping == 0 { reply.writeString("200 UPDATED\n") }
            } else if line.starts(with: "SEND ".utf8) {
                reply.writeString(Self.lookupReply)
            } else {
                reply.writeString("200 OK\n")
            }
        }
        if reply.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(reply), promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

@main
struct NIOFloor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry-nio-floor",
        abstract: "A SwiftNIO line server that does nothing but answer: the floor under Ferry's tracker.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "TCP port to listen on.") var port = 4446

    func run() throws {
        let group = MultiThreadedEventLoopGroup.singleton
        var listeners: [any Channel] = []
        for loop in group.makeIterator() {
            listeners.append(try ServerBootstrap(group: loop, childGroup: loop)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.socketOption(.init(rawValue: SO_REUSEPORT)), value: 1)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.maxMessagesPerRead, value: 16)
                .serverChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(FloorHandler())
                    }
                }
                .bind(host: host, port: port).wait())
        }
        print("ferry-nio-floor listening on \(host):\(port), \(listeners.count) event loops")
        try listeners[0].closeFuture.wait()
    }
}

import FerryTestSupport
import FerryWire
import NIOCore
import NIOPosix

/// A raw TCP client for tests that send what a well-behaved client never would.
final class RawClient {
    private let channel: any Channel
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending = ByteBuffer()

    /// Connects, runs `body` with the client, and closes.
    static func withConnection<T>(host: String, port: Int, _ body: (RawClient) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(RawClient(channel: channel.channel, iterator: inbound.makeAsyncIterator(), outbound: outbound))
        }
    }

    private init(channel: any Channel, iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
                 outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.channel = channel
        self.iterator = iterator
        self.outbound = outbound
    }

    func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    /// The next line, without `\n`; `nil` when the connection closed first.
    func readLine(timeout: Duration = Sanitizers.patience(.seconds(5))) async throws -> String? {
        while true {
            if let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending.readString(length: newline - pending.readerIndex)!
                pending.moveReaderIndex(forwardBy: 1)
                return line
            }
            guard var next = try await nextBuffer(timeout: timeout) else { return nil }
            pending.writeBuffer(&next)
        }
    }

    /// Every line of the next tracker reply, up to and including its final line.
    func readReply() async throws -> [String] {
        var lines: [String] = []
        while let line = try await readLine() {
            lines.append(line)
            if TrackerReplyLine(parsing: line)?.isFinal ?? true { break }
        }
        return lines
    }

    /// All bytes until the peer closes (after what `readLine` left over).
    func readToEnd(limit: Int = 64 << 20) async throws -> [UInt8] {
        var all = pending
        pending = ByteBuffer()
        while var next = try await nextBuffer(timeout: Sanitizers.patience(.seconds(10))), all.readableBytes <= limit {
            all.writeBuffer(&next)
        }
        return Array(all.readableBytesView)
    }

    private func nextBuffer(timeout: Duration) async throws -> ByteBuffer? {
        let channel = self.channel
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        return try await iterator.next()
    }
}

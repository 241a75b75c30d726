import FerryPeer
import FerryTestSupport
import Foundation
import NIOCore
import NIOPosix

/// This test run's loopback network, `127.A.B.0/24` drawn once per process, so that per-address
/// caps see distinct clients and nothing collides with a running `ferry demo`.
let testNetwork: String = {
    var generator = SystemRandomNumberGenerator()
    return "127.\(Int.random(in: 16...254, using: &generator)).\(Int.random(in: 0...254, using: &generator))."
}()

/// The address of test client or server `number` (2, 3, …) in this run's loopback network.
func testHost(_ number: Int) -> String { testNetwork + String(number) }

/// A raw TCP client for the file server tests: sends bytes, reads lines and bytes, sees the close.
/// Every read is bounded by a timeout that closes the connection.
final class LoopbackClient {
    let channel: any Channel
    private var iterator: AsyncStream<ByteBuffer>.AsyncIterator
    private var pending = ByteBuffer()
    /// Whether a read reached the end of the stream (the server closed).
    private(set) var closedByPeer = false

    /// Hands what arrives to the test, and the end of the stream when the connection closes.
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let continuation: AsyncStream<ByteBuffer>.Continuation

        init(_ continuation: AsyncStream<ByteBuffer>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            continuation.yield(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            // The server's half-close: the stream ends, the connection stays for writing.
            if event is ChannelEvent, case .inputClosed = event as! ChannelEvent {
                continuation.finish()
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            continuation.finish()
            context.close(promise: nil)
        }
    }

    /// Connects from `source` (any port) to `host`:`port`.
    init(from source: String, to host: String, port: Int) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(continuation))
                }
            }
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .connect(host: host, port: port)
            .get()
        iterator = stream.makeAsyncIterator()
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    func send(_ text: String) async throws {
        try await send(ByteBuffer(string: text))
    }

    /// The next line without `\n`, or `nil` when the server closed first.
    func readLine(timeout: Duration = Sanitizers.patience(.seconds(10))) async throws -> String? {
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

    /// Reads and counts bytes until the server closes (or `timeout` passes: then the client closes).
    func readToEnd(timeout: Duration = Sanitizers.patience(.seconds(10))) async throws -> Int {
        var count = pending.readableBytes
        pending.clear()
        while let next = try await nextBuffer(timeout: timeout) {
            count += next.readableBytes
        }
        return count
    }

    /// Reads at least `count` bytes (fewer only if the server closed first); returns how many.
    func read(atLeast count: Int, timeout: Duration = Sanitizers.patience(.seconds(10))) async throws -> Int {
        var got = pending.readableBytes
        pending.clear()
        while got < count, let next = try await nextBuffer(timeout: timeout) {
            got += next.readableBytes
        }
        return got
    }

    /// Waits for the server to close the connection; `true` if it did within `timeout`.
    func waitForClose(timeout: Duration = Sanitizers.patience(.seconds(10))) async throws -> Bool {
        _ = try await readToEnd(timeout: timeout)
        return closedByPeer
    }

    func close() async {
        try? await channel.close()
    }

    private func nextBuffer(timeout: Duration) async throws -> ByteBuffer? {
        let channel = self.channel
        let timedOut = NIOLockedValueBoxFlag()
        let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                                                                    + timeout.components.attoseconds / 1_000_000_000)) {
            timedOut.set()
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        let next = await iterator.next()
        if next == nil, !timedOut.value { closedByPeer = true }
        return next
    }
}

/// A flag set from an event loop and read from a test.
final class NIOLockedValueBoxFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}

import FerryTestSupport
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Collects every datagram that reaches a socket, for tests that count what a server sends back.
final class DatagramCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let received = NIOLockedValueBox<[ByteBuffer]>([])

    var datagrams: [ByteBuffer] { received.withLockedValue { $0 } }
    var byteCount: Int { datagrams.reduce(0) { $0 + $1.readableBytes } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        received.withLockedValue { $0.append(envelope.data) }
    }

    /// A socket on `host` whose incoming datagrams this collector records.
    static func bind(host: String) async throws -> (any Channel, DatagramCollector) {
        let collector = DatagramCollector()
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .bind(host: host, port: 0)
            .get()
        return (channel, collector)
    }
}

/// A userspace relay between one UDP client and one server that drops a share of the datagrams in
/// each direction (the kernel here has no netem), and datagrams larger than its path carries.
/// Seeded, so a failure can be replayed.
final class LossyRelay: Sendable {
    let address: SocketAddress
    private let front: any Channel
    private let back: any Channel
    let dropped: NIOLockedValueBox<Int>
    let forwarded: NIOLockedValueBox<Int>
    /// Datagrams dropped for being larger than `maximumDatagramSize`.
    let tooLarge: NIOLockedValueBox<Int>
    /// The largest datagram forwarded from the server to the client.
    let largestToClient: NIOLockedValueBox<Int>

    private init(address: SocketAddress, front: any Channel, back: any Channel, dropped: NIOLockedValueBox<Int>,
                 forwarded: NIOLockedValueBox<Int>, tooLarge: NIOLockedValueBox<Int>, largestToClient: NIOLockedValueBox<Int>) {
        self.address = address
        self.front = front
        self.back = back
        self.dropped = dropped
        self.forwarded = forwarded
        self.tooLarge = tooLarge
        self.largestToClient = largestToClient
    }

    /// Listens on `host:port` and forwards to `server`, dropping each datagram with probability
    /// `lossPercent` / 100, and every datagram above `maximumDatagramSize` bytes (a path with a
    /// smaller MTU, whose routers drop what may not be fragmented).
    static func start(host: String, port: Int, server: SocketAddress, lossPercent: Int, seed: UInt64,
                      maximumDatagramSize: Int? = nil) async throws -> LossyRelay {
        let state = NIOLockedValueBox((generator: SeededGenerator(seed: seed), client: SocketAddress?.none))
        let dropped = NIOLockedValueBox(0)
        let forwarded = NIOLockedValueBox(0)
        let tooLarge = NIOLockedValueBox(0)
        let largestToClient = NIOLockedValueBox(0)
        let drop: @Sendable (Int) -> Bool = { size in
            if let maximumDatagramSize, size > maximumDatagramSize {
                tooLarge.withLockedValue { $0 += 1 }
                return true
            }
            let lose = state.withLockedValue { Int.random(in: 0..<100, using: &$0.generator) < lossPercent }
            (lose ? dropped : forwarded).withLockedValue { $0 += 1 }
            return lose
        }
        // Room for the largest datagram: the default 2 KiB buffers would cut larger ones short.
        let allocator = FixedSizeRecvByteBufferAllocator(capacity: 65_536)
        let back = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.recvAllocator, value: allocator)
            .bind(host: host, port: 0).get()
        let front = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.recvAllocator, value: allocator)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Forwarder { envelope in
                        state.withLockedValue { $0.client = envelope.remoteAddress }
                        guard !drop(envelope.data.readableBytes) else { return }
                        back.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: envelope.data), promise: nil)
                    })
                }
            }
            .bind(host: host, port: port).get()
        try await back.pipeline.addHandler(Forwarder { envelope in
            guard let client = state.withLockedValue({ $0.client }), !drop(envelope.data.readableBytes) else { return }
            largestToClient.withLockedValue { $0 = max($0, envelope.data.readableBytes) }
            front.writeAndFlush(AddressedEnvelope(remoteAddress: client, data: envelope.data), promise: nil)
        })
        return LossyRelay(address: front.localAddress!, front: front, back: back, dropped: dropped, forwarded: forwarded,
                          tooLarge: tooLarge, largestToClient: largestToClient)
    }

    func stop() async {
        try? await front.close()
        try? await back.close()
    }

    private final class Forwarder: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let forward: @Sendable (AddressedEnvelope<ByteBuffer>) -> Void
        init(_ forward: @escaping @Sendable (AddressedEnvelope<ByteBuffer>) -> Void) { self.forward = forward }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { forward(unwrapInboundIn(data)) }
    }
}

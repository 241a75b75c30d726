import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A file server that lies: it answers every request for a file of `size` bytes with the announced
/// size and SHA-256, sends wrong bytes for half of the range asked (or `sending` of them), and closes.
/// Run beside a ``TestPeer`` started with `serveFiles: false`, which announces the file for it.
final class LyingHolder: Sendable {
    private let server: NIOAsyncChannel<any Channel, Never>
    private let task: Task<Void, Never>
    private let served: NIOLockedValueBox<Int>
    /// Every connection accepted, closed by ``stop()`` (one the accept loop never took included).
    private let accepted: NIOLockedValueBox<[any Channel]>

    /// How many requests it answered.
    var requests: Int { served.withLockedValue { $0 } }

    private init(server: NIOAsyncChannel<any Channel, Never>, task: Task<Void, Never>,
                 served: NIOLockedValueBox<Int>, accepted: NIOLockedValueBox<[any Channel]>) {
        self.server = server
        self.task = task
        self.served = served
        self.accepted = accepted
    }

    /// With `corrupting`, it answers each range asked with exactly that range of these bytes, every
    /// byte flipped, and waits for the client to close: a holder whose every chunk is bad.
    static func start(host: String, port: Int, size: UInt64, digest: ContentDigest, corrupting content: [UInt8]? = nil) async throws -> LyingHolder {
        let accepted = NIOLockedValueBox<[any Channel]>([])
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(AcceptedChannel.autoReadOption, value: false)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    accepted.withLockedValue { $0.append(channel) }
                    return channel
                }
            }
        let counter = NIOLockedValueBox(0)
        let task = Task<Void, Never> {
            _ = try? await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await channel in connections {
                        group.addTask {
                            guard let connection = try? await AcceptedChannel.wrap(channel) as NIOAsyncChannel<ByteBuffer, ByteBuffer> else { return }
                            try? await connection.executeThenClose { inbound, outbound in
                                var request = ByteBuffer()
                                var answered = false
                                for try await var chunk in inbound {
                                    if answered { continue }        // until the client closes
                                    request.writeBuffer(&chunk)
                                    guard let newline = request.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { continue }
                                    let line = request.getString(at: request.readerIndex, length: newline - request.readerIndex) ?? ""
                                    let parsed = try? FileRequest(parsing: line)
                                    let offset = parsed?.offset ?? 0
                                    counter.withLockedValue { $0 += 1 }
                                    if let content {
                                        let end = parsed?.end ?? size
                                        let header = FileReplyHeader.ok(size: size, digest: digest, offset: offset, length: end - offset)
                                        try await outbound.write(ByteBuffer(string: header.line + "\n"))
                                        try await outbound.write(ByteBuffer(bytes: content[Int(offset)..<Int(end)].map { $0 ^ 0xFF }))
                                        answered = true
                                        continue
                                    }
                                    let header = FileReplyHeader.ok(size: size, digest: digest, offset: offset, length: size - offset)
                                    try await outbound.write(ByteBuffer(string: header.line + "\n"))
                                    try await outbound.write(ByteBuffer(repeating: 0xA5, count: Int((size - offset) / 2)))
                                    return
                                }
                            }
                        }
                    }
                }
            }
        }
        return LyingHolder(server: server, task: task, served: counter, accepted: accepted)
    }

    func stop() async {
        try? await server.channel.close()
        for channel in accepted.withLockedValue({ $0 }) { channel.close(promise: nil) }
        await task.value
    }
}

import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The peer's TCP file server: answers `GET <offset> <end> <name>` with a status line and the bytes,
/// sent zero-copy with sendfile (NIO `FileRegion`).
///
/// It serves only files of the current ``ShareSnapshot`` (regular files inside the share, symlinks
/// resolved), and only while the file still has the size and modification time it was hashed with.
/// Limits: a request line within ``FileProtocolLimits/maximumRequestLength`` bytes that arrives within
/// ``Limits/requestTimeout``; at most ``Limits/maximumUploads`` uploads at once (then `503 busy`); a
/// client that takes no bytes for ``Limits/stallTimeout`` is dropped.
public struct FileServer: Service, CustomStringConvertible {
    public struct Limits: Sendable {
        public var maximumUploads = 64
        public var requestTimeout: TimeAmount = .seconds(10)
        public var stallTimeout: TimeAmount = .seconds(30)
        public init() {}
    }

    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var limits: Limits
        public var rateLimiter: RateLimiter?

        public init(host: String = "0.0.0.0", port: Int = 5555, limits: Limits = Limits(), rateLimiter: RateLimiter? = nil) {
            self.host = host
            self.port = port
            self.limits = limits
            self.rateLimiter = rateLimiter
        }
    }

    /// The size of one sendfile region when no rate limit applies.
    static let regionSize = 4 << 20

    public let configuration: Configuration
    private let share: Share
    private let logger: Logger
    private let group: any EventLoopGroup
    private let onListening: @Sendable (SocketAddress) -> Void
    private let uploads = NIOLockedValueBox(0)

    public init(configuration: Configuration, share: Share, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.configuration = configuration
        self.share = share
        self.logger = logger
        self.group = group
        self.onListening = onListening
    }

    public var description: String { "FileServer(\(configuration.host):\(configuration.port))" }

    public func run() async throws {
        let stallTimeout = configuration.limits.stallTimeout
        let server: NIOAsyncChannel<NIOAsyncChannel<LineFrame, IOData>, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(IdleStateHandler(writeTimeout: stallTimeout))
                        try sync.addHandler(IdleCloser())
                        try sync.addHandler(ByteToMessageHandler(
                            LineFrameDecoder(maximumLineLength: FileProtocolLimits.maximumRequestLength)))
                        return try NIOAsyncChannel<LineFrame, IOData>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
        } catch {
            throw PeerError.cannotServe("files", host: configuration.host, port: configuration.port, error)
        }
        let address = server.channel.localAddress!
        logger.notice("serving files over TCP", metadata: ["address": "\(address.displayString)", "share": "\(share.folder)"])
        onListening(address)
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await serve(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            logger.debug("file server stopped")
        }
    }

    private func serve(_ connection: NIOAsyncChannel<LineFrame, IOData>) async {
        let client = connection.channel.remoteAddress?.displayString ?? "?"
        do {
            try await connection.executeThenClose { inbound, outbound in
                // A client that sends no request in time is closed: it holds no upload slot meanwhile.
                let channel = connection.channel
                let requestTimeout = channel.eventLoop.scheduleTask(in: configuration.limits.requestTimeout) {
                    channel.close(promise: nil)
                }
                var frames = inbound.makeAsyncIterator()
                let frame = try await frames.next()
                requestTimeout.cancel()
                guard let frame else { return }
                var handle: NIOFileHandle?
                var admitted = false
                // Writes return before the bytes are sent: the file (and the upload slot) stay until
                // the client, having every byte, closes the connection.
                defer {
                    try? handle?.close()
                    if admitted { uploads.withLockedValue { $0 -= 1 } }
                }
                do {
                    let request = try Self.request(from: frame)
                    guard let file = share.file(named: request.name) else {
                        throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(request.name.rawValue))")
                    }
                    handle = try openVerified(file)
                    admitted = uploads.withLockedValue { count in
                        guard count < configuration.limits.maximumUploads else { return false }
                        count += 1
                        return true
                    }
                    guard admitted else {
                        throw FileProtocolError(.busy, "busy: \(configuration.limits.maximumUploads) uploads running; try another peer")
                    }
                    try await send(request, of: file, from: handle!, to: outbound, client: client)
                } catch let refusal as FileProtocolError {
                    logger.debug("refused a request", metadata: ["client": "\(client)", "reply": "\(refusal.line)"])
                    try await outbound.write(.byteBuffer(ByteBuffer(string: refusal.line + "\n")))
                }
                outbound.finish()
                while try await frames.next() != nil {}
            }
        } catch {
            logger.debug("upload ended early", metadata: ["client": "\(client)", "error": "\(error)"])
        }
    }

    private static func request(from frame: LineFrame) throws(FileProtocolError) -> FileRequest {
        switch frame {
        case .line(let line): return try FileRequest(parsing: line)
        case .invalid(.tooLong(let limit)): throw FileProtocolError(.lineTooLong, "request longer than \(limit) bytes")
        case .invalid(.containsNUL): throw FileProtocolError(.malformed, "request contains NUL")
        case .invalid(.notUTF8): throw FileProtocolError(.malformed, "request is not valid UTF-8")
        }
    }

    private func send(_ request: FileRequest, of file: SharedFile, from handle: NIOFileHandle,
                      to outbound: NIOAsyncChannelOutboundWriter<IOData>, client: String) async throws {
        let end = request.end ?? file.size
        guard request.offset <= file.size, end <= file.size else {
            throw FileProtocolError(.badRange, "range from \(request.offset) to \(request.end.map(String.init) ?? "the end") is outside a file of \(file.size) bytes")
        }
        let header = FileReplyHeader.ok(size: file.size, digest: file.digest, offset: request.offset, length: end - request.offset)
        try await outbound.write(.byteBuffer(ByteBuffer(string: header.line + "\n")))
        logger.debug("upload", metadata: ["client": "\(client)", "file": "\(file.name)", "from": "\(request.offset)"])

        let chunk = configuration.rateLimiter?.chunkSize ?? Self.regionSize
        var position = Int(request.offset)
        while position < Int(end) {
            let next = min(position + chunk, Int(end))
            try await configuration.rateLimiter?.acquire(next - position)
            try await outbound.write(.fileRegion(FileRegion(fileHandle: handle, readerIndex: position, endIndex: next)))
            position = next
        }
    }

    /// Opens the shared file, checking that it is still what was hashed: a regular file inside the
    /// share with the same size and modification time.
    private func openVerified(_ file: SharedFile) throws(FileProtocolError) -> NIOFileHandle {
        guard let real = Share.realPath(file.path), real.hasPrefix(share.realFolder + "/") else {
            throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(file.name.rawValue))")
        }
        let fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(file.name.rawValue))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw FileProtocolError(.badName, "not a regular file: \(LineScanner.quote(file.name.rawValue))")
        }
        guard UInt64(info.st_size) == file.size, Share.modificationTime(info) == file.modified else {
            close(fd)
            throw FileProtocolError(.changed, "changed since it was hashed; it will be announced again shortly")
        }
        return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
    }
}

/// Closes a connection on which nothing could be written for the idle timeout: a stalled client.
final class IdleCloser: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

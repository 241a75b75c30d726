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
/// resolved), and only while the file still has the size and modification time it was hashed with;
/// and the verified chunks of files this peer is downloading (``PartialShares``), nothing else of
/// them. `LAYER` gives a file's chunk hashes and `HAVE` which chunks this peer has.
///
/// Limits (see ``Limits`` and docs/PROTOCOL.md), each refused with a reply line before anything is
/// opened: at most ``Limits/maximumConnectionsPerAddress`` connections per client address and
/// ``Limits/maximumConnections`` in all (`503 busy`, then closed; at the total cap a new connection
/// first takes the place of the oldest one that has not sent its request); a whole request line within
/// ``Limits/requestTimeout`` of connecting (`408`, then closed: a client trickling one byte a minute
/// costs one connection slot for that long and nothing else); at most ``Limits/maximumUploads`` open
/// files (`503 busy`, checked before the file is opened); a client that takes no bytes for
/// ``Limits/stallTimeout`` is dropped; a file that shrinks under an upload ends it at once.
///
/// On graceful shutdown it stops accepting, closes connections that are not uploading, lets running
/// uploads go on for ``Limits/shutdownGracePeriod`` and then closes them. Cancelling ``run()`` does
/// the same without the grace period.
public struct FileServer: Service, CustomStringConvertible {
    public struct Limits: Sendable {
        /// Uploads (open files) at once; more get `503 busy`, before their file is opened.
        public var maximumUploads = 64
        /// Connections held at once, uploading or not; more get `503 busy` and are closed.
        public var maximumConnections = 256
        /// Connections one client address (any port) may hold at once; more get `503 busy`.
        public var maximumConnectionsPerAddress = 8
        /// The whole request line must arrive within this time of connecting; else `408` and closed.
        public var requestTimeout: TimeAmount = .seconds(5)
        /// An upload whose client takes no bytes for this long is closed.
        public var stallTimeout: TimeAmount = .seconds(30)
        /// How often a running upload checks that its file did not shrink.
        public var truncationCheckInterval: TimeAmount = .milliseconds(250)
        /// On graceful shutdown, how long running uploads may go on before they are closed.
        public var shutdownGracePeriod: TimeAmount = .seconds(5)
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

    /// How long a refused connection waits for the client to close after the reply, so that the
    /// reply is not lost to a reset; then it is closed.
    static let refusalLinger: TimeAmount = .seconds(1)

    public let configuration: Configuration
    private let share: Share
    private let partials: PartialShares?
    private let logger: Logger
    private let group: any EventLoopGroup
    private let onListening: @Sendable (SocketAddress) -> Void
    private let connections: ConnectionRegistry
    /// Counts the bytes uploads hand to the socket (set by ``PeerNode``).
    let metrics: PeerMetrics?

    public init(configuration: Configuration, share: Share, partials: PartialShares? = nil, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, metrics: PeerMetrics? = nil,
                onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.metrics = metrics
        self.configuration = configuration
        self.share = share
        self.partials = partials
        self.logger = logger
        self.group = group
        self.onListening = onListening
        self.connections = ConnectionRegistry(limits: configuration.limits)
    }

    public var description: String { "FileServer(\(configuration.host):\(configuration.port))" }

    /// Uploads running now.
    public var activeUploads: Int { connections.uploads }

    /// Connections admitted and not yet closed.
    public var openConnections: Int { connections.counts.connections }

    public func run() async throws {
        let stallTimeout = configuration.limits.stallTimeout
        let connections = self.connections
        // Children are wrapped for async use in `serve`, not here (see `AcceptedChannel`): one that
        // the accept loop never takes is a plain channel, which `connections` closes.
        let server: NIOAsyncChannel<any Channel, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(AcceptedChannel.autoReadOption, value: false)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(IdleStateHandler(writeTimeout: stallTimeout))
                        try sync.addHandler(IdleCloser())
                        try sync.addHandler(ByteToMessageHandler(
                            LineFrameDecoder(maximumLineLength: FileProtocolLimits.maximumRequestLength)))
                        connections.accepted(channel)
                        return channel
                    }
                }
        } catch {
            throw PeerError.cannotServe("files", host: configuration.host, port: configuration.port, error)
        }
        let address = server.channel.localAddress!
        logger.notice("serving files over TCP", metadata: ["address": "\(address.displayString)", "share": "\(share.folder)"])
        onListening(address)
        // The accept loop runs in a task of its own that cancellation does not reach: cancelling an
        // iteration of the accepted connections would drop the ones still buffered without
        // `executeThenClose`. Cancellation and graceful shutdown close the listening socket instead;
        // the loop then serves (refuses) what is left and ends.
        let grace = configuration.limits.shutdownGracePeriod
        let accepting = Task { await acceptAndServe(server) }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await accepting.value
            } onCancel: {
                connections.shutDown(grace: .zero, listener: server.channel)
            }
        } onGracefulShutdown: {
            connections.shutDown(grace: grace, listener: server.channel)
        }
        logger.debug("file server stopped")
    }

    private func acceptAndServe(_ server: NIOAsyncChannel<any Channel, Never>) async {
        await withDiscardingTaskGroup { group in
            do {
                try await server.executeThenClose { inbound in
                    for try await channel in inbound {
                        connections.handedOver(channel)
                        // Admitted here, in the order the connections came, not in their tasks.
                        let host = channel.remoteAddress?.ipAddress ?? channel.remoteAddress?.displayString ?? "?"
                        let refusal = connections.admit(channel, host: host)
                        group.addTask { await serve(channel, host: host, refusal: refusal) }
                    }
                }
            } catch {
                logger.debug("file server stopped accepting", metadata: ["error": "\(error)"])
            }
            // Stopped accepting: what was accepted but never handed over is closed, and the group
            // ends when the connections left end, which the shutdown bounds by closing them after
            // the grace period.
            connections.stoppedAccepting()
        }
    }

    /// Serves a connection that ``ConnectionRegistry/admit(_:host:)`` took (`refusal` is `nil`: it
    /// is released at the end) or refused (it is told why and closed).
    private func serve(_ channel: any Channel, host: String, refusal: FileProtocolError?) async {
        let client = channel.remoteAddress?.displayString ?? "?"
        defer { if refusal == nil { connections.release(channel, host: host) } }
        let connection: NIOAsyncChannel<LineFrame, IOData>
        do {
            connection = try await AcceptedChannel.wrap(channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        } catch {
            logger.debug("connection closed before it was served", metadata: ["client": "\(client)", "error": "\(error)"])
            return
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                if let refusal {
                    logger.debug("refused a connection", metadata: ["client": "\(client)", "reply": "\(refusal.line)"])
                    try await outbound.write(.byteBuffer(ByteBuffer(string: refusal.line + "\n")))
                    outbound.finish()
                    try await Self.awaitClose(of: channel, frames: &frames, within: Self.refusalLinger)
                    return
                }
                // The whole request line must come in time: a client trickling bytes gets `408`.
                let timeout = FileProtocolError(.timeout, "no request within \(configuration.limits.requestTimeout.nanoseconds / 1_000_000) ms")
                let requestTimeout = channel.eventLoop.scheduleTask(in: configuration.limits.requestTimeout) {
                    channel.writeAndFlush(IOData.byteBuffer(ByteBuffer(string: timeout.line + "\n")), promise: nil)
                    channel.close(promise: nil)
                }
                let frame = try await frames.next()
                requestTimeout.cancel()
                guard let frame else { return }
                connections.requestReceived(channel)
                do {
                    try await answer(frame, on: channel, outbound: outbound, frames: &frames, client: client)
                } catch let refusal as FileProtocolError {
                    logger.debug("refused a request", metadata: ["client": "\(client)", "reply": "\(refusal.line)"])
                    try await outbound.write(.byteBuffer(ByteBuffer(string: refusal.line + "\n")))
                    outbound.finish()
                    try await Self.awaitClose(of: channel, frames: &frames, within: configuration.limits.requestTimeout)
                }
            }
        } catch {
            logger.debug("upload ended early", metadata: ["client": "\(client)", "error": "\(error)"])
        }
    }

    /// Serves one request, `GET`, `LAYER` or `HAVE`. Refusals are thrown.
    private func answer(_ frame: LineFrame, on channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<IOData>,
                        frames: inout NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator, client: String) async throws {
        switch try Self.request(from: frame) {
        case .get(let request):
            try await answer(request, on: channel, outbound: outbound, frames: &frames, client: client)
        case .layer(let request):
            try await answer(request, on: channel, outbound: outbound, frames: &frames, client: client)
        case .have(let request):
            try await answer(request, on: channel, outbound: outbound, frames: &frames, client: client)
        }
    }

    /// A file as the `LAYER` and `HAVE` answers see it: shared whole, or in progress here.
    private func content(_ name: SharedFileName, _ digest: ContentDigest) -> (size: UInt64, tree: MerkleTree, verified: [Bool]?)? {
        if let file = share.file(named: name) {
            return file.digest == digest ? (file.size, file.tree, nil) : nil
        }
        if let partial = partials?.file(named: name), partial.entry.digest == digest {
            return (partial.entry.size, partial.tree, partial.verified)
        }
        return nil
    }

    /// Answers `HAVE` from memory: every chunk of a shared file, the verified ones of a file in
    /// progress (at most 256 bytes; no disk, no upload slot), then waits for the client to close.
    private func answer(_ request: HaveRequest, on channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<IOData>,
                        frames: inout NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator, client: String) async throws {
        guard let (size, tree, verified) = content(request.name, request.digest) else {
            throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(request.name.rawValue)) with SHA-256 \(request.digest.hex)")
        }
        let bitmap = ChunkBitmap.bytes(of: verified ?? Array(repeating: true, count: tree.chunkCount))
        let header = HaveReplyHeader.ok(size: size, digest: request.digest, chunkSize: tree.chunkSize, length: bitmap.count)
        var buffer = ByteBuffer(string: header.line + "\n")
        buffer.writeBytes(bitmap)
        try await outbound.write(.byteBuffer(buffer))
        outbound.finish()
        try await Self.awaitClose(of: channel, frames: &frames, within: configuration.limits.requestTimeout)
    }

    /// Serves a piece layer from the share's snapshot (it was computed with the file's SHA-256, so no
    /// disk is read and no upload slot taken: at most 64 KiB from memory), then waits for the client
    /// to close. Only for the content asked for: other content under that name is `404`.
    private func answer(_ request: PieceLayerRequest, on channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<IOData>,
                        frames: inout NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator, client: String) async throws {
        guard let (size, tree, _) = content(request.name, request.digest) else {
            throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(request.name.rawValue)) with SHA-256 \(request.digest.hex)")
        }
        let layer = tree.pieceLayerBytes
        let header = PieceLayerReplyHeader.ok(size: size, digest: request.digest, chunkSize: tree.chunkSize,
                                              root: tree.root.digest, length: layer.count)
        var buffer = ByteBuffer(string: header.line + "\n")
        buffer.writeBytes(layer)
        try await outbound.write(.byteBuffer(buffer))
        logger.debug("piece layer", metadata: ["client": "\(client)", "file": "\(request.name)", "bytes": "\(layer.count)"])
        outbound.finish()
        try await Self.awaitClose(of: channel, frames: &frames, within: configuration.limits.requestTimeout)
    }

    /// Serves a `GET`: checks it, takes an upload slot, opens the file, sends the bytes while
    /// watching the file's size, and waits for the client to close. Refusals are thrown.
    private func answer(_ request: FileRequest, on channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<IOData>,
                        frames: inout NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator, client: String) async throws {
        guard let file = share.file(named: request.name) else {
            return try await answerPartial(request, on: channel, outbound: outbound, frames: &frames, client: client)
        }
        let end = request.end ?? file.size
        guard request.offset <= file.size, end <= file.size else {
            throw FileProtocolError(.badRange, "range from \(request.offset) to \(request.end.map(String.init) ?? "the end") is outside a file of \(file.size) bytes")
        }
        // The slot first: a refused request never opens the file.
        guard connections.beginUpload(channel) else {
            throw FileProtocolError(.busy, "busy: \(configuration.limits.maximumUploads) uploads running; try another peer")
        }
        defer { connections.endUpload(channel) }
        let handle = try openVerified(file)
        // Writes return before the bytes are sent: the file (and the upload slot) stay until the
        // client, having every byte, closes the connection.
        defer { try? handle.close() }
        let descriptor = try handle.withUnsafeFileDescriptor { $0 }
        let interval = configuration.limits.truncationCheckInterval
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await Self.watchForTruncation(descriptor, needed: end, every: interval, channel: channel, logger: logger,
                                              name: file.name, client: client)
            }
            defer { group.cancelAll() }
            try await send(request, end: end, size: file.size, digest: file.digest, name: file.name, from: handle,
                           to: outbound, client: client)
            metrics?.served(tcp: end - request.offset)
            outbound.finish()
            while try await frames.next() != nil {}
        }
    }

    /// Serves a `GET` of a file in progress: only a range whose chunks are all verified here (else
    /// `416`), from the part file. Refusals are thrown.
    private func answerPartial(_ request: FileRequest, on channel: any Channel, outbound: NIOAsyncChannelOutboundWriter<IOData>,
                               frames: inout NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator, client: String) async throws {
        guard let partial = partials?.file(named: request.name) else {
            throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(request.name.rawValue))")
        }
        let size = partial.entry.size
        let end = request.end ?? size
        guard request.offset <= size, end <= size else {
            throw FileProtocolError(.badRange, "range from \(request.offset) to \(request.end.map(String.init) ?? "the end") is outside a file of \(size) bytes")
        }
        guard partial.has(bytes: request.offset..<end) else {
            throw FileProtocolError(.badRange, "range from \(request.offset) to \(end) is not all verified here yet; ask HAVE")
        }
        guard connections.beginUpload(channel) else {
            throw FileProtocolError(.busy, "busy: \(configuration.limits.maximumUploads) uploads running; try another peer")
        }
        defer { connections.endUpload(channel) }
        let fd = open(partial.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(request.name.rawValue))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, UInt64(info.st_size) >= end else {
            close(fd)
            throw FileProtocolError(.notFound, "not found: \(LineScanner.quote(request.name.rawValue))")
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        defer { try? handle.close() }
        try await send(request, end: end, size: size, digest: partial.entry.digest, name: request.name, from: handle,
                       to: outbound, client: client)
        metrics?.served(tcp: end - request.offset)
        outbound.finish()
        while try await frames.next() != nil {}
    }

    /// Waits for the client to close the connection after a reply, closing it after `limit`.
    private static func awaitClose(of channel: any Channel, frames: inout NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator,
                                   within limit: TimeAmount) async throws {
        let linger = channel.eventLoop.scheduleTask(in: limit) { channel.close(promise: nil) }
        defer { linger.cancel() }
        while try await frames.next() != nil {}
    }

    /// Checks every `interval` that the file being sent is still at least `needed` bytes long; a
    /// shorter file would leave sendfile with nothing to send and the client waiting for its stall
    /// timer, so the connection is closed at once (the client sees it end early). Returns when
    /// cancelled or after closing.
    private static func watchForTruncation(_ descriptor: CInt, needed: UInt64, every interval: TimeAmount,
                                           channel: any Channel, logger: Logger, name: SharedFileName, client: String) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .nanoseconds(interval.nanoseconds))
            guard !Task.isCancelled else { return }
            var info = stat()
            if fstat(descriptor, &info) != 0 || UInt64(info.st_size) < needed {
                logger.warning("a shared file shrank while it was being sent; upload ended",
                               metadata: ["file": "\(name)", "client": "\(client)"])
                channel.close(promise: nil)
                return
            }
        }
    }

    private static func request(from frame: LineFrame) throws(FileProtocolError) -> FileServerRequest {
        switch frame {
        case .line(let line): return try FileServerRequest(parsing: line)
        case .invalid(.tooLong(let limit)): throw FileProtocolError(.lineTooLong, "request longer than \(limit) bytes")
        case .invalid(.containsNUL): throw FileProtocolError(.malformed, "request contains NUL")
        case .invalid(.notUTF8): throw FileProtocolError(.malformed, "request is not valid UTF-8")
        }
    }

    private func send(_ request: FileRequest, end: UInt64, size: UInt64, digest: ContentDigest, name: SharedFileName,
                      from handle: NIOFileHandle, to outbound: NIOAsyncChannelOutboundWriter<IOData>, client: String) async throws {
        let header = FileReplyHeader.ok(size: size, digest: digest, offset: request.offset, length: end - request.offset)
        try await outbound.write(.byteBuffer(ByteBuffer(string: header.line + "\n")))
        logger.debug("upload", metadata: ["client": "\(client)", "file": "\(name)", "from": "\(request.offset)"])

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

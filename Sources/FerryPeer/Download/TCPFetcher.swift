import FerryWire
import NIOCore
import NIOPosix

/// Fetches one range of one file from one peer's TCP file server into a ``PartFile``.
struct TCPFetcher: FileFetcher {
    var connectTimeout: TimeAmount = .seconds(5)
    /// No reply or no bytes for this long: the attempt is `stalled`.
    var stallTimeout: TimeAmount = .seconds(10)
    /// The address connections leave from, if set.
    var localHost: String?
    var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// The largest read from the socket, and how many reads may wait for the receiver: together, the
    /// bytes a connection holds in memory beyond the kernel's buffer. One fast download wants deep
    /// buffers; a swarm of sixteen connections wants shallow ones (``swarm``).
    var maximumReadSize = 1 << 20
    var readsAhead = 10

    /// Shallow buffers for a swarm's many connections: at most 1 MiB waiting on each.
    var swarm: TCPFetcher {
        var fetcher = self
        fetcher.maximumReadSize = 256 << 10
        fetcher.readsAhead = 4
        return fetcher
    }

    func fetch(
        _ name: SharedFileName,
        size: UInt64,
        digest: ContentDigest,
        range: Range<UInt64>,
        from holder: Holder,
        deliver: (ByteBuffer) async throws -> Bool
    ) async -> FetchResult {
        let offset = range.lowerBound
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await connect(to: holder)
        } catch {
            return FetchResult(bytes: 0, error: .connectFailed, message: describe(connectError: error, timeout: connectTimeout))
        }
        var received: UInt64 = 0
        do {
            return try await channel.executeThenClose { inbound, outbound in
                let request = FileRequest(name: name, offset: offset, end: range.upperBound == size ? nil : range.upperBound)
                let sendError = await Self.send(request.line, on: outbound)
                var header = ByteBuffer()
                var expected: UInt64?
                for try await var buffer in inbound {
                    if expected == nil {
                        header.writeBuffer(&buffer)
                        guard let newline = header.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                            if header.readableBytes > FileProtocolLimits.maximumReplyLength {
                                return FetchResult(bytes: 0, error: .protocolError, message: "reply line too long")
                            }
                            continue
                        }
                        let line = header.readString(length: newline - header.readerIndex) ?? ""
                        header.moveReaderIndex(forwardBy: 1)
                        switch Self.check(line, size: size, digest: digest, range: range) {
                        case .failure(let failure): return failure
                        case .success(let length): expected = length
                        }
                        buffer = header
                    }
                    let remaining = expected! - received
                    guard UInt64(buffer.readableBytes) <= remaining else {
                        return FetchResult(bytes: received, error: .protocolError, message: "peer sent more bytes than announced")
                    }
                    if buffer.readableBytes > 0 {
                        let more = try await deliver(buffer)
                        received += UInt64(buffer.readableBytes)
                        if !more { return FetchResult(bytes: received, error: nil) }
                    }
                    if received == expected! { return FetchResult(bytes: received, error: nil) }
                }
                if expected == nil {
                    return FetchResult(bytes: 0, error: .closedEarly, message: sendError.map { "\($0)" } ?? "peer closed without a reply")
                }
                return FetchResult(bytes: received, error: .closedEarly,
                              message: "peer closed after \(received) of \(expected!) bytes")
            }
        } catch let error as PartFileError {
            return FetchResult(bytes: received, error: error.code, message: error.message)
        } catch is StallError {
            return FetchResult(bytes: received, error: .stalled, message: "no bytes for \(stallTimeout.nanoseconds / 1_000_000_000) s")
        } catch {
            return FetchResult(bytes: received, error: .closedEarly, message: "\(error)")
        }
    }

    private enum HeaderCheck {
        case success(UInt64)
        case failure(FetchResult)
    }

    private static func check(_ line: String, size: UInt64, digest: ContentDigest, range: Range<UInt64>) -> HeaderCheck {
        let header: FileReplyHeader
        do {
            header = try FileReplyHeader(parsing: line)
        } catch {
            return .failure(FetchResult(bytes: 0, error: .protocolError, message: error.message))
        }
        switch header {
        case .refused(let refusal):
            return .failure(FetchResult(bytes: 0, error: TransferError(refusal: refusal.status), message: refusal.line))
        case .ok(let peerSize, let peerDigest, let peerOffset, let length):
            guard peerSize == size, peerDigest == digest else {
                return .failure(FetchResult(bytes: 0, error: .wrongContent,
                                       message: "peer offers \(peerSize) bytes with SHA-256 \(peerDigest.shortHex)…, not the announced \(size) bytes with \(digest.shortHex)…"))
            }
            guard peerOffset == range.lowerBound, length == UInt64(range.count) else {
                return .failure(FetchResult(bytes: 0, error: .protocolError, message: "peer answered another range"))
            }
            return .success(length)
        }
    }

    /// Writes a request line. A peer may answer and close before the write returns, and the writer
    /// then reports the channel closed although the line went out, so the caller reads the answer
    /// either way and reports the error only if none came.
    static func send(_ line: String, on outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async -> (any Error)? {
        do {
            try await outbound.write(ByteBuffer(string: line + "\n"))
            return nil
        } catch {
            return error
        }
    }

    /// A connection to `holder`'s file server, with the stall detector in place (`PieceLayerFetcher`
    /// connects through it too).
    func connect(to holder: Holder) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let stallTimeout = self.stallTimeout
        let readsAhead = self.readsAhead
        var bootstrap = ClientBootstrap(group: group)
            .connectTimeout(connectTimeout)
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(
                minimum: 64 * 1024, initial: min(256 * 1024, maximumReadSize), maximum: maximumReadSize))
        if let localHost, localHost != "0.0.0.0", localHost != "::" {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: localHost, port: 0))
        }
        return try await bootstrap.connect(host: holder.host, port: Int(holder.tcpPort)) { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(IdleStateHandler(readTimeout: stallTimeout))
                try sync.addHandler(StallDetector())
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel,
                    configuration: .init(backPressureStrategy: .init(lowWatermark: max(1, readsAhead / 4), highWatermark: readsAhead)))
            }
        }
    }
}

/// Raised in a download's pipeline when the peer sent nothing for the stall timeout.
struct StallError: Error {}

/// Turns the read-idle event into a ``StallError`` that ends the download's inbound stream.
final class StallDetector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .read = event as? IdleStateHandler.IdleStateEvent {
            context.fireErrorCaught(StallError())
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

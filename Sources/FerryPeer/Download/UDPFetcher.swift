import FerryUDP
import FerryWire
import NIOCore
import NIOPosix

/// Fetches one range of one file from one peer over Ferry's UDP protocol into a ``PartFile``: the
/// counterpart of ``TCPFetcher``, with the same result codes.
struct UDPFetcher: FileFetcher {
    var configuration = UDPConfiguration()
    /// The address the socket is bound to, if set.
    var localHost: String?
    var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    func fetch(
        _ name: SharedFileName,
        size: UInt64,
        digest: ContentDigest,
        range: Range<UInt64>,
        from holder: Holder,
        deliver: (ByteBuffer) async throws -> Bool
    ) async -> FetchResult {
        let offset = range.lowerBound
        let end = range.upperBound == size ? UDPWireLimits.toEndOfFile : range.upperBound
        let (events, continuation) = AsyncStream.makeStream(of: UDPDownloadEvent.self)
        let channel: any Channel
        do {
            channel = try await Self.open(UDPRequestFrame(name: name.rawValue, start: offset, end: end), to: holder,
                                          configuration: configuration, localHost: localHost, group: group, events: continuation)
        } catch {
            return .init(bytes: 0, error: .connectFailed, message: describe(connectError: error, timeout: .seconds(5)))
        }
        defer { channel.close(promise: nil) }

        var received: UInt64 = 0
        var answered = false
        return await withTaskCancellationHandler {
            for await event in events {
                switch event {
                case .response(let response):
                    answered = true
                    guard response.fileSize == size, response.sha256Hex == digest.hex else {
                        channel.writeAndFlush(UDPDownloadCommand.abort(FerryUDPError(.cancelled, reason: "wrong content")), promise: nil)
                        return .init(bytes: 0, error: .wrongContent,
                                     message: "peer offers \(response.fileSize) bytes with SHA-256 \(response.sha256Hex.prefix(12))…, not the announced \(size) bytes with \(digest.shortHex)…")
                    }
                    guard response.start == offset, response.end == range.upperBound else {
                        channel.writeAndFlush(UDPDownloadCommand.abort(FerryUDPError(.protocolViolation)), promise: nil)
                        return .init(bytes: 0, error: .protocolError, message: "peer answered another range")
                    }
                case .data(let bytes):
                    let more: Bool
                    do {
                        more = try await deliver(bytes)
                    } catch {
                        channel.writeAndFlush(UDPDownloadCommand.abort(FerryUDPError(.ioError)), promise: nil)
                        let local = error as? PartFileError
                        return .init(bytes: received, error: local?.code ?? .ioError, message: local?.message ?? "\(error)")
                    }
                    received += UInt64(bytes.readableBytes)
                    guard more else {
                        channel.writeAndFlush(UDPDownloadCommand.abort(FerryUDPError(.cancelled)), promise: nil)
                        return .init(bytes: received, error: nil)
                    }
                    channel.writeAndFlush(UDPDownloadCommand.consumed(bytes.readableBytes), promise: nil)
                case .closed(.completed):
                    guard offset + received == range.upperBound else {
                        return .init(bytes: received, error: .protocolError, message: "transfer ended after \(received) bytes")
                    }
                    return .init(bytes: received, error: nil)
                case .closed(.failed(let error)):
                    return Self.result(for: error, received: received, answered: answered)
                case .unreachable(let reason):
                    return .init(bytes: received, error: answered ? .closedEarly : .connectFailed, message: reason)
                }
            }
            return .init(bytes: received, error: .closedEarly, message: "cancelled")
        } onCancel: {
            channel.writeAndFlush(UDPDownloadCommand.abort(FerryUDPError(.cancelled)), promise: nil)
        }
    }

    /// Binds a socket, sends `request` to `holder`'s UDP port and starts the transfer; the handler
    /// reports to `continuation`, which is finished when opening fails (the socket is then closed).
    static func open(_ request: UDPRequestFrame, to holder: Holder, configuration: UDPConfiguration, localHost: String?,
                     group: any EventLoopGroup, events continuation: AsyncStream<UDPDownloadEvent>.Continuation) async throws -> any Channel {
        var bound: (any Channel)?
        do {
            let server = try SocketAddress(ipAddress: holder.host, port: Int(holder.udpPort))
            let coalesced = System.supportsUDPReceiveOffload
            let opened = try await DatagramBootstrap(group: group)
                .channelOption(.socketOption(.so_rcvbuf), value: UDPFileServer.socketBufferSize)
                .channelOption(.datagramVectorReadMessageCount, value: Self.readMessages(coalesced: coalesced))
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(
                    capacity: Self.readMessages(coalesced: coalesced) * Self.readSlotSize))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            UDPClientHandler(configuration: configuration, request: request, server: server, events: continuation))
                    }
                }
                .bind(host: Self.bindHost(localHost, server: server), port: 0)
                .get()
            // Closed below if any step of the setup fails.
            bound = opened
            if coalesced {
                // The server sends runs of datagrams as one GSO write; with GRO the kernel hands them
                // to us as one superbuffer too (one read and one wakeup instead of one per datagram).
                try await opened.setOption(.datagramReceiveOffload, value: true).get()
                try await opened.setOption(.datagramReceiveSegmentSize, value: true).get()
            }
            try await opened.connect(to: server).get()
            try await opened.writeAndFlush(UDPDownloadCommand.start).get()
            return opened
        } catch {
            if let bound { try? await bound.close() }
            continuation.finish()
            throw error
        }
    }

    /// The address the socket binds to: `localHost` unless it is a wildcard (`0.0.0.0`, `::`) or
    /// unset, in which case the wildcard of the server's family, so that an IPv4 server is reached
    /// from `::` as from `0.0.0.0` (as the TCP fetcher and the tracker connection do).
    static func bindHost(_ localHost: String?, server: SocketAddress) -> String {
        if let localHost, localHost != "0.0.0.0", localHost != "::" {
            return localHost
        }
        return server.protocol == .inet6 ? "::" : "0.0.0.0"
    }

    /// Datagrams (or coalesced superbuffers) read per system call.
    static func readMessages(coalesced: Bool) -> Int { coalesced ? 8 : 16 }

    /// The buffer room per message: 64 KiB, the largest UDP payload. A coalesced superbuffer is up
    /// to that long, and so is a single datagram: the server's size is its own choice (8192 bytes
    /// once discovered on loopback, up to 65 507 with `--udp-datagram-size`), and a shorter slot would truncate
    /// the datagram, which would then be dropped as malformed again and again.
    static let readSlotSize = 1 << 16

    /// The transfer error for how a UDP transfer failed.
    static func result(for error: FerryUDPError, received: UInt64, answered: Bool) -> FetchResult {
        let code: TransferError = switch error.code {
        case .notFound: .notFound
        case .badName: .badName
        case .badRange: .badRange
        case .busy: .busy
        case .idleTimeout: answered ? .stalled : .connectFailed
        case .ioError: .peerError
        default: answered ? .closedEarly : .protocolError
        }
        let message = switch error.code {
        case .idleTimeout: answered ? "no datagrams for the idle timeout" : "no answer over UDP"
        default: error.reason.isEmpty ? "\(error.code)" : error.reason
        }
        return .init(bytes: received, error: code, message: message)
    }
}

import Crypto
import FerryUDP
import FerryWire
import NIOCore
import NIOPosix

/// Fetches a file's piece layer (its BEP 52 chunk hashes) from one holder's TCP file server with
/// `LAYER`, and checks it against the root the tracker gave before anyone trusts it: what a swarm
/// download needs to check each chunk on its own. It also asks a partial holder which chunks it has
/// (`HAVE`, ``chunks(of:size:digest:chunkSize:from:)``).
public struct PieceLayerFetcher: Sendable {
    public var connectTimeout: TimeAmount = .seconds(5)
    /// No reply or no bytes for this long: `stalled`.
    public var stallTimeout: TimeAmount = .seconds(10)
    /// The address connections leave from, if set.
    public var localHost: String?
    public var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    public init(localHost: String? = nil) {
        self.localHost = localHost
    }

    /// Why a layer could not be had from a holder: a transfer error code and a sentence.
    public struct Failure: Error, Hashable, Sendable {
        public var code: TransferError
        public var message: String
    }

    /// The tree of `name` (`size` bytes, SHA-256 `digest`, BEP 52 root `root`) as `holder` serves it,
    /// checked: the holder offers that size and SHA-256 (else `wrong_content`), the reply follows the
    /// grammar and its limits (else `protocol_error`), and the layer leads to `root` (else
    /// `wrong_content`). A refusal is mapped as for `GET` (`not_found`, `busy`, …); an older peer that
    /// does not know `LAYER` answers `400`, which is `peer_error`.
    public func fetch(_ name: SharedFileName, size: UInt64, digest: ContentDigest, root: ContentDigest,
                      from holder: Holder) async -> Result<MerkleTree, Failure> {
        var chunkSize: UInt64 = 0
        let body = await exchange(PieceLayerRequest(name: name, digest: digest).line, with: holder) { line in
            Self.check(line, size: size, digest: digest, root: root).map { header in
                chunkSize = header.chunkSize
                return header.length
            }
        }
        return body.flatMap { bytes in
            let layer = MerkleTree.pieceLayer(fromBytes: bytes.readableBytesView)!
            guard let tree = MerkleTree(fileSize: size, chunkSize: chunkSize, root: MerkleHash(root), pieceLayer: layer) else {
                return .failure(Failure(code: .wrongContent, message: "the piece layer does not lead to the root \(root.shortHex)…"))
            }
            return .success(tree)
        }
    }

    /// Which chunks of `name` (`size` bytes, SHA-256 `digest`, in chunks of `chunkSize`) `holder`
    /// has, with `HAVE`: one flag per chunk. Checked as `LAYER` is: the size and SHA-256
    /// (`wrong_content`), the chunk size (`wrong_content`), the grammar and limits (`protocol_error`).
    public func chunks(of name: SharedFileName, size: UInt64, digest: ContentDigest, chunkSize: UInt64,
                       from holder: Holder) async -> Result<[Bool], Failure> {
        let body = await exchange(HaveRequest(name: name, digest: digest).line, with: holder) { line in
            let header: HaveReplyHeader
            do throws(FileProtocolError) {
                header = try HaveReplyHeader(parsing: line)
            } catch {
                return .failure(Failure(code: .protocolError, message: error.message))
            }
            switch header {
            case .refused(let refusal):
                return .failure(Failure(code: TransferError(refusal: refusal.status), message: refusal.line))
            case .ok(let peerSize, let peerDigest, let peerChunkSize, let length):
                guard peerSize == size, peerDigest == digest, peerChunkSize == chunkSize else {
                    return .failure(Failure(code: .wrongContent, message: "peer offers \(peerSize) bytes with SHA-256 "
                                            + "\(peerDigest.shortHex)… in chunks of \(peerChunkSize), not the file asked for"))
                }
                return .success(length)
            }
        }
        let count = MerkleTree.chunkCount(fileSize: size, chunkSize: chunkSize)
        return body.flatMap { bytes in
            guard let chunks = ChunkBitmap.chunks(from: bytes.readableBytesView, count: count) else {
                return .failure(Failure(code: .protocolError, message: "the bitmap's spare bits are not zero"))
            }
            return .success(chunks)
        }
    }

    /// One request over TCP: sends `line`, reads the status line (at most
    /// ``FileProtocolLimits/maximumReplyLength`` bytes), which `header` checks and turns into the
    /// length of the body, then exactly that many bytes.
    private func exchange(_ line: String, with holder: Holder,
                          header check: (String) -> Result<Int, Failure>) async -> Result<ByteBuffer, Failure> {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await connect(to: holder)
        } catch {
            return .failure(Failure(code: .connectFailed, message: describe(connectError: error, timeout: connectTimeout)))
        }
        do {
            return try await channel.executeThenClose { inbound, outbound in
                let sendError = await TCPFetcher.send(line, on: outbound)
                var received = ByteBuffer()
                var length: Int?
                for try await var buffer in inbound {
                    received.writeBuffer(&buffer)
                    if length == nil {
                        guard let newline = received.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                            if received.readableBytes > FileProtocolLimits.maximumReplyLength {
                                return .failure(Failure(code: .protocolError, message: "reply line too long"))
                            }
                            continue
                        }
                        let line = received.readString(length: newline - received.readerIndex) ?? ""
                        received.moveReaderIndex(forwardBy: 1)
                        switch check(line) {
                        case .failure(let failure): return .failure(failure)
                        case .success(let checked): length = checked
                        }
                    }
                    guard received.readableBytes <= length! else {
                        return .failure(Failure(code: .protocolError, message: "peer sent more bytes than announced"))
                    }
                    if received.readableBytes == length! { break }
                }
                guard let length else {
                    return .failure(Failure(code: .closedEarly, message: sendError.map { "\($0)" } ?? "peer closed without a reply"))
                }
                guard received.readableBytes == length else {
                    return .failure(Failure(code: .closedEarly, message: "peer closed after \(received.readableBytes) of \(length) bytes"))
                }
                return .success(received)
            }
        } catch is StallError {
            return .failure(Failure(code: .stalled, message: "no bytes for \(stallTimeout.nanoseconds / 1_000_000_000) s"))
        } catch {
            return .failure(Failure(code: .closedEarly, message: "\(error)"))
        }
    }

    /// The same over UDP: `layer/<sha256>/<name>` as a REQUEST name, the bytes a
    /// ``PieceLayerDocument`` held in memory (at most 64 KiB and 40 bytes, so a RESPONSE announcing
    /// more is `protocol_error`), checked against the RESPONSE's SHA-256 of them (`protocol_error`),
    /// the document's rules (`protocol_error`) and the root (`wrong_content`). An older peer answers
    /// `badName` (`bad_name`).
    public func fetchOverUDP(_ name: SharedFileName, size: UInt64, digest: ContentDigest, root: ContentDigest,
                             from holder: Holder, configuration: UDPConfiguration = UDPConfiguration()) async -> Result<MerkleTree, Failure> {
        let request = PieceLayerRequest(name: name, digest: digest)
        let (events, continuation) = AsyncStream.makeStream(of: UDPDownloadEvent.self)
        let channel: any Channel
        do {
            channel = try await UDPFetcher.open(UDPRequestFrame(name: request.udpName), to: holder, configuration: configuration,
                                                localHost: localHost, group: group, events: continuation)
        } catch {
            return .failure(Failure(code: .connectFailed, message: describe(connectError: error, timeout: .seconds(5))))
        }
        defer { channel.close(promise: nil) }
        func abort(_ code: TransferError, _ message: String) -> Result<MerkleTree, Failure> {
            channel.writeAndFlush(UDPDownloadCommand.abort(FerryUDPError(.protocolViolation)), promise: nil)
            return .failure(Failure(code: code, message: message))
        }
        var received: [UInt8] = []
        var response: (length: Int, sha256Hex: String)?
        return await withTaskCancellationHandler {
            for await event in events {
                switch event {
                case .response(let answer):
                    guard answer.start == 0, answer.end == answer.fileSize,
                          answer.fileSize <= UInt64(PieceLayerDocument.maximumLength) else {
                        return abort(.protocolError, "peer offers a layer of \(answer.fileSize) bytes from \(answer.start)")
                    }
                    response = (Int(answer.fileSize), answer.sha256Hex)
                case .data(let bytes):
                    guard let expected = response?.length, received.count + bytes.readableBytes <= expected else {
                        return abort(.protocolError, "peer sent more bytes than announced")
                    }
                    received += bytes.readableBytesView
                    channel.writeAndFlush(UDPDownloadCommand.consumed(bytes.readableBytes), promise: nil)
                case .closed(.completed):
                    guard let response, received.count == response.length else {
                        return .failure(Failure(code: .protocolError, message: "transfer ended after \(received.count) bytes"))
                    }
                    guard ContentDigest(SHA256.hash(data: received)).hex == response.sha256Hex else {
                        return .failure(Failure(code: .protocolError, message: "the layer's bytes do not match their SHA-256"))
                    }
                    return Self.tree(from: received, size: size, root: root)
                case .closed(.failed(let error)):
                    let result = UDPFetcher.result(for: error, received: 0, answered: response != nil)
                    return .failure(Failure(code: result.error ?? .peerError, message: result.message ?? "\(error.code)"))
                case .unreachable(let reason):
                    return .failure(Failure(code: response == nil ? .connectFailed : .closedEarly, message: reason))
                }
            }
            return .failure(Failure(code: .closedEarly, message: "cancelled"))
        } onCancel: {
            channel.writeAndFlush(UDPDownloadCommand.abort(FerryUDPError(.cancelled)), promise: nil)
        }
    }

    /// The tree in a layer document, checked against the root.
    static func tree(from bytes: [UInt8], size: UInt64, root: ContentDigest) -> Result<MerkleTree, Failure> {
        let document: PieceLayerDocument
        do {
            document = try PieceLayerDocument(parsing: bytes, fileSize: size)
        } catch {
            return .failure(Failure(code: .protocolError, message: error.message))
        }
        guard document.root == root, let layer = MerkleTree.pieceLayer(fromBytes: document.layer),
              let tree = MerkleTree(fileSize: size, chunkSize: document.chunkSize, root: MerkleHash(root), pieceLayer: layer)
        else {
            return .failure(Failure(code: .wrongContent, message: "the piece layer does not lead to the root \(root.shortHex)…"))
        }
        return .success(tree)
    }

    private static func check(_ line: String, size: UInt64, digest: ContentDigest,
                              root: ContentDigest) -> Result<(chunkSize: UInt64, length: Int), Failure> {
        let header: PieceLayerReplyHeader
        do {
            header = try PieceLayerReplyHeader(parsing: line)
        } catch {
            return .failure(Failure(code: .protocolError, message: error.message))
        }
        switch header {
        case .refused(let refusal):
            return .failure(Failure(code: TransferError(refusal: refusal.status), message: refusal.line))
        case .ok(let peerSize, let peerDigest, let chunkSize, let peerRoot, let length):
            guard peerSize == size, peerDigest == digest else {
                return .failure(Failure(code: .wrongContent,
                                        message: "peer offers \(peerSize) bytes with SHA-256 \(peerDigest.shortHex)…, not \(size) bytes with \(digest.shortHex)…"))
            }
            guard peerRoot == root else {
                return .failure(Failure(code: .wrongContent, message: "peer's root \(peerRoot.shortHex)… is not \(root.shortHex)…"))
            }
            return .success((chunkSize, length))
        }
    }

    private func connect(to holder: Holder) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await TCPFetcher(connectTimeout: connectTimeout, stallTimeout: stallTimeout, localHost: localHost, group: group)
            .connect(to: holder)
    }
}

import NIOCore

/// `LAYER` over UDP. The UDP protocol moves one byte range of one named thing; a piece layer travels
/// as a small virtual file whose REQUEST name is `layer/<sha256>/<name>` (a `/` no shared name can
/// hold, so an older server answers `badName` and no shared file is ever mistaken for it) and whose
/// bytes are a ``PieceLayerDocument``.
extension PieceLayerRequest {
    /// The first characters of a layer's REQUEST name.
    public static let udpNamePrefix = "layer/"

    /// The REQUEST name of this layer: `layer/<sha256>/<name>`, at most 326 bytes.
    public var udpName: String { Self.udpNamePrefix + digest.hex + "/" + name.rawValue }

    /// Reads a REQUEST name of the form `layer/<sha256>/<name>`: `nil` when it does not start with
    /// `layer/`; throws `badName` when it does but the rest is not a digest and a valid name.
    public init?(udpName: String) throws(FileProtocolError) {
        guard udpName.hasPrefix(Self.udpNamePrefix) else { return nil }
        let rest = udpName.dropFirst(Self.udpNamePrefix.count)
        guard let slash = rest.firstIndex(of: "/"), let digest = ContentDigest(hex: rest[..<slash]),
              let name = SharedFileName(String(rest[rest.index(after: slash)...]))
        else {
            throw FileProtocolError(.badName, "bad layer name")
        }
        self.init(name: name, digest: digest)
    }
}

/// The bytes of a piece layer sent over UDP:
///
/// ```
/// chunk-size u64 (big-endian) · root (32 bytes) · the chunk hashes (32 bytes each)
/// ```
///
/// The UDP RESPONSE that carries it gives its own size and SHA-256 (of these bytes, not of the shared
/// file). Reading checks what the TCP reply header checks: a chunk size that is a power of two from
/// 16 KiB, a root that fits the file's size, exactly 32 bytes per chunk (none for one chunk or less)
/// and at most ``FileProtocolLimits/maximumPieceLayerLength`` bytes of hashes.
public struct PieceLayerDocument: Hashable, Sendable {
    public var chunkSize: UInt64
    public var root: ContentDigest
    /// The chunk hashes, 32 bytes each.
    public var layer: [UInt8]

    /// The bytes before the hashes.
    public static let headerLength = 8 + ContentDigest.byteCount
    /// The most bytes a document can have.
    public static let maximumLength = headerLength + FileProtocolLimits.maximumPieceLayerLength

    public init(chunkSize: UInt64, root: ContentDigest, layer: [UInt8]) {
        self.chunkSize = chunkSize
        self.root = root
        self.layer = layer
    }

    /// The document's bytes.
    public var bytes: [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(chunkSize, endianness: .big)
        buffer.writeBytes(root.bytes)
        buffer.writeBytes(layer)
        return Array(buffer.readableBytesView)
    }

    /// Reads the document of a file of `size` bytes; throws `malformed` when it breaks a rule.
    public init(parsing bytes: [UInt8], fileSize size: UInt64) throws(FileProtocolError) {
        guard bytes.count >= Self.headerLength, bytes.count <= Self.maximumLength else {
            throw FileProtocolError(.malformed, "a layer document of \(bytes.count) bytes is not from \(Self.headerLength) to \(Self.maximumLength)")
        }
        var buffer = ByteBuffer(bytes: bytes)
        let chunkSize = buffer.readInteger(endianness: .big, as: UInt64.self)!
        let root = ContentDigest(bytes: buffer.readBytes(length: ContentDigest.byteCount)!)!
        guard PieceLayerReplyHeader.isValidChunkSize(chunkSize) else {
            throw FileProtocolError(.malformed, "chunk size \(chunkSize) is not a power of two from 16 KiB")
        }
        guard SharedFileEntry.isPlausible(root: root, size: size) else {
            throw FileProtocolError(.malformed, "root \(root.shortHex)… cannot be the root of a file of \(size) bytes")
        }
        let layer = buffer.readBytes(length: buffer.readableBytes)!
        guard UInt64(layer.count) == PieceLayerReplyHeader.layerLength(size: size, chunkSize: chunkSize) else {
            throw FileProtocolError(.malformed, "a layer of \(layer.count) bytes does not fit \(size) bytes in chunks of \(chunkSize)")
        }
        self.init(chunkSize: chunkSize, root: root, layer: layer)
    }
}

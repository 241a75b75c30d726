import Crypto
import FerryWire

/// One node of a BitTorrent v2 (BEP 52) Merkle tree: a SHA-256 digest, 32 bytes held inline (no heap
/// allocation per node, so a piece layer of 2048 hashes is one 64 KiB array).
public struct MerkleHash: Hashable, Sendable, CustomStringConvertible {
    /// The number of bytes in a node.
    public static let byteCount = 32

    private var storage: SIMD32<UInt8>

    /// 32 zero bytes: BEP 52's hash of a leaf past the end of a file.
    public static let zero = MerkleHash(storage: SIMD32<UInt8>(repeating: 0))

    private init(storage: SIMD32<UInt8>) {
        self.storage = storage
    }

    /// Wraps a swift-crypto digest.
    public init(_ digest: SHA256Digest) {
        storage = digest.withUnsafeBytes { $0.loadUnaligned(as: SIMD32<UInt8>.self) }
    }

    /// Wraps 32 bytes; returns `nil` for any other count.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var storage = SIMD32<UInt8>()
        for (index, byte) in bytes.enumerated() { storage[index] = byte }
        self.storage = storage
    }

    /// The same 32 bytes as a content digest (the form Ferry's wire and cache use for SHA-256s).
    public init(_ digest: ContentDigest) {
        self.init(bytes: digest.bytes)!
    }

    /// Parses 64 hexadecimal digits; returns `nil` for anything else.
    public init?(hex: some StringProtocol) {
        guard let digest = ContentDigest(hex: hex) else { return nil }
        self.init(digest)
    }

    /// The 32 bytes.
    public var bytes: [UInt8] { (0..<Self.byteCount).map { storage[$0] } }

    /// The 32 bytes as a content digest.
    public var digest: ContentDigest { ContentDigest(bytes: bytes)! }

    /// 64 lowercase hexadecimal digits.
    public var hex: String { digest.hex }

    public var description: String { hex }

    /// Appends the 32 bytes to `buffer`.
    func append(to buffer: inout [UInt8]) {
        withUnsafeBytes(of: storage) { buffer.append(contentsOf: $0) }
    }

    /// The SHA-256 of a leaf: one 16 KiB block of a file (the last one as it is, shorter).
    static func leaf(_ block: UnsafeRawBufferPointer) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(bufferPointer: block)
        return MerkleHash(hasher.finalize())
    }

    /// An inner node: the SHA-256 of its two children's 64 bytes.
    static func parent(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        var hasher = SHA256()
        withUnsafeBytes(of: left.storage) { hasher.update(bufferPointer: $0) }
        withUnsafeBytes(of: right.storage) { hasher.update(bufferPointer: $0) }
        return MerkleHash(hasher.finalize())
    }

    /// The root of a subtree of `height` levels whose every leaf is zero: `zeroSubtree[0]` is
    /// ``zero``, `zeroSubtree[h + 1]` is the parent of two `zeroSubtree[h]`. BEP 52 pads with these.
    /// 64 levels cover any file a `UInt64` can size (a file has at most 2^50 leaves).
    static let zeroSubtree: [MerkleHash] = {
        var hashes = [MerkleHash.zero]
        for _ in 0..<64 { hashes.append(parent(hashes.last!, hashes.last!)) }
        return hashes
    }()
}

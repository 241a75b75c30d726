/// The BitTorrent v2 (BEP 52) Merkle tree of one file: what lets a downloader check a file chunk by
/// chunk, and what lets anyone cross-check Ferry's content with a BitTorrent v2 tool.
///
/// - **Leaves.** The SHA-256 of each 16 KiB block (``blockSize``) of the file, the last block hashed
///   as it is, shorter. Leaves past the end of the file are 32 zero bytes, up to a power of two; an
///   inner node is the SHA-256 of its two children's 64 bytes. (Padding whole subtrees is the same as
///   padding leaves: a subtree of zero leaves has the hash ``MerkleHash/zeroSubtree``.)
/// - **Chunks** (BEP 52's pieces) are ``chunkSize`` bytes, a power of two chosen by
///   ``chunkSize(forFileSize:)``; the last one is shorter. A chunk's hash is the root of the subtree
///   of its `chunkSize / 16 KiB` leaves, zero leaves filling the last chunk's subtree.
/// - **Piece layer**: the chunk hashes in order, present only when the file has more than one chunk
///   (BEP 52 has no `piece layers` entry for a file of one piece or less). ``root`` is then the root
///   of the piece layer padded to a power of two with hashes of zero chunks.
/// - **Root**: BEP 52's `pieces root`. For a file of one chunk or less it is the root of the file's
///   leaves padded to a power of two of *blocks* (not to a whole chunk), so it does not depend on the
///   chunk size at all; it never does.
/// - **Empty file**: BEP 52 gives it no `pieces root`. Ferry uses ``MerkleHash/zero`` (32 zero bytes,
///   which no non-empty file can have), no piece layer and no chunks: there is nothing to check chunk
///   by chunk, and the whole-file SHA-256 still checks it.
public struct MerkleTree: Hashable, Sendable {
    /// The bytes under one leaf: BEP 52's block.
    public static let blockSize = 16 * 1024
    /// The smallest chunk size ``chunkSize(forFileSize:)`` chooses: 16 leaves.
    public static let minimumChunkSize: UInt64 = 256 * 1024
    /// The most chunks ``chunkSize(forFileSize:)`` gives a file: its piece layer is then at most
    /// ``maximumPieceLayerByteCount``.
    public static let maximumChunkCount: UInt64 = 2048
    /// The largest piece layer of a tree whose chunk size follows ``chunkSize(forFileSize:)``: 64 KiB.
    public static let maximumPieceLayerByteCount = Int(maximumChunkCount) * MerkleHash.byteCount

    /// Ferry's chunk size for a file of `fileSize` bytes: the smallest power of two of at least
    /// ``minimumChunkSize`` (256 KiB) that keeps the file within ``maximumChunkCount`` (2048) chunks.
    ///
    /// Why: 256 KiB is small enough for a bad source to cost little and for several sources to share
    /// even a file of a few megabytes, and large enough that per-chunk requests cost nothing next to
    /// the data (BitTorrent clients' usual range is 256 KiB to a few MiB). The 2048-chunk cap keeps
    /// the piece layer within 64 KiB, whatever the file: cheap to send, to check against the root and
    /// to keep in the hash cache. So files up to 512 MiB get 256 KiB chunks, 1 GiB gets 512 KiB,
    /// 4 GiB gets 2 MiB, 100 GiB gets 64 MiB.
    public static func chunkSize(forFileSize fileSize: UInt64) -> UInt64 {
        let needed = fileSize / maximumChunkCount + (fileSize % maximumChunkCount == 0 ? 0 : 1)
        var chunk = minimumChunkSize
        while chunk < needed { chunk <<= 1 }   // needed <= 2^53, so this never overflows
        return chunk
    }

    /// Whether `chunkSize` can be a tree's chunk size: a power of two of at least one block (BEP 52's
    /// rule for piece lengths; Ferry itself only chooses ``chunkSize(forFileSize:)``), at most 2^62.
    public static func isValidChunkSize(_ chunkSize: UInt64) -> Bool {
        chunkSize >= UInt64(blockSize) && chunkSize <= 1 << 62 && chunkSize.nonzeroBitCount == 1
    }

    /// The file's size in bytes.
    public let fileSize: UInt64
    /// The chunk size (BEP 52's piece length).
    public let chunkSize: UInt64
    /// BEP 52's `pieces root`; ``MerkleHash/zero`` for an empty file.
    public let root: MerkleHash
    /// One hash per chunk, or empty when the file has one chunk or none.
    public let pieceLayer: [MerkleHash]

    /// Builds a tree from parts already known to fit (the builder's result).
    init(unchecked fileSize: UInt64, chunkSize: UInt64, root: MerkleHash, pieceLayer: [MerkleHash]) {
        self.fileSize = fileSize
        self.chunkSize = chunkSize
        self.root = root
        self.pieceLayer = pieceLayer
    }

    /// A tree from parts read from elsewhere (the hash cache, a peer), or `nil` when they do not fit:
    /// an invalid chunk size, a piece layer of the wrong length for the file, or one whose hashes do
    /// not lead to `root` (``verify(pieceLayer:root:fileSize:chunkSize:)``).
    public init?(fileSize: UInt64, chunkSize: UInt64, root: MerkleHash, pieceLayer: [MerkleHash]) {
        guard Self.verify(pieceLayer: pieceLayer, root: root, fileSize: fileSize, chunkSize: chunkSize) else { return nil }
        self.init(unchecked: fileSize, chunkSize: chunkSize, root: root, pieceLayer: pieceLayer)
    }

    /// The number of chunks: 0 for an empty file.
    public var chunkCount: Int { Self.chunkCount(fileSize: fileSize, chunkSize: chunkSize) }

    /// The number of leaves (16 KiB blocks) of the file, before padding.
    public var blockCount: UInt64 { Self.blockCount(of: fileSize) }

    /// The size of chunk `index`: ``chunkSize``, except the last one.
    public func chunkLength(at index: Int) -> UInt64 {
        precondition(index >= 0 && index < chunkCount, "chunk \(index) of \(chunkCount)")
        return min(chunkSize, fileSize - UInt64(index) * chunkSize)
    }

    /// The piece layer's bytes, 32 per chunk, as the cache stores it and a peer sends it.
    public var pieceLayerBytes: [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(pieceLayer.count * MerkleHash.byteCount)
        for hash in pieceLayer { hash.append(to: &bytes) }
        return bytes
    }

    /// Splits `bytes` into hashes of 32 bytes; `nil` when the count is not a multiple of 32.
    public static func pieceLayer(fromBytes bytes: some Collection<UInt8>) -> [MerkleHash]? {
        guard bytes.count % MerkleHash.byteCount == 0 else { return nil }
        let array = Array(bytes)
        return stride(from: 0, to: array.count, by: MerkleHash.byteCount).map {
            MerkleHash(bytes: array[$0..<($0 + MerkleHash.byteCount)])!
        }
    }

    // MARK: Checking what a peer sends

    /// Whether `pieceLayer` is the piece layer of a file of `fileSize` bytes with root `root`: it has
    /// one hash per chunk (none for a file of one chunk or less, and then nothing else to check), and
    /// its root, padded with hashes of zero chunks, is `root`. An empty file must have the zero root.
    public static func verify(pieceLayer: [MerkleHash], root: MerkleHash, fileSize: UInt64, chunkSize: UInt64) -> Bool {
        guard isValidChunkSize(chunkSize) else { return false }
        let chunks = chunkCount(fileSize: fileSize, chunkSize: chunkSize)
        if chunks == 0 { return pieceLayer.isEmpty && root == .zero }
        if chunks == 1 { return pieceLayer.isEmpty }
        return pieceLayer.count == chunks && Self.root(ofPieceLayer: pieceLayer, chunkSize: chunkSize) == root
    }

    /// The root over a piece layer of chunks of `chunkSize`, padded to a power of two with the hash
    /// of a chunk of zero leaves.
    public static func root(ofPieceLayer pieceLayer: [MerkleHash], chunkSize: UInt64) -> MerkleHash {
        precondition(isValidChunkSize(chunkSize) && !pieceLayer.isEmpty)
        return reduce(pieceLayer, fromLevel: chunkHeight(chunkSize), levels: ceilingLog2(UInt64(pieceLayer.count)))
    }

    /// Whether `bytes` are chunk `index` of this file: the right length, and their subtree (zero
    /// leaves filling the last chunk's) leads to the chunk's piece-layer hash, or to the root for a
    /// file of one chunk.
    public func verifyChunk(at index: Int, bytes: UnsafeRawBufferPointer) -> Bool {
        guard index >= 0, index < chunkCount, UInt64(bytes.count) == chunkLength(at: index) else { return false }
        return verifyChunk(at: index, leafHashes: Self.leafHashes(of: bytes))
    }

    /// ``verifyChunk(at:bytes:)`` for bytes in an array.
    public func verifyChunk(at index: Int, bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { verifyChunk(at: index, bytes: $0) }
    }

    /// Whether `leafHashes` (the SHA-256 of each 16 KiB block of chunk `index`) lead to the chunk's
    /// piece-layer hash, or to the root for a file of one chunk. Their count must be the chunk's.
    public func verifyChunk(at index: Int, leafHashes: [MerkleHash]) -> Bool {
        guard index >= 0, index < chunkCount else { return false }
        let leaves = Self.blockCount(of: chunkLength(at: index))
        guard UInt64(leafHashes.count) == leaves else { return false }
        if pieceLayer.isEmpty {
            return Self.reduce(leafHashes, fromLevel: 0, levels: Self.ceilingLog2(leaves)) == root
        }
        return Self.reduce(leafHashes, fromLevel: 0, levels: Self.chunkHeight(chunkSize)) == pieceLayer[index]
    }

    /// The leaf hashes of `bytes`: one per 16 KiB block, the last block as it is.
    public static func leafHashes(of bytes: UnsafeRawBufferPointer) -> [MerkleHash] {
        stride(from: 0, to: bytes.count, by: blockSize).map {
            MerkleHash.leaf(UnsafeRawBufferPointer(rebasing: bytes[$0..<min($0 + blockSize, bytes.count)]))
        }
    }

    // MARK: Tree arithmetic

    /// The level of chunk hashes above the leaves: log2(chunkSize / 16 KiB).
    static func chunkHeight(_ chunkSize: UInt64) -> Int {
        chunkSize.trailingZeroBitCount - blockSize.trailingZeroBitCount
    }

    static func chunkCount(fileSize: UInt64, chunkSize: UInt64) -> Int {
        Int(fileSize / chunkSize + (fileSize % chunkSize == 0 ? 0 : 1))
    }

    static func blockCount(of size: UInt64) -> UInt64 {
        size / UInt64(blockSize) + (size % UInt64(blockSize) == 0 ? 0 : 1)
    }

    /// The smallest `h` with `2^h >= count` (0 for a count of 0 or 1).
    static func ceilingLog2(_ count: UInt64) -> Int {
        count <= 1 ? 0 : UInt64.bitWidth - (count - 1).leadingZeroBitCount
    }

    /// The root of `levels` levels built over `nodes` at `level` (0: leaves), padded on the right with
    /// zero subtrees of that level: at most `2^levels` nodes.
    static func reduce(_ nodes: [MerkleHash], fromLevel level: Int, levels: Int) -> MerkleHash {
        precondition(nodes.count <= 1 << levels)
        if nodes.isEmpty { return MerkleHash.zeroSubtree[level + levels] }
        var current = nodes
        for step in 0..<levels {
            let padding = MerkleHash.zeroSubtree[level + step]
            var next = [MerkleHash]()
            next.reserveCapacity((current.count + 1) / 2)
            var index = 0
            while index < current.count {
                next.append(MerkleHash.parent(current[index], index + 1 < current.count ? current[index + 1] : padding))
                index += 2
            }
            current = next
        }
        return current[0]
    }
}

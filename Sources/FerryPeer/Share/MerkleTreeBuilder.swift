import Crypto

/// Builds a file's ``MerkleTree`` from its bytes as they stream by, in any slicing, in constant
/// memory besides the piece layer: a SHA-256 state for the block being read, at most one pending
/// node per level of the current chunk's subtree, and the finished chunk hashes (32 bytes each).
///
/// A leaf is folded into its parents as soon as its left sibling is there (a binary counter of
/// subtrees), so the current chunk never holds more than log2(chunk size / 16 KiB) nodes.
public struct MerkleTreeBuilder: Sendable {
    /// The chunk size of the tree being built.
    public let chunkSize: UInt64
    /// The bytes given so far.
    public private(set) var byteCount: UInt64 = 0

    private let chunkHeight: Int
    /// The block being read, and how many of its bytes are in.
    private var block = SHA256()
    private var blockFill = 0
    /// `pending[h]`: the root of a finished left subtree of height `h` in the current chunk, waiting
    /// for its right sibling.
    private var pending: [MerkleHash?]
    /// The hashes of the finished chunks.
    private var layer: [MerkleHash] = []

    /// A builder for chunks of `chunkSize`, which must be valid (``MerkleTree/isValidChunkSize(_:)``).
    public init(chunkSize: UInt64) {
        precondition(MerkleTree.isValidChunkSize(chunkSize), "invalid chunk size \(chunkSize)")
        self.chunkSize = chunkSize
        chunkHeight = MerkleTree.chunkHeight(chunkSize)
        pending = Array(repeating: nil, count: chunkHeight)
    }

    /// A builder with Ferry's chunk size for a file of `fileSize` bytes
    /// (``MerkleTree/chunkSize(forFileSize:)``).
    public init(fileSize: UInt64) {
        self.init(chunkSize: MerkleTree.chunkSize(forFileSize: fileSize))
    }

    /// Adds the next bytes of the file.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let blockSize = MerkleTree.blockSize
        var offset = 0
        while offset < bytes.count {
            let take = min(blockSize - blockFill, bytes.count - offset)
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)])
            offset += take
            if take == blockSize {
                addLeaf(.leaf(slice))       // a whole block at once: no streaming state to carry
                continue
            }
            block.update(bufferPointer: slice)
            blockFill += take
            if blockFill == blockSize {
                addLeaf(MerkleHash(block.finalize()))
                block = SHA256()
                blockFill = 0
            }
        }
        byteCount += UInt64(bytes.count)
    }

    /// Adds the next bytes of the file.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The tree of the bytes given so far (the builder itself is left as it is).
    public func finalize() -> MerkleTree {
        var builder = self
        if builder.blockFill > 0 { builder.addLeaf(MerkleHash(builder.block.finalize())) }
        let fileSize = byteCount
        let chunks = MerkleTree.chunkCount(fileSize: fileSize, chunkSize: chunkSize)
        switch chunks {
        case 0:
            return MerkleTree(unchecked: 0, chunkSize: chunkSize, root: .zero, pieceLayer: [])
        case 1:
            // One chunk or less: the tree is padded to a power of two of blocks, not to a chunk.
            let root = builder.layer.first
                ?? builder.foldPending(toHeight: MerkleTree.ceilingLog2(MerkleTree.blockCount(of: fileSize)))
            return MerkleTree(unchecked: fileSize, chunkSize: chunkSize, root: root, pieceLayer: [])
        default:
            if builder.pending.contains(where: { $0 != nil }) {
                builder.layer.append(builder.foldPending(toHeight: chunkHeight))
            }
            let root = MerkleTree.root(ofPieceLayer: builder.layer, chunkSize: chunkSize)
            return MerkleTree(unchecked: fileSize, chunkSize: chunkSize, root: root, pieceLayer: builder.layer)
        }
    }

    /// Adds a leaf to the current chunk, folding finished pairs; a full chunk goes to the layer.
    private mutating func addLeaf(_ leaf: MerkleHash) {
        var node = leaf
        var height = 0
        while height < chunkHeight, let left = pending[height] {
            node = MerkleHash.parent(left, node)
            pending[height] = nil
            height += 1
        }
        if height == chunkHeight {
            layer.append(node)
        } else {
            pending[height] = node
        }
    }

    /// The root of height `height` over the current chunk's leaves, zero leaves filling the rest.
    /// The current chunk must hold at least one leaf and at most `2^height`.
    private func foldPending(toHeight height: Int) -> MerkleHash {
        var carry: MerkleHash?
        for level in 0..<height {
            if let left = pending[level] {
                carry = MerkleHash.parent(left, carry ?? MerkleHash.zeroSubtree[level])
            } else if let node = carry {
                carry = MerkleHash.parent(node, MerkleHash.zeroSubtree[level])
            }
        }
        if let carry { return carry }
        return pending[height]!     // exactly 2^height leaves, all folded into one node
    }
}

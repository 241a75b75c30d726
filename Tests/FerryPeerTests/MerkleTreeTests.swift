import Crypto
@testable import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import Testing

/// The content of every vector file: byte i is (i % 251) ^ ((i / 16384) % 256), so no two 16 KiB
/// blocks are alike (the generator, Tests/Fixtures/merkle/make-vectors.py, writes the same bytes).
func vectorContent(_ size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: ($0 % 251) ^ (($0 / 16384) % 256)) }
}

/// BEP 52 vectors made by libtorrent (Tests/Fixtures/merkle/vectors.json; see the script beside it).
struct MerkleVectors: Decodable {
    struct Vector: Decodable, CustomTestStringConvertible {
        var size: Int
        var pieceLength: UInt64
        var piecesRoot: String
        var pieceLayer: [String]

        var testDescription: String { "\(size) bytes in pieces of \(pieceLength)" }
    }

    var generator: String
    var vectors: [Vector]

    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/merkle/vectors.json").standardizedFileURL.path

    static func load() throws -> MerkleVectors {
        try JSONDecoder().decode(MerkleVectors.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static var all: [Vector] { (try? load().vectors) ?? [] }
}

/// The SHA-256 of `bytes`, computed here without Ferry's tree code.
private func sha256(_ bytes: some Sequence<UInt8>) -> MerkleHash { MerkleHash(SHA256.hash(data: Array(bytes))) }

/// An inner node, computed here without Ferry's tree code.
private func node(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash { sha256(left.bytes + right.bytes) }

private func tree(of bytes: [UInt8], chunkSize: UInt64? = nil) -> MerkleTree {
    var builder = chunkSize.map(MerkleTreeBuilder.init(chunkSize:)) ?? MerkleTreeBuilder(fileSize: UInt64(bytes.count))
    builder.update(bytes)
    return builder.finalize()
}

private func flipped(_ hash: MerkleHash, bit: Int = 0) -> MerkleHash {
    var bytes = hash.bytes
    bytes[bit / 8] ^= 1 << (bit % 8)
    return MerkleHash(bytes: bytes)!
}

@Suite("MerkleTree: BEP 52 trees, chunk size, checks of layers and chunks")
struct MerkleTreeTests {
    // MARK: Against an independent implementation

    @Test("the vector file is there and covers the cases BEP 52 treats apart")
    func vectorsPresent() throws {
        let vectors = try MerkleVectors.load()
        #expect(vectors.generator.hasPrefix("libtorrent 2."))
        let sizes = Set(vectors.vectors.map(\.size))
        for size in [1, 16383, 16384, 16385, 262144, 262145, 1_048_577, 3_460_301] { #expect(sizes.contains(size), "\(size)") }
        #expect(vectors.vectors.contains { $0.pieceLayer.isEmpty && UInt64($0.size) == $0.pieceLength }, "a file of exactly one piece")
        #expect(vectors.vectors.contains { $0.pieceLayer.isEmpty && UInt64($0.size) < $0.pieceLength && $0.size > 16384 })
        #expect(vectors.vectors.contains { $0.pieceLayer.count > 2 && $0.pieceLayer.count.nonzeroBitCount > 1 }, "a layer padded to a power of two")
    }

    @Test("root and piece layer are libtorrent's, whatever the piece length", arguments: MerkleVectors.all)
    func libtorrentVector(_ vector: MerkleVectors.Vector) throws {
        let built = tree(of: vectorContent(vector.size), chunkSize: vector.pieceLength)
        #expect(built.fileSize == UInt64(vector.size))
        #expect(built.chunkSize == vector.pieceLength)
        #expect(built.root.hex == vector.piecesRoot)
        #expect(built.pieceLayer.map(\.hex) == vector.pieceLayer)
        // The same parts, read from elsewhere, hold together.
        let layer = vector.pieceLayer.map { MerkleHash(hex: $0)! }
        #expect(MerkleTree(fileSize: UInt64(vector.size), chunkSize: vector.pieceLength,
                           root: try #require(MerkleHash(hex: vector.piecesRoot)), pieceLayer: layer) == built)
    }

    @Test("a file hashed from disk gets libtorrent's root and layer, with the same SHA-256 as before")
    func fromDisk() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        for vector in try MerkleVectors.load().vectors where vector.pieceLength == MerkleTree.chunkSize(forFileSize: UInt64(vector.size)) {
            let path = folder.path + "/v\(vector.size)"
            try Data(vectorContent(vector.size)).write(to: URL(fileURLWithPath: path))
            let hashes = try ContentHasher.hashes(ofFileAt: path)
            #expect(hashes.tree.root.hex == vector.piecesRoot, "\(vector.size)")
            #expect(hashes.tree.pieceLayer.map(\.hex) == vector.pieceLayer, "\(vector.size)")
            #expect(hashes.digest == (try ContentHasher.digest(ofFileAt: path)))
        }
        let empty = try folder.write("empty", "")
        #expect(try ContentHasher.hashes(ofFileAt: empty) == FileHashes(
            digest: sha(Vectors.empty), tree: MerkleTree(fileSize: 0, chunkSize: MerkleTree.minimumChunkSize, root: .zero, pieceLayer: [])!))
    }

    // MARK: Edge cases, computed by hand

    @Test("an empty file: zero root, no layer, no chunks")
    func emptyFile() {
        let empty = tree(of: [])
        #expect(empty.root == .zero)
        #expect(empty.pieceLayer.isEmpty)
        #expect(empty.chunkCount == 0)
        #expect(empty.blockCount == 0)
        #expect(MerkleTree.verify(pieceLayer: [], root: .zero, fileSize: 0, chunkSize: MerkleTree.minimumChunkSize))
        #expect(!MerkleTree.verify(pieceLayer: [], root: sha256([0]), fileSize: 0, chunkSize: MerkleTree.minimumChunkSize))
        #expect(!empty.verifyChunk(at: 0, bytes: []))
    }

    @Test("one block or less: the root is the block's SHA-256", arguments: [1, 100, 16383, 16384])
    func oneBlock(_ size: Int) {
        let bytes = vectorContent(size)
        let built = tree(of: bytes)
        #expect(built.root == sha256(bytes))
        #expect(built.pieceLayer.isEmpty)
        #expect(built.chunkCount == 1)
        #expect(built.verifyChunk(at: 0, bytes: bytes))
    }

    @Test("less than a chunk: leaves padded with zero hashes to a power of two of blocks, not to a chunk")
    func lessThanAChunk() {
        let bytes = vectorContent(2 * 16384 + 5)          // three leaves, the last one short
        let leaves = [sha256(bytes[0..<16384]), sha256(bytes[16384..<32768]), sha256(bytes[32768...])]
        let built = tree(of: bytes)
        #expect(built.root == node(node(leaves[0], leaves[1]), node(leaves[2], .zero)))
        #expect(built.pieceLayer.isEmpty)
        #expect(built.verifyChunk(at: 0, leafHashes: leaves))
    }

    @Test("several chunks: the last chunk's subtree and the layer are padded with hashes of zero subtrees")
    func paddingAboveTheLeaves() {
        let chunk = UInt64(4 * 16384)                      // four leaves per chunk, to write the tree by hand
        let bytes = vectorContent(2 * Int(chunk) + 16384 + 1)   // chunks of 4, 4 and 2 leaves
        let leaves = stride(from: 0, to: bytes.count, by: 16384).map { sha256(bytes[$0..<min($0 + 16384, bytes.count)]) }
        #expect(leaves.count == 10)
        let zero1 = node(.zero, .zero)
        let chunks = [node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])),
                      node(node(leaves[4], leaves[5]), node(leaves[6], leaves[7])),
                      node(node(leaves[8], leaves[9]), zero1)]
        let zeroChunk = node(zero1, zero1)
        let built = tree(of: bytes, chunkSize: chunk)
        #expect(built.pieceLayer == chunks)
        #expect(built.root == node(node(chunks[0], chunks[1]), node(chunks[2], zeroChunk)))
        #expect(MerkleHash.zeroSubtree[2] == zeroChunk)
    }

    @Test("exactly one chunk: no layer, the root is the chunk's hash")
    func exactlyOneChunk() {
        let bytes = vectorContent(Int(MerkleTree.minimumChunkSize))
        let built = tree(of: bytes)
        #expect(built.pieceLayer.isEmpty)
        #expect(built.chunkCount == 1)
        let one = tree(of: bytes + [7])
        #expect(one.pieceLayer.first == built.root)
        #expect(one.pieceLayer.count == 2)
    }

    // MARK: Chunk size rule

    @Test("the chunk size: 256 KiB up to 512 MiB, then doubling to keep 2048 chunks at most")
    func chunkSizeTable() {
        let kib: UInt64 = 1024, mib = kib * kib, gib = mib * kib
        let table: [(UInt64, UInt64)] = [
            (0, 256 * kib), (1, 256 * kib), (256 * kib + 1, 256 * kib), (512 * mib, 256 * kib),
            (512 * mib + 1, 512 * kib), (gib, 512 * kib), (gib + 1, mib), (4 * gib, 2 * mib),
            (100 * gib, 64 * mib), (UInt64.max, 1 << 53),
        ]
        for (size, chunk) in table {
            #expect(MerkleTree.chunkSize(forFileSize: size) == chunk, "\(size)")
        }
    }

    @Test("the chunk size is the smallest power of two of at least 256 KiB within 2048 chunks (seeded sizes)")
    func chunkSizeRule() {
        var random = SeededGenerator(seed: 52)
        for _ in 0..<2000 {
            let size = UInt64.random(in: 0...UInt64.max, using: &random) >> UInt64.random(in: 0...63, using: &random)
            let chunk = MerkleTree.chunkSize(forFileSize: size)
            #expect(MerkleTree.isValidChunkSize(chunk) && chunk >= MerkleTree.minimumChunkSize, "\(size)")
            #expect(MerkleTree.chunkCount(fileSize: size, chunkSize: chunk) <= Int(MerkleTree.maximumChunkCount), "\(size)")
            if chunk > MerkleTree.minimumChunkSize {
                #expect(MerkleTree.chunkCount(fileSize: size, chunkSize: chunk / 2) > Int(MerkleTree.maximumChunkCount), "\(size)")
            }
        }
    }

    @Test("chunk sizes that are not a power of two of at least one block are refused")
    func invalidChunkSizes() {
        for chunk: UInt64 in [0, 1, 8192, 3 * 16384, 1 << 63] {
            #expect(!MerkleTree.isValidChunkSize(chunk), "\(chunk)")
            #expect(MerkleTree(fileSize: 1, chunkSize: chunk, root: .zero, pieceLayer: []) == nil, "\(chunk)")
        }
        #expect(MerkleTree.isValidChunkSize(16384))
    }

    // MARK: The builder

    @Test("the tree is the same whatever the read sizes (seeded random slicing)", arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func slicing(_ seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let size = Int.random(in: 0...(3 * 262_144 + 40_000), using: &random)
        let bytes = random.bytes(size)
        let chunk: UInt64 = [16384, 65536, 262_144][Int(seed % 3)]
        let whole = tree(of: bytes, chunkSize: chunk)
        var builder = MerkleTreeBuilder(chunkSize: chunk)
        var offset = 0
        while offset < bytes.count {
            let take = min(bytes.count - offset, [0, 1, 16383, 16384, 16385, Int.random(in: 0...70_000, using: &random)].randomElement(using: &random)!)
            builder.update(Array(bytes[offset..<(offset + take)]))
            offset += take
        }
        #expect(builder.byteCount == UInt64(size))
        #expect(builder.finalize() == whole)
        #expect(builder.finalize() == whole, "finalize leaves the builder as it was")
    }

    @Test("one byte at a time gives the same tree, and finalizing midway changes nothing")
    func byteAtATime() {
        let bytes = vectorContent(3 * 16384 + 77)
        var builder = MerkleTreeBuilder(chunkSize: 32768)
        for (index, byte) in bytes.enumerated() {
            builder.update([byte])
            if index == 40000 { #expect(builder.finalize() == tree(of: Array(bytes[...index]), chunkSize: 32768)) }
        }
        #expect(builder.finalize() == tree(of: bytes, chunkSize: 32768))
    }

    // MARK: Checking a layer and chunks

    @Test("a piece layer is accepted only when it leads to the root and has one hash per chunk")
    func layerVerification() throws {
        let bytes = vectorContent(3_460_301)
        let built = tree(of: bytes)
        let layer = built.pieceLayer
        #expect(layer.count == 14)
        #expect(MerkleTree.verify(pieceLayer: layer, root: built.root, fileSize: built.fileSize, chunkSize: built.chunkSize))
        for index in [0, 7, 13] {
            for bit in [0, 137, 255] {
                var bad = layer
                bad[index] = flipped(bad[index], bit: bit)
                #expect(!MerkleTree.verify(pieceLayer: bad, root: built.root, fileSize: built.fileSize, chunkSize: built.chunkSize))
            }
        }
        #expect(!MerkleTree.verify(pieceLayer: layer, root: flipped(built.root), fileSize: built.fileSize, chunkSize: built.chunkSize))
        #expect(!MerkleTree.verify(pieceLayer: Array(layer.dropLast()), root: built.root, fileSize: built.fileSize, chunkSize: built.chunkSize))
        #expect(!MerkleTree.verify(pieceLayer: layer + [.zero], root: built.root, fileSize: built.fileSize, chunkSize: built.chunkSize))
        #expect(!MerkleTree.verify(pieceLayer: layer, root: built.root, fileSize: built.fileSize, chunkSize: built.chunkSize * 2))
        #expect(!MerkleTree.verify(pieceLayer: [built.root], root: built.root, fileSize: 1000, chunkSize: built.chunkSize),
                "a file of one chunk has no layer")
        // Through bytes, as the cache stores the layer and a peer will send it.
        #expect(built.pieceLayerBytes.count == 14 * 32)
        #expect(MerkleTree.pieceLayer(fromBytes: built.pieceLayerBytes) == layer)
        #expect(MerkleTree.pieceLayer(fromBytes: built.pieceLayerBytes.dropLast()) == nil)
    }

    @Test("every chunk of a file is accepted; a flipped bit, a wrong length or a wrong index is not")
    func chunkVerification() {
        let bytes = vectorContent(1_048_577)
        let built = tree(of: bytes)
        #expect(built.chunkCount == 5)
        for index in 0..<built.chunkCount {
            let start = index * Int(built.chunkSize)
            let chunk = Array(bytes[start..<min(start + Int(built.chunkSize), bytes.count)])
            #expect(UInt64(chunk.count) == built.chunkLength(at: index))
            #expect(built.verifyChunk(at: index, bytes: chunk), "chunk \(index)")
            var bad = chunk
            bad[bad.count / 2] ^= 0x10
            #expect(!built.verifyChunk(at: index, bytes: bad), "chunk \(index) with a flipped bit")
            #expect(!built.verifyChunk(at: index, bytes: Array(chunk.dropLast())), "chunk \(index) short")
            #expect(!built.verifyChunk(at: (index + 1) % 5, bytes: chunk), "chunk \(index) at another index")
            var leaves = chunk.withUnsafeBytes { MerkleTree.leafHashes(of: $0) }
            #expect(built.verifyChunk(at: index, leafHashes: leaves))
            leaves[0] = flipped(leaves[0], bit: 200)
            #expect(!built.verifyChunk(at: index, leafHashes: leaves))
        }
        #expect(!built.verifyChunk(at: 5, bytes: [0]))
        #expect(!built.verifyChunk(at: -1, bytes: [0]))
    }

    @Test("a file of one chunk or less is checked against the root")
    func singleChunkVerification() {
        let bytes = vectorContent(100_000)
        let built = tree(of: bytes)
        #expect(built.verifyChunk(at: 0, bytes: bytes))
        var bad = bytes
        bad[99_999] ^= 1
        #expect(!built.verifyChunk(at: 0, bytes: bad))
    }
}

@testable import FerryPeer
import Crypto
import FerryTestSupport
import FerryWire
import Foundation
import NIOCore
import Testing

@Suite("PartRecord: the part file's content line and chunk bitmap")
struct PartRecordTests {
    static let root = sha(Vectors.ab)

    @Test("a record without chunks is the content line, as before chunk downloads")
    func contentLineOnly() throws {
        let record = PartRecord(size: 3, digest: sha(Vectors.abc))
        #expect(record.text == "ferry-part 1 3 \(Vectors.abc)\n")
        #expect(PartRecord(parsing: record.text) == record)
    }

    @Test("the bitmap is one bit per chunk, first chunk in the high bit, spare bits zero", arguments: [1, 7, 8, 9, 12, 2048])
    func bitmapRoundTrip(_ count: Int) throws {
        let chunkSize: UInt64 = 256 << 10
        var generator = SeededGenerator(seed: UInt64(count))
        let verified = (0..<count).map { _ in Bool.random(using: &generator) }
        let record = PartRecord(size: UInt64(count - 1) * chunkSize + 1, digest: sha(Vectors.abc),
                                chunks: .init(chunkSize: chunkSize, root: Self.root, verified: verified))
        let parsed = try #require(PartRecord(parsing: record.text))
        #expect(parsed == record)
        #expect(record.text.utf8.count <= PartRecord.maximumLength)
        let all = PartRecord(size: record.size, digest: record.digest,
                             chunks: .init(chunkSize: chunkSize, root: Self.root, verified: Array(repeating: true, count: count)))
        #expect(all.text.utf8.count == record.text.utf8.count, "the record keeps its length, so it is rewritten in place")
    }

    @Test("the bitmap's bits are in BitTorrent's order")
    func bitOrder() {
        let record = PartRecord(size: 10 << 18, digest: sha(Vectors.abc),
                                chunks: .init(chunkSize: 256 << 10, root: Self.root,
                                              verified: [true, false, false, false, false, false, false, true, false, true]))
        #expect(record.text.hasSuffix(" 8140\n"))
    }

    @Test("a damaged chunk line is left out; a damaged content line refuses the record", arguments: [
        ("chunks 262144 \(Vectors.ab) ff\n", true),                     // 3 chunks need 2 hex digits… but spare bits set
        ("chunks 262144 \(Vectors.ab) e0\n", false),                    // fine: chunks 0–2
        ("chunks 262144 \(Vectors.ab) E0\n", true),                     // uppercase
        ("chunks 262144 \(Vectors.ab) e000\n", true),                   // too long
        ("chunks 262143 \(Vectors.ab) e0\n", true),                     // not a power of two
        ("chunks 262144 \(Vectors.ab.prefix(10)) e0\n", true),          // short root
        ("chunks 262144 \(Vectors.ab) e0 x\n", true),                   // extra word
        ("pieces 262144 \(Vectors.ab) e0\n", true),
    ])
    func damagedChunkLine(_ line: String, leftOut: Bool) throws {
        let text = "ferry-part 1 700000 \(Vectors.abc)\n" + line
        let record = try #require(PartRecord(parsing: text))
        #expect((record.chunks == nil) == leftOut)
        #expect(record.size == 700_000)
    }

    @Test("content lines that are not exact are refused", arguments: [
        "ferry-part 1 3 \(Vectors.abc)",                                // no newline
        "ferry-part 2 3 \(Vectors.abc)\n",
        "ferry-part 1 03 \(Vectors.abc)\n",
        "ferry-part 1 3 \(Vectors.abc.uppercased())\n",
        "ferry-part 1 3 \(Vectors.abc)\nchunks 262144 \(Vectors.ab) 80\nmore\n",
        "",
    ])
    func refused(_ text: String) {
        #expect(PartRecord(parsing: text) == nil)
    }

    @Test("the verified prefix ends at the first missing chunk, and never past the file")
    func prefix() {
        let chunks = PartRecord.Chunks(chunkSize: 4, root: Self.root, verified: [true, true, false, true])
        #expect(chunks.prefixLength(fileSize: 14) == 8)
        let all = PartRecord.Chunks(chunkSize: 4, root: Self.root, verified: [true, true, true, true])
        #expect(all.prefixLength(fileSize: 14) == 14)
    }
}

@Suite("PartFile chunk by chunk: checked writes at their offsets, a record of them, resumes that check again")
struct PartFileChunkTests {
    /// 700 000 bytes: three chunks of 256 KiB, the last one short.
    static let bytes = vectorContent(700_000)
    static let tree: MerkleTree = {
        var builder = MerkleTreeBuilder(fileSize: UInt64(bytes.count))
        builder.update(bytes)
        return builder.finalize()
    }()
    static let digest = ContentDigest(SHA256.hash(data: bytes))

    static func chunk(_ index: Int) -> ByteBuffer {
        let start = index * Int(tree.chunkSize)
        return ByteBuffer(bytes: bytes[start..<min(start + Int(tree.chunkSize), bytes.count)])
    }

    static func open(_ folder: TemporaryFolder, tree: MerkleTree? = tree) async throws -> PartFile {
        try await PartFile.open(folder: folder.path, name: fileName("f.bin"), digest: digest, expectedSize: UInt64(bytes.count), tree: tree)
    }

    @Test("chunks are written out of order, bad ones never; the digest follows the verified prefix")
    func outOfOrder() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder)
        #expect(part.opening == .new)
        #expect(part.verifiedChunks == [false, false, false])
        #expect(try await part.writeChunk(2, Self.chunk(2)))
        #expect(part.length == 0)
        var bad = Self.chunk(1)
        bad.setInteger(UInt8(0), at: 100)
        #expect(try await part.writeChunk(1, bad) == false)
        #expect(try await part.writeChunk(0, Self.chunk(1)) == false)        // right length, wrong place
        #expect(part.verifiedChunks == [false, false, true])
        #expect(try await part.writeChunk(0, Self.chunk(0)))
        #expect(part.length == Self.tree.chunkSize)
        #expect(try await part.writeChunk(1, Self.chunk(1)))
        #expect(part.length == UInt64(Self.bytes.count))
        #expect(try await part.digestFromDisk() == Self.digest)
        let record = try #require(PartRecord(parsing: String(decoding: try folder.read(".f.bin.state.part"), as: UTF8.self)))
        #expect(record.chunks?.verified == [true, true, true])
        #expect(record.chunks?.root == Self.tree.root.digest)
        #expect(try await part.commit(overwrite: false) == .committed)
        #expect(try folder.read("f.bin") == Self.bytes)
    }

    @Test("a reopened part file keeps the recorded chunks that still hash right, and only those")
    func resumeChecksAgain() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let part = try await Self.open(folder)
            #expect(try await part.writeChunk(0, Self.chunk(0)))
            #expect(try await part.writeChunk(2, Self.chunk(2)))
        }
        // Damage chunk 2 on disk: the record still claims it.
        let handle = try #require(FileHandle(forUpdatingAtPath: folder.path + "/f.bin.part"))
        try handle.seek(toOffset: 2 * Self.tree.chunkSize + 5)
        handle.write(Data([0xFF, 0xFF]))
        try handle.close()
        let part = try await Self.open(folder)
        #expect(part.opening == .resumed(Self.tree.chunkSize))
        #expect(part.verifiedChunks == [true, false, false])
        #expect(part.unverifiedChunks == 1)
        #expect(try await part.writeChunk(1, Self.chunk(1)))
        #expect(try await part.writeChunk(2, Self.chunk(2)))
        #expect(try await part.digestFromDisk() == Self.digest)
    }

    @Test("an in-order download's part file is taken up chunk by chunk, and the other way round up to the first gap")
    func betweenTheTwoWays() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let part = try await Self.open(folder, tree: nil)
            try await part.append(ByteBuffer(bytes: Self.bytes[0..<300_000]))
        }
        do {
            let part = try await Self.open(folder)
            #expect(part.opening == .resumed(Self.tree.chunkSize))       // chunk 0 whole, chunk 1 not
            #expect(part.verifiedChunks == [true, false, false])
            #expect(try await part.writeChunk(2, Self.chunk(2)))
        }
        let part = try await Self.open(folder, tree: nil)
        #expect(part.opening == .resumed(Self.tree.chunkSize))
        #expect(part.length == Self.tree.chunkSize)
        try await part.append(ByteBuffer(bytes: Self.bytes[Int(Self.tree.chunkSize)...]))
        #expect(try await part.digestFromDisk() == Self.digest)
        #expect(try folder.read(".f.bin.state.part") == Array(PartFile.recordLine(size: 700_000, digest: Self.digest).utf8))
    }

    @Test("a record of another root or chunk size is not trusted: its chunks are checked as bytes in order")
    func otherTree() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try Data(Self.bytes[0..<600_000]).write(to: URL(fileURLWithPath: folder.path + "/f.bin.part"))
        let lying = PartRecord(size: 700_000, digest: Self.digest,
                               chunks: .init(chunkSize: Self.tree.chunkSize, root: sha(Vectors.ab), verified: [true, true, true]))
        try Data(lying.text.utf8).write(to: URL(fileURLWithPath: folder.path + "/.f.bin.state.part"))
        let part = try await Self.open(folder)
        #expect(part.verifiedChunks == [true, true, false])
        #expect(part.unverifiedChunks == 0)
    }
}

@Suite("PartFile: a cancelled write is not a disk failure")
struct PartFileCancellationTests {
    @Test("a write from a cancelled task throws `cancelled`, writes nothing and leaves the part file usable")
    func cancelledWrites() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let sequential = try await PartFile.open(folder: folder.path, name: fileName("a.bin"), digest: sha(Vectors.abc), expectedSize: 3)
        let chunked = try await PartFileChunkTests.open(folder)
        let outcome = await Task { () -> (PartFileError?, PartFileError?) in
            withUnsafeCurrentTask { $0?.cancel() }
            var errors: (PartFileError?, PartFileError?) = (nil, nil)
            do throws(PartFileError) { try await sequential.append(ByteBuffer(string: "ab")) } catch { errors.0 = error }
            do throws(PartFileError) { _ = try await chunked.writeChunk(0, PartFileChunkTests.chunk(0)) } catch { errors.1 = error }
            return errors
        }.value
        #expect(outcome.0?.message == PartFileError.cancelled.message)
        #expect(outcome.1?.message == PartFileError.cancelled.message)
        #expect(sequential.failure == nil && chunked.failure == nil)
        #expect(sequential.length == 0)
        #expect(chunked.verifiedChunks == [false, false, false])
        try await sequential.append(ByteBuffer(string: "abc"))
        #expect(try await sequential.digestFromDisk() == sha(Vectors.abc))
        #expect(try await chunked.writeChunk(0, PartFileChunkTests.chunk(0)))
    }
}

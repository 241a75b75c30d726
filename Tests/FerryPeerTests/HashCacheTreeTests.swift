import Crypto
@testable import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import GRDB
import NIOCore
import Testing

@Suite("HashCache: Merkle trees kept with the digests")
struct HashCacheTreeTests {
    /// Real hashes of `bytes`, computed as a scan does.
    static func hashes(of bytes: [UInt8]) -> FileHashes {
        var builder = MerkleTreeBuilder(fileSize: UInt64(bytes.count))
        builder.update(bytes)
        return FileHashes(digest: ContentDigest(SHA256.hash(data: bytes)), tree: builder.finalize())
    }

    @Test("root, chunk size and piece layer come back as they were remembered", arguments: [0, 1, 262_144, 1_048_577])
    func roundTrip(_ size: Int) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/hashes.sqlite"
        let hashes = Self.hashes(of: vectorContent(size))
        do {
            let cache = try HashCache(path: path)
            try cache.remember(hashes, path: "/s/a", size: UInt64(size), modified: 10)
            try cache.close()
        }
        let reopened = try HashCache(path: path)
        #expect(try reopened.hashes(path: "/s/a", size: UInt64(size), modified: 10) == hashes)
        #expect(try reopened.hashes(path: "/s/a", size: UInt64(size), modified: 11) == nil)
    }

    @Test("a row of an older cache, without a tree, is a miss: the file is hashed once more, then found")
    func olderRowIsAMiss() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let cacheFolder = try TemporaryFolder()
        defer { cacheFolder.remove() }
        let bytes = vectorContent(300_000)
        let file = try folder.write("a.bin", bytes: bytes)
        let real = try #require(Share.realPath(file))
        let info = try #require(Share.status(real))
        let path = cacheFolder.path + "/hashes.sqlite"
        // A cache as schema 1 wrote it, with a planted digest that a hit would return.
        do {
            let old = try DatabaseQueue(path: path)
            try old.write { db in
                try db.execute(sql: """
                    CREATE TABLE fileHash (path TEXT PRIMARY KEY, size INTEGER NOT NULL,
                                           modifiedNanoseconds INTEGER NOT NULL, sha256 TEXT NOT NULL)
                    """)
                try db.execute(sql: "INSERT INTO fileHash VALUES (?, ?, ?, ?)",
                               arguments: [real, Int64(info.size), info.modified, Vectors.ab])
                try db.execute(sql: "PRAGMA user_version = 1")
            }
            try old.close()
        }
        let cache = try HashCache(path: path)
        #expect(try cache.hashes(path: real, size: info.size, modified: info.modified) == nil)
        let share = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        share.rescan()
        let shared = try #require(share.file(named: fileName("a.bin")))
        #expect(shared.hashes == Self.hashes(of: bytes), "hashed again, not the planted digest")
        #expect(try cache.hashes(path: real, size: info.size, modified: info.modified) == Self.hashes(of: bytes))
        try cache.close()
        let version = try DatabaseQueue(path: path).read { try Int.fetchOne($0, sql: "PRAGMA user_version") }
        #expect(version == HashCache.schemaVersion)
    }

    @Test("a row whose tree does not hold together is a miss", arguments: ["chunkSize = 524288", "chunkSize = NULL",
        "piecesRoot = '00'", "pieceLayer = x'00'", "pieceLayer = substr(pieceLayer, 33)", "piecesRoot = sha256"])
    func brokenTreeIsAMiss(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/hashes.sqlite"
        let hashes = Self.hashes(of: vectorContent(1_048_577))
        do {
            let cache = try HashCache(path: path)
            try cache.remember(hashes, path: "/s/a", size: 1_048_577, modified: 10)
            #expect(try cache.hashes(path: "/s/a", size: 1_048_577, modified: 10) == hashes)
            try cache.close()
        }
        try DatabaseQueue(path: path).write { try $0.execute(sql: "UPDATE fileHash SET \(damage)") }
        #expect(try HashCache(path: path).hashes(path: "/s/a", size: 1_048_577, modified: 10) == nil)
    }

    @Test("a scan gives each shared file its tree, and a second share takes it from the cache")
    func scanCarriesTree() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let bytes = vectorContent(700_000)
        _ = try folder.write("a.bin", bytes: bytes)
        let cache = try HashCache(path: ":memory:")
        let first = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        first.rescan()
        let file = try #require(first.file(named: fileName("a.bin")))
        #expect(file.hashes == Self.hashes(of: bytes))
        #expect(file.tree.pieceLayer.count == 3)
        #expect(first.snapshot.files[fileName("a.bin")]?.tree == file.tree)

        let second = try Share(folder: folder.path, cache: cache, logger: quietLogger,
                               hasher: { _ throws(PeerError) in throw PeerError(.badShare, "hashed although cached") })
        second.rescan()
        #expect(second.file(named: fileName("a.bin")) == file)
    }

    @Test("a download's tree comes from its read-back, also after a truncation, as a scan would compute it")
    func partFileTree() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let bytes = vectorContent(9_000_001)
        let expected = Self.hashes(of: bytes)
        let part = try await PartFile.open(folder: folder.path, name: fileName("big"), digest: expected.digest,
                                           expectedSize: UInt64(bytes.count), buildsTree: true)
        try await part.append(ByteBuffer(bytes: bytes[..<6_000_000]))
        // Both sizes get 256 KiB chunks, so the prefix's tree is what a scan of those bytes gives.
        let prefix = try await part.hashesFromDisk()
        #expect(prefix.digest == Self.hashes(of: Array(bytes[..<6_000_000])).digest)
        #expect(prefix.tree == Self.hashes(of: Array(bytes[..<6_000_000])).tree)
        try await part.truncate(to: 1_000_000)
        try await part.append(ByteBuffer(bytes: bytes[1_000_000...]))
        let whole = try await part.hashesFromDisk()
        #expect(whole.digest == expected.digest)
        #expect(whole.tree == expected.tree)
        #expect(expected.tree.pieceLayer.count == 35)
        // Without `buildsTree` (a download no share announces) only the SHA-256 is computed.
        let plain = try await PartFile.open(folder: folder.path, name: fileName("plain"), digest: expected.digest,
                                            expectedSize: UInt64(bytes.count))
        try await plain.append(ByteBuffer(bytes: bytes))
        let hashes = try await plain.hashesFromDisk()
        #expect(hashes.digest == expected.digest)
        #expect(hashes.tree == nil)
    }
}

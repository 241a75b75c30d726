@testable import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import Testing

@Suite("HashCache: digests remembered by (path, size, modification time)")
struct HashCacheTests {
    @Test("a remembered digest is found only for the same path, size and time")
    func rememberAndLookUp() throws {
        let cache = try HashCache(path: ":memory:")
        #expect(try cache.digest(path: "/s/a", size: 3, modified: 10) == nil)
        try cache.remember(sha(Vectors.abc), path: "/s/a", size: 3, modified: 10)
        #expect(try cache.digest(path: "/s/a", size: 3, modified: 10) == sha(Vectors.abc))
        #expect(try cache.digest(path: "/s/a", size: 4, modified: 10) == nil)
        #expect(try cache.digest(path: "/s/a", size: 3, modified: 11) == nil)
        #expect(try cache.digest(path: "/s/b", size: 3, modified: 10) == nil)
        #expect(try cache.digest(path: "/s/A", size: 3, modified: 10) == nil)
    }

    @Test("remembering a path again replaces its entry")
    func replace() throws {
        let cache = try HashCache(path: ":memory:")
        try cache.remember(sha(Vectors.abc), path: "/s/a", size: 3, modified: 10)
        try cache.remember(sha(Vectors.ab), path: "/s/a", size: 2, modified: 20)
        #expect(try cache.digest(path: "/s/a", size: 3, modified: 10) == nil)
        #expect(try cache.digest(path: "/s/a", size: 2, modified: 20) == sha(Vectors.ab))
    }

    @Test("extreme sizes and times are kept exactly")
    func extremes() throws {
        let cache = try HashCache(path: ":memory:")
        try cache.remember(sha(Vectors.abc), path: "/s/big", size: UInt64(Int64.max), modified: Int64.max)
        try cache.remember(sha(Vectors.ab), path: "/s/old", size: 0, modified: -1_000_000_000)
        #expect(try cache.digest(path: "/s/big", size: UInt64(Int64.max), modified: Int64.max) == sha(Vectors.abc))
        #expect(try cache.digest(path: "/s/old", size: 0, modified: -1_000_000_000) == sha(Vectors.ab))
    }

    @Test("paths with quotes, percent signs and Unicode are kept exactly")
    func oddPaths() throws {
        let cache = try HashCache(path: ":memory:")
        let paths = ["/s/it's \"x\"", "/s/100%_", "/s/caf\u{E9}", "/s/cafe\u{301}"]
        for (index, path) in paths.enumerated() {
            try cache.remember(sha(Vectors.abc), path: path, size: UInt64(index), modified: 1)
        }
        for (index, path) in paths.enumerated() {
            #expect(try cache.digest(path: path, size: UInt64(index), modified: 1) == sha(Vectors.abc), "\(path)")
        }
    }

    @Test("forgetAll forgets deleted files under a folder and nothing else")
    func forgetAll() throws {
        let cache = try HashCache(path: ":memory:")
        for path in ["/s/keep", "/s/gone", "/s/sub/gone", "/sx/other", "/other/gone", "/s%/x", "/s_/x"] {
            try cache.remember(sha(Vectors.abc), path: path, size: 1, modified: 1)
        }
        try cache.forgetAll(under: "/s", except: ["/s/keep"])
        #expect(try cache.digest(path: "/s/keep", size: 1, modified: 1) != nil)
        #expect(try cache.digest(path: "/s/gone", size: 1, modified: 1) == nil)
        #expect(try cache.digest(path: "/s/sub/gone", size: 1, modified: 1) == nil)
        #expect(try cache.digest(path: "/sx/other", size: 1, modified: 1) != nil)
        #expect(try cache.digest(path: "/other/gone", size: 1, modified: 1) != nil)
        #expect(try cache.digest(path: "/s%/x", size: 1, modified: 1) != nil)
        #expect(try cache.digest(path: "/s_/x", size: 1, modified: 1) != nil)
        try cache.forgetAll(under: "/s%/", except: [])
        #expect(try cache.digest(path: "/s%/x", size: 1, modified: 1) == nil)
        #expect(try cache.digest(path: "/s_/x", size: 1, modified: 1) != nil)
    }

    @Test("a cache file keeps its entries across reopening")
    func persistent() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/hashes.sqlite"
        do {
            let cache = try HashCache(path: path)
            try cache.remember(sha(Vectors.abc), path: "/s/a", size: 3, modified: 10)
        }
        let reopened = try HashCache(path: path)
        #expect(try reopened.digest(path: "/s/a", size: 3, modified: 10) == sha(Vectors.abc))
    }

    // MARK: with a Share

    @Test("a scan fills the cache with the right digests, keyed by real path, size and time")
    func scanFillsCache() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.txt", "abc")
        let cache = try HashCache(path: ":memory:")
        let share = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        share.rescan()
        let file = try #require(share.file(named: fileName("a.txt")))
        #expect(file.path == folder.realPath + "/a.txt")
        #expect(try cache.digest(path: file.path, size: 3, modified: file.modified) == sha(Vectors.abc))
    }

    @Test("a second Share with the same cache takes the digest from the cache, without hashing")
    func secondShareUsesCache() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.txt", "abc")
        let cacheFolder = try TemporaryFolder()
        defer { cacheFolder.remove() }
        let cache = try HashCache(path: cacheFolder.path + "/hashes.sqlite")
        let first = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        first.rescan()
        let file = try #require(first.file(named: fileName("a.txt")))
        #expect(file.digest == sha(Vectors.abc))

        let second = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        second.rescan()
        #expect(second.file(named: fileName("a.txt")) == file)

        // Proof that the cache is read rather than the file hashed: a planted digest comes back.
        try cache.remember(sha(Vectors.ab), path: file.path, size: file.size, modified: file.modified)
        let third = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        third.rescan()
        #expect(third.file(named: fileName("a.txt"))?.digest == sha(Vectors.ab))
    }

    @Test("a changed file is hashed again even when the cache knows its old content")
    func staleEntryIgnored() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.txt", "abc")
        try folder.setModified("a.txt", secondsSince1970: 1_600_000_000)
        let cache = try HashCache(path: ":memory:")
        try Share(folder: folder.path, cache: cache, logger: quietLogger).rescan()
        try folder.write("a.txt", "hello world")
        let share = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        share.rescan()
        let file = try #require(share.file(named: fileName("a.txt")))
        #expect(file.digest == sha(Vectors.helloWorld))
        #expect(try cache.digest(path: file.path, size: file.size, modified: file.modified) == sha(Vectors.helloWorld))
    }

    @Test("deleted files leave the cache on the next scan")
    func deletedFilesForgotten() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.txt", "abc")
        try folder.write("b.txt", "ab")
        let cache = try HashCache(path: ":memory:")
        let share = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        share.rescan()
        let gone = try #require(share.file(named: fileName("b.txt")))
        try FileManager.default.removeItem(atPath: folder.path + "/b.txt")
        #expect(share.rescan())
        #expect(try cache.digest(path: gone.path, size: gone.size, modified: gone.modified) == nil)
        let kept = try #require(share.file(named: fileName("a.txt")))
        #expect(try cache.digest(path: kept.path, size: kept.size, modified: kept.modified) == sha(Vectors.abc))
    }

    @Test("rememberVerified lets the next scan share a download without hashing it")
    func rememberVerified() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let cache = try HashCache(path: ":memory:")
        let share = try Share(folder: folder.path, cache: cache, logger: quietLogger)
        let path = try folder.write("downloaded.bin", "abc")
        share.rememberVerified(path: path, hashes: plantedHashes(Vectors.ab, size: 3))       // a planted digest, to see it is used
        share.rescan()
        #expect(share.file(named: fileName("downloaded.bin"))?.digest == sha(Vectors.ab))
        share.rememberVerified(path: folder.path + "/missing", hashes: plantedHashes(Vectors.ab, size: 3))   // ignored
    }

    @Test("a download remembered before it takes its name is shared without hashing, though a scan ran in between",
          arguments: [true, false])
    func rememberedBeforeTheRename(withCache: Bool) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let hashed = NIOLockedValueBox<[String]>([])
        let cache = withCache ? try HashCache(path: ":memory:") : nil
        let share = try Share(folder: folder.path, cache: cache, logger: quietLogger) {
            path throws(PeerError) in
            hashed.withLockedValue { $0.append((path as NSString).lastPathComponent) }
            return try Share.sha256(path)
        }
        let part = try folder.write("x.bin.part", "abc")
        // A planted digest, to see that it is the one used.
        share.rememberVerified(path: folder.path + "/x.bin", contentAt: part, hashes: plantedHashes(Vectors.ab, size: 3))
        // A scan before the rename, one that finds a change (with a cache, it drops entries of files it
        // did not see): the record must outlive it.
        _ = try folder.write("other.txt", "abc")
        share.rescan()
        #expect(share.pendingVerifiedCount == 1)
        #expect(rename(part, folder.path + "/x.bin") == 0)
        share.rescan()
        #expect(share.file(named: fileName("x.bin"))?.digest == sha(Vectors.ab))
        #expect(hashed.withLockedValue { $0 } == ["other.txt"])
        #expect(share.pendingVerifiedCount == 0)
        // The cache holds it too, for the next start of the peer.
        if let cache, let file = share.file(named: fileName("x.bin")) {
            #expect(try cache.digest(path: file.path, size: file.size, modified: file.modified) == sha(Vectors.ab))
        }
    }

    @Test("a verified download is not remembered outside the share, and one changed since is hashed")
    func rememberedOnlyWhenItHolds() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let elsewhere = try folder.subfolder("elsewhere")
        let share = try Share(folder: try folder.subfolder("share"), cache: nil, logger: quietLogger)
        let outside = elsewhere + "/y.bin"
        try Data("abc".utf8).write(to: URL(fileURLWithPath: outside))
        share.rememberVerified(path: outside, hashes: plantedHashes(Vectors.ab, size: 3))
        #expect(share.pendingVerifiedCount == 0)
        let inside = share.folder + "/z.bin"
        try Data("abc".utf8).write(to: URL(fileURLWithPath: inside))
        share.rememberVerified(path: inside, hashes: plantedHashes(Vectors.helloWorld, size: 3))
        try Data("ab".utf8).write(to: URL(fileURLWithPath: inside))
        share.rescan()
        #expect(share.file(named: fileName("z.bin"))?.digest == sha(Vectors.ab))
        #expect(share.pendingVerifiedCount == 0)
    }
}

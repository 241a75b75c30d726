@testable import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import GRDB
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Two peers on one machine share the default hash cache file. Issue 8, failure 2: opening a fresh
/// cache from two peers at once failed with `SQLite error 5: database is locked`.
@Suite("HashCache: one file, several peers")
struct HashCacheConcurrencyTests {
    /// How many caches open the one file at once, and how many writes each makes.
    static let openers = 4
    static let writesEach = 50
    /// The product's wait for another process's lock, lengthened under a sanitizer: 200 writes queue
    /// for one file's lock there, each many times slower, while other tests load the machine.
    static let busyTimeout = HashCache.busyTimeout * TimeInterval(Sanitizers.patienceFactor)

    // One round at a time: the rounds repeat the race on a fresh file; run at once, their 20 threads
    // only load the machine and lengthen each lock wait.
    @Test("caches opened and written at once on one fresh file all succeed", .serialized, arguments: 0..<5)
    func concurrentOpenAndWrite(round: Int) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/hashes.sqlite"
        // Threads of their own, released together, so that the opens really overlap.
        let start = DispatchSemaphore(value: 0)
        let results = await withTaskGroup(of: String?.self) { group in
            for opener in 0..<Self.openers {
                group.addTask {
                    await withCheckedContinuation { continuation in
                        Thread {
                            start.wait()
                            continuation.resume(returning: Self.openAndWrite(path: path, opener: opener))
                        }.start()
                    }
                }
            }
            for _ in 0..<Self.openers { start.signal() }
            var failures: [String] = []
            for await result in group { if let result { failures.append(result) } }
            return failures
        }
        #expect(results == [], "round \(round)")
        let reopened = try HashCache(path: path, busyTimeout: Self.busyTimeout)
        for opener in 0..<Self.openers {
            for write in 0..<Self.writesEach {
                #expect(try reopened.digest(path: "/s/\(opener)-\(write)", size: 3, modified: Int64(write)) == sha(Vectors.abc))
            }
        }
        try reopened.close()
    }

    /// Opens a cache on `path` and writes to it; returns the error, if any, as text.
    static func openAndWrite(path: String, opener: Int) -> String? {
        do {
            let cache = try HashCache(path: path, busyTimeout: busyTimeout)
            for write in 0..<writesEach {
                try cache.remember(sha(Vectors.abc), path: "/s/\(opener)-\(write)", size: 3, modified: Int64(write))
                _ = try cache.digest(path: "/s/\(opener)-\(write)", size: 3, modified: Int64(write))
            }
            try cache.close()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a cache another process holds locked is skipped for that access, and used again once it is free")
    func lockedCacheIsSkippedNotDropped() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.txt", "abc")
        let cacheFolder = try TemporaryFolder()
        defer { cacheFolder.remove() }
        let path = cacheFolder.path + "/hashes.sqlite"
        // A short wait, so that the held lock outlasts it at once.
        let cache = try HashCache(path: path, busyTimeout: 0.05)
        let recorder = LogRecorder()
        let share = try Share(folder: folder.path, cache: cache, logger: recorder.logger)

        // Another connection (as another peer's would) takes the write lock and keeps it across
        // accesses until it commits.
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true
        let holder = try DatabaseQueue(path: path, configuration: holding)
        try holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        share.rescan()
        try holder.writeWithoutTransaction { try $0.execute(sql: "COMMIT") }
        try holder.close()

        // The file was shared all the same, its hashes not remembered, the cache kept.
        let a = try #require(share.file(named: fileName("a.txt")))
        #expect(a.digest == sha(Vectors.abc))
        #expect(try cache.digest(path: a.path, size: a.size, modified: a.modified) == nil)
        #expect(recorder.warnings() == [])
        try folder.write("b.txt", "ab")
        share.rescan()
        let b = try #require(share.file(named: fileName("b.txt")))
        #expect(try cache.digest(path: b.path, size: b.size, modified: b.modified) == sha(Vectors.ab))
        try cache.close()
    }

    @Test("a cache that cannot be written is logged once and the share is hashed without it")
    func unwritableCacheIsSkipped() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.txt", "abc")
        try folder.write("b.txt", "ab")
        let cacheFolder = try TemporaryFolder()
        defer { cacheFolder.remove() }
        let cache = try HashCache(path: cacheFolder.path + "/hashes.sqlite")
        try cache.close()  // every use now fails, as a cache on a broken disk would
        let recorder = LogRecorder()
        let share = try Share(folder: folder.path, cache: cache, logger: recorder.logger)
        share.rescan()
        #expect(share.file(named: fileName("a.txt"))?.digest == sha(Vectors.abc))
        #expect(share.file(named: fileName("b.txt"))?.digest == sha(Vectors.ab))
        try folder.write("c.txt", "hello world")
        share.rescan()
        #expect(share.file(named: fileName("c.txt"))?.digest == sha(Vectors.helloWorld))
        let cacheWarnings = recorder.warnings().filter { $0.contains("hash cache") }
        #expect(cacheWarnings.count == 1, "\(recorder.warnings())")
    }

    @Test("a cache path that cannot be opened gives a peer that hashes without a cache")
    func unopenableCacheIsSkipped() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a.txt", "abc")
        let recorder = LogRecorder()
        let cache = HashCache.openOrLog(path: folder.path + "/no/such/folder/hashes.sqlite", logger: recorder.logger)
        #expect(cache == nil)
        #expect(recorder.warnings().count == 1)
        let share = try Share(folder: folder.path, cache: cache, logger: recorder.logger)
        share.rescan()
        #expect(share.file(named: fileName("a.txt"))?.digest == sha(Vectors.abc))
    }
}

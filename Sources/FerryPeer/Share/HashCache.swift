import FerryWire
import Foundation
import GRDB
import Logging

/// Remembers the SHA-256 and the BEP 52 Merkle tree (root, chunk size, piece layer) of files by (path,
/// size, modification time), so that a restarted peer does not hash unchanged files again. A small
/// SQLite database through GRDB.
///
/// Schema 2 added the tree's columns. A row without a tree (written by an older peer, which may still
/// share the file) or whose tree does not hold together is a miss: the file is hashed once more.
///
/// Several peers on one machine share the default cache file, so every connection waits up to
/// ``busyTimeout`` for another process's lock instead of failing with `database is locked`, and the
/// schema is created in one immediate transaction that a second process simply finds done. An access
/// that still finds the lock held throws an error for which ``isContention(_:)`` is true: the cache
/// is not broken, only busy, and the next access may succeed.
public struct HashCache: Sendable {
    /// How long an access waits, by default, for another process that holds the database's lock.
    public static let busyTimeout: TimeInterval = 5

    /// Whether `error`, thrown by this cache, means that another process held the database's lock
    /// for longer than the busy timeout (SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED`), rather than a
    /// cache that cannot be used.
    public static func isContention(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// The schema version this code writes (`PRAGMA user_version`).
    static let schemaVersion = 2

    private let writer: any DatabaseWriter

    /// Opens the cache at `path`, creating it; `":memory:"` keeps it in memory. Every access waits up
    /// to `busyTimeout` seconds for another process that holds the file's lock.
    ///
    /// This blocks (up to `busyTimeout` when another process holds the file): call it from a thread
    /// pool, not from an event loop or the concurrency pool.
    public init(path: String, busyTimeout: TimeInterval = Self.busyTimeout) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        if path == ":memory:" {
            writer = try DatabaseQueue(configuration: configuration)
        } else {
            writer = try Self.openPool(path: path, configuration: configuration, busyTimeout: busyTimeout)
        }
        // Not GRDB's migrator: it reads which migrations ran outside the transaction that runs them,
        // so two processes opening a fresh file at once would both create the table.
        try writer.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                if version < 1 {
                    // Caches made by earlier versions (through the migrator) already have the table.
                    try db.create(table: "fileHash", options: .ifNotExists) { table in
                        table.primaryKey("path", .text)
                        table.column("size", .integer).notNull()
                        table.column("modifiedNanoseconds", .integer).notNull()
                        table.column("sha256", .text).notNull()
                    }
                }
                if version < 2 {
                    // Rows of schema 1 keep NULLs here: misses until hashed again.
                    try db.alter(table: "fileHash") { table in
                        table.add(column: "chunkSize", .integer)
                        table.add(column: "piecesRoot", .text)
                        table.add(column: "pieceLayer", .blob)
                    }
                }
                if version < Self.schemaVersion {
                    try db.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)")
                }
                return .commit
            }
        }
    }

    /// Opens a pool, trying again while another process holds the file: switching a fresh file to
    /// WAL needs a lock that SQLite does not wait for, even with a busy timeout.
    private static func openPool(path: String, configuration: Configuration, busyTimeout: TimeInterval) throws -> DatabasePool {
        let deadline = Date(timeIntervalSinceNow: busyTimeout)
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && Date() < deadline {
                Thread.sleep(forTimeInterval: openRetryInterval)
            }
        }
    }

    /// How long to wait before trying again to open a file another process holds.
    static let openRetryInterval: TimeInterval = 0.02

    /// Opens the cache at `path`, or logs once why it cannot and returns `nil`: a peer works without
    /// a cache, it only hashes more.
    public static func openOrLog(path: String, logger: Logger) -> HashCache? {
        do {
            return try HashCache(path: path)
        } catch {
            logger.warning("cannot open the hash cache; hashing every file without it",
                           metadata: ["cache": "\(path)", "error": "\(error)"])
            return nil
        }
    }

    /// The remembered hashes of the file at `path`, if its size and modification time still match
    /// and the row has a tree that holds together with Ferry's chunk size for that size.
    public func hashes(path: String, size: UInt64, modified: Int64) throws -> FileHashes? {
        try writer.read { db in
            guard let row = try Row.fetchOne(
                db, sql: """
                    SELECT sha256, chunkSize, piecesRoot, pieceLayer FROM fileHash
                    WHERE path = ? AND size = ? AND modifiedNanoseconds = ?
                    """,
                arguments: [path, Int64(clamping: size), modified])
            else { return nil }
            guard let digest = ContentDigest(hex: row["sha256"] as String),
                  let chunkSize = row["chunkSize"] as Int64?, chunkSize > 0,
                  UInt64(chunkSize) == MerkleTree.chunkSize(forFileSize: size),
                  let rootHex = row["piecesRoot"] as String?, let root = MerkleHash(hex: rootHex),
                  let layerBytes = row["pieceLayer"] as Data?,
                  let layer = MerkleTree.pieceLayer(fromBytes: layerBytes),
                  let tree = MerkleTree(fileSize: size, chunkSize: UInt64(chunkSize), root: root, pieceLayer: layer)
            else { return nil }
            return FileHashes(digest: digest, tree: tree)
        }
    }

    /// The remembered digest of the file at `path` (see ``hashes(path:size:modified:)``).
    public func digest(path: String, size: UInt64, modified: Int64) throws -> ContentDigest? {
        try hashes(path: path, size: size, modified: modified)?.digest
    }

    /// Remembers the hashes of the file at `path`.
    public func remember(_ hashes: FileHashes, path: String, size: UInt64, modified: Int64) throws {
        try writer.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO fileHash (path, size, modifiedNanoseconds, sha256, chunkSize, piecesRoot, pieceLayer)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [path, Int64(clamping: size), modified, hashes.digest.hex,
                            Int64(clamping: hashes.tree.chunkSize), hashes.tree.root.hex, Data(hashes.tree.pieceLayerBytes)])
        }
    }

    /// Forgets every path not in `paths` under `folder`: entries of deleted files.
    public func forgetAll(under folder: String, except paths: Set<String>) throws {
        try writer.write { db in
            let prefix = folder.hasSuffix("/") ? folder : folder + "/"
            let known = try String.fetchAll(
                db, sql: "SELECT path FROM fileHash WHERE substr(path, 1, length(?1)) = ?1",
                arguments: [prefix])
            for path in known where !paths.contains(path) {
                try db.execute(sql: "DELETE FROM fileHash WHERE path = ?", arguments: [path])
            }
        }
    }

    /// Writes everything out and closes the database: the write-ahead log is folded into the file and
    /// truncated, so the file alone holds every digest. Later uses throw.
    public func close() throws {
        if writer is DatabasePool {
            // Another peer reading the file may hold the log up: then only the close below counts.
            _ = try? writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        }
        try writer.close()
    }
}

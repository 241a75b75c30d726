import FerryWire
import GRDB

/// Remembers the SHA-256 of files by (path, size, modification time), so that a restarted peer does
/// not hash unchanged files again. A small SQLite database through GRDB.
public struct HashCache: Sendable {
    private let writer: any DatabaseWriter

    /// Opens the cache at `path`, creating it; `":memory:"` keeps it in memory.
    public init(path: String) throws {
        if path == ":memory:" {
            writer = try DatabaseQueue()
        } else {
            writer = try DatabasePool(path: path)
        }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 file hashes") { db in
            try db.create(table: "fileHash") { table in
                table.primaryKey("path", .text)
                table.column("size", .integer).notNull()
                table.column("modifiedNanoseconds", .integer).notNull()
                table.column("sha256", .text).notNull()
            }
        }
        try migrator.migrate(writer)
    }

    /// The remembered digest of the file at `path`, if its size and modification time still match.
    public func digest(path: String, size: UInt64, modified: Int64) throws -> ContentDigest? {
        try writer.read { db in
            let hex = try String.fetchOne(
                db, sql: "SELECT sha256 FROM fileHash WHERE path = ? AND size = ? AND modifiedNanoseconds = ?",
                arguments: [path, Int64(clamping: size), modified])
            return hex.flatMap { ContentDigest(hex: $0) }
        }
    }

    /// Remembers the digest of the file at `path`.
    public func remember(_ digest: ContentDigest, path: String, size: UInt64, modified: Int64) throws {
        try writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO fileHash (path, size, modifiedNanoseconds, sha256) VALUES (?, ?, ?, ?)",
                arguments: [path, Int64(clamping: size), modified, digest.hex])
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
}

import FerryWire
import Foundation
import GRDB

/// The tracker's index in SQLite, through GRDB: WAL mode for a file, named migrations that are only
/// ever appended.
///
/// Tables: `peerSession` (one row per control connection that said `HELLO`, with `online`) and
/// `sharedFile` (what each session shares, with the BEP 52 root when the peer announced one; migration
/// v2 added that column, NULL for older rows and older peers; v3 added `partial`, 1 for a file its
/// peer is still downloading). Lookups join the two on `online = 1`.
public struct SQLiteTrackerStore: TrackerStore {
    private let writer: any DatabaseWriter

    /// Opens (creating if needed) the database at `path`; `":memory:"` keeps it in memory.
    public init(path: String) throws {
        if path == ":memory:" {
            try self.init(writer: DatabaseQueue())
        } else {
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            // The database is the index's record, rebuilt from the peers' HELLOs whenever the tracker
            // starts: a commit need not wait for the disk (WAL keeps it consistent if power fails).
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
            try self.init(writer: DatabasePool(path: path, configuration: configuration))
        }
    }

    init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 peer sessions and shared files") { db in
            try db.create(table: "peerSession") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("host", .text).notNull()
                table.column("tcpPort", .integer).notNull()
                table.column("udpPort", .integer).notNull()
                table.column("online", .boolean).notNull()
                table.column("connectedAt", .datetime).notNull()
                table.column("disconnectedAt", .datetime)
            }
            try db.create(index: "peerSession_online_endpoint", on: "peerSession", columns: ["online", "host", "tcpPort"])
            try db.create(table: "sharedFile") { table in
                table.column("sessionId", .integer).notNull()
                    .references("peerSession", onDelete: .cascade)
                table.column("name", .text).notNull()
                table.column("size", .integer).notNull()
                table.column("sha256", .text).notNull()
                table.primaryKey(["sessionId", "name"])
            }
            try db.create(index: "sharedFile_name", on: "sharedFile", columns: ["name"])
        }
        migrator.registerMigration("v2 pieces root of shared files") { db in
            try db.alter(table: "sharedFile") { table in
                table.add(column: "piecesRoot", .text)
            }
        }
        migrator.registerMigration("v3 partial holders") { db in
            try db.alter(table: "sharedFile") { table in
                table.add(column: "partial", .boolean).notNull().defaults(to: false)
            }
        }
        return migrator
    }

    public func markAllPeersOffline() async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM sharedFile")
            try db.execute(
                sql: "UPDATE peerSession SET online = 0, disconnectedAt = ? WHERE online = 1",
                arguments: [Date()])
        }
    }

    public func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) async throws -> PeerID {
        try await writer.write { db in
            let superseded = try Int64.fetchAll(
                db, sql: "SELECT id FROM peerSession WHERE online = 1 AND host = ? AND tcpPort = ?",
                arguments: [host, Int(tcpPort)])
            for id in superseded { try Self.markOffline(id, db) }
            var session = PeerSessionRecord(
                host: host, tcpPort: Int(tcpPort), udpPort: Int(udpPort), online: true, connectedAt: Date())
            try session.insert(db)
            return PeerID(rawValue: session.id!)
        }
    }

    public func unregisterPeer(_ peer: PeerID) async throws {
        try await writer.write { db in try Self.markOffline(peer.rawValue, db) }
    }

    public func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM sharedFile WHERE sessionId = ?", arguments: [peer.rawValue])
            let statement = try db.makeStatement(
                sql: "INSERT OR REPLACE INTO sharedFile (sessionId, name, size, sha256, piecesRoot, partial) VALUES (?, ?, ?, ?, ?, ?)")
            for file in files {
                try statement.execute(arguments: [peer.rawValue, file.name.rawValue, Int64(clamping: file.size), file.digest.hex,
                                                  file.root?.hex, file.isPartial])
            }
        }
    }

    public func addFile(_ file: SharedFileEntry, to peer: PeerID) async throws -> Bool {
        try await writer.write { db in
            let existed = try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM sharedFile WHERE sessionId = ? AND name = ?)",
                arguments: [peer.rawValue, file.name.rawValue]) ?? false
            try db.execute(
                sql: "INSERT OR REPLACE INTO sharedFile (sessionId, name, size, sha256, piecesRoot, partial) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [peer.rawValue, file.name.rawValue, Int64(clamping: file.size), file.digest.hex, file.root?.hex,
                            file.isPartial])
            return !existed
        }
    }

    public func removeFile(named name: SharedFileName, from peer: PeerID) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM sharedFile WHERE sessionId = ? AND name = ?",
                arguments: [peer.rawValue, name.rawValue])
            return db.changesCount > 0
        }
    }

    public func holderRows(for names: [SharedFileName]) async throws -> [HolderRow] {
        guard !names.isEmpty else { return [] }
        let rawNames = names.map(\.rawValue)
        return try await writer.read { db in
            let placeholders = databaseQuestionMarks(count: rawNames.count)
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT f.name, f.size, f.sha256, f.piecesRoot, f.partial, p.host, p.tcpPort, p.udpPort
                    FROM sharedFile f JOIN peerSession p ON p.id = f.sessionId
                    WHERE p.online = 1 AND f.name IN (\(placeholders))
                    ORDER BY p.connectedAt, p.id
                    """,
                arguments: StatementArguments(rawNames))
            return rows.compactMap(Self.holderRow)
        }
    }

    public func list(matching pattern: ListPattern, limit: Int) async throws -> [ListEntry] {
        try await writer.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT f.name, f.size, f.sha256, COUNT(*) AS holders
                    FROM sharedFile f JOIN peerSession p ON p.id = f.sessionId
                    WHERE p.online = 1 AND f.name LIKE ? ESCAPE '\\'
                    GROUP BY f.name, f.size, f.sha256
                    ORDER BY f.name, holders DESC
                    LIMIT ?
                    """,
                arguments: [pattern.likePattern, limit])
            return rows.compactMap { row -> ListEntry? in
                guard let digest = ContentDigest(hex: row["sha256"] as String) else { return nil }
                let size: Int64 = row["size"]
                return ListEntry(name: row["name"], size: UInt64(max(0, size)), digest: digest, holderCount: row["holders"])
            }
        }
    }

    private static func markOffline(_ id: Int64, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM sharedFile WHERE sessionId = ?", arguments: [id])
        try db.execute(
            sql: "UPDATE peerSession SET online = 0, disconnectedAt = ? WHERE id = ? AND online = 1",
            arguments: [Date(), id])
    }

    private static func holderRow(_ row: Row) -> HolderRow? {
        let size: Int64 = row["size"]
        let tcp: Int = row["tcpPort"]
        let udp: Int = row["udpPort"]
        guard let name = SharedFileName(row["name"] as String),
              let digest = ContentDigest(hex: row["sha256"] as String),
              let tcpPort = UInt16(exactly: tcp), let udpPort = UInt16(exactly: udp)
        else { return nil }
        // A root that cannot be this file's (only a damaged database holds one) is left out: clients
        // refuse a SEND reply that carries it.
        let root = (row["piecesRoot"] as String?).flatMap { ContentDigest(hex: $0) }
            .flatMap { SharedFileEntry.isPlausible(root: $0, size: UInt64(max(0, size))) ? $0 : nil }
        return HolderRow(
            name: name, size: UInt64(max(0, size)), digest: digest, root: root,
            holder: Holder(host: row["host"], tcpPort: tcpPort, udpPort: udpPort),
            isPartial: root != nil && row["partial"] as Bool)
    }
}

/// One row of `peerSession`.
struct PeerSessionRecord: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "peerSession"
    var id: Int64?
    var host: String
    var tcpPort: Int
    var udpPort: Int
    var online: Bool
    var connectedAt: Date
    var disconnectedAt: Date?

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

import FerryWire
import Foundation
import Logging
import PostgresNIO

/// The schema, and the ``TrackerStore`` calls as SQL.
extension PostgresTrackerStore: TrackerIndexSummary {
    /// Creates the tables if they are missing. Trackers that start together each run this in a
    /// transaction that first takes one advisory lock, so that they do not race on `CREATE`.
    static func createSchema(on connection: PostgresConnection, schema: String?, logger: Logger) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(schemaLockKey))", logger: logger)
        if let schema {
            // A plain identifier: checked by PostgresLocation.
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"), logger: logger)
        }
        for statement in schemaStatements {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
    }

    /// The advisory lock key of schema creation (`ferry` in ASCII).
    static let schemaLockKey: Int64 = 0x6665_7272_79

    static let schemaStatements = [
        """
        CREATE TABLE IF NOT EXISTS ferry_tracker (
            id bigserial PRIMARY KEY,
            started_at timestamptz NOT NULL DEFAULT now(),
            lease_until timestamptz NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS ferry_peer_session (
            id bigserial PRIMARY KEY,
            tracker_id bigint NOT NULL REFERENCES ferry_tracker (id) ON DELETE CASCADE,
            host text NOT NULL,
            tcp_port integer NOT NULL,
            udp_port integer NOT NULL,
            online boolean NOT NULL DEFAULT true,
            connected_at timestamptz NOT NULL DEFAULT now())
        """,
        "CREATE INDEX IF NOT EXISTS ferry_peer_session_endpoint ON ferry_peer_session (host, tcp_port) WHERE online",
        "CREATE INDEX IF NOT EXISTS ferry_peer_session_tracker ON ferry_peer_session (tracker_id)",
        """
        CREATE TABLE IF NOT EXISTS ferry_shared_file (
            session_id bigint NOT NULL REFERENCES ferry_peer_session (id) ON DELETE CASCADE,
            name text NOT NULL,
            name_key text NOT NULL,
            size bigint NOT NULL,
            sha256 text NOT NULL,
            pieces_root text,
            partial boolean NOT NULL DEFAULT false,
            PRIMARY KEY (session_id, name))
        """,
        "CREATE INDEX IF NOT EXISTS ferry_shared_file_name_key ON ferry_shared_file (name_key)",
        // Holder health (REPORT): a session's rank, kept up to date by each report, and each reporter's
        // latest verdict. Added to a schema of an earlier version in place.
        "ALTER TABLE ferry_peer_session ADD COLUMN IF NOT EXISTS failing boolean NOT NULL DEFAULT false",
        "ALTER TABLE ferry_peer_session ADD COLUMN IF NOT EXISTS speed_class integer NOT NULL DEFAULT \(HolderHealth.unknownSpeedClass)",
        "ALTER TABLE ferry_peer_session ADD COLUMN IF NOT EXISTS bytes_per_second double precision",
        """
        CREATE TABLE IF NOT EXISTS ferry_holder_report (
            session_id bigint NOT NULL REFERENCES ferry_peer_session (id) ON DELETE CASCADE,
            reporter text NOT NULL,
            served boolean NOT NULL,
            reported_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (session_id, reporter))
        """,
    ]

    // MARK: TrackerStore

    /// Starts this tracker with no sessions: a new tracker id (and lease) the first time, else this
    /// tracker's own sessions deleted. Other trackers' sessions are never touched.
    public func markAllPeersOffline() async throws {
        guard let tracker = trackerID else {
            _ = try await readyTracker()
            return
        }
        try await database { client in
            _ = try await client.query("DELETE FROM ferry_peer_session WHERE tracker_id = \(tracker)")
        }
    }

    /// A new session of this tracker. An online session with the same host and TCP port, on any
    /// tracker, is superseded first (its files leave lookups), under an advisory lock on the endpoint so
    /// that two trackers registering it at once leave one session.
    public func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) async throws -> PeerID {
        let tracker = try await readyTracker()
        let logger = self.logger
        return try await database { client in
            try await client.withTransaction(logger: logger) { connection in
                let port = Int32(tcpPort)
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(hashtextextended(\(host + " " + String(tcpPort)), 0))", logger: logger)
                try await connection.query("""
                    WITH gone AS (
                        UPDATE ferry_peer_session SET online = false WHERE online AND host = \(host) AND tcp_port = \(port)
                        RETURNING id)
                    DELETE FROM ferry_shared_file WHERE session_id IN (SELECT id FROM gone)
                    """, logger: logger)
                let rows = try await connection.query("""
                    INSERT INTO ferry_peer_session (tracker_id, host, tcp_port, udp_port)
                    VALUES (\(tracker), \(host), \(port), \(Int32(udpPort))) RETURNING id
                    """, logger: logger)
                for try await id in rows.decode(Int64.self) { return PeerID(rawValue: id) }
                throw PostgresIndexError("the database returned no session id")
            }
        }
    }

    public func unregisterPeer(_ peer: PeerID) async throws {
        try await database { client in
            _ = try await client.query("DELETE FROM ferry_peer_session WHERE id = \(peer.rawValue)")
        }
    }

    /// One transaction: the old share deleted, the new one inserted from arrays (one round trip for
    /// any number of files). A session that is gone or superseded gets nothing.
    public func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) async throws {
        let columns = FileColumns(files)
        let logger = self.logger
        try await database { client in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("DELETE FROM ferry_shared_file WHERE session_id = \(peer.rawValue)", logger: logger)
                guard !files.isEmpty else { return }
                try await connection.query("""
                    INSERT INTO ferry_shared_file (session_id, name, name_key, size, sha256, pieces_root, partial)
                    SELECT \(peer.rawValue), f.name, f.name_key, f.size, f.sha256, NULLIF(f.root, ''), f.partial
                    FROM unnest(\(columns.names)::text[], \(columns.keys)::text[], \(columns.sizes)::int8[],
                                \(columns.digests)::text[], \(columns.roots)::text[], \(columns.partial)::bool[])
                         AS f (name, name_key, size, sha256, root, partial)
                    WHERE EXISTS (SELECT 1 FROM ferry_peer_session WHERE id = \(peer.rawValue) AND online)
                    ON CONFLICT (session_id, name) DO UPDATE SET name_key = EXCLUDED.name_key, size = EXCLUDED.size, sha256 = EXCLUDED.sha256,
                        pieces_root = EXCLUDED.pieces_root, partial = EXCLUDED.partial
                    """, logger: logger)
            }
        }
    }

    public func addFile(_ file: SharedFileEntry, to peer: PeerID) async throws -> Bool {
        try await database { client in
            // xmax is 0 for a row this statement inserted, not for one it updated.
            let rows = try await client.query("""
                INSERT INTO ferry_shared_file (session_id, name, name_key, size, sha256, pieces_root, partial)
                SELECT \(peer.rawValue), \(file.name.rawValue), \(Self.key(file.name)), \(Int64(clamping: file.size)), \(file.digest.hex),
                       \(file.root?.hex), \(file.isPartial)
                WHERE EXISTS (SELECT 1 FROM ferry_peer_session WHERE id = \(peer.rawValue) AND online)
                ON CONFLICT (session_id, name) DO UPDATE SET name_key = EXCLUDED.name_key, size = EXCLUDED.size, sha256 = EXCLUDED.sha256,
                    pieces_root = EXCLUDED.pieces_root, partial = EXCLUDED.partial
                RETURNING (xmax = 0)
                """)
            for try await inserted in rows.decode(Bool.self) { return inserted }
            return false
        }
    }

    public func removeFile(named name: SharedFileName, from peer: PeerID) async throws -> Bool {
        try await database { client in
            let rows = try await client.query("""
                DELETE FROM ferry_shared_file WHERE session_id = \(peer.rawValue) AND name_key = \(Self.key(name)) RETURNING 1
                """)
            return try await rows.collect().count > 0
        }
    }

    /// One query: the live holders of `names`, on trackers whose lease holds by the database's clock,
    /// ranked as ``HolderHealth/Rank`` orders them (not failing first, then by speed class), equal
    /// ranks in the order their sessions were created (the sequence is shared by every tracker), then
    /// by name.
    public func holderRows(for names: [SharedFileName]) async throws -> [HolderRow] {
        guard !names.isEmpty else { return [] }
        _ = try await readyTracker()
        let keys = names.map(Self.key)
        return try await database { client in
            let rows = try await client.query("""
                SELECT f.name, f.size, f.sha256, f.pieces_root, f.partial, s.host, s.tcp_port, s.udp_port
                FROM ferry_shared_file f
                JOIN ferry_peer_session s ON s.id = f.session_id
                JOIN ferry_tracker t ON t.id = s.tracker_id
                WHERE f.name_key = ANY(\(keys)::text[]) AND s.online AND t.lease_until > now()
                ORDER BY s.failing, s.speed_class DESC, s.id, f.name COLLATE "C"
                """)
            var result: [HolderRow] = []
            for try await (name, size, sha256, root, partial, host, tcp, udp)
                in rows.decode((String, Int64, String, String?, Bool, String, Int32, Int32).self) {
                if let row = Self.holderRow(name: name, size: size, sha256: sha256, root: root, partial: partial,
                                            host: host, tcpPort: tcp, udpPort: udp) {
                    result.append(row)
                }
            }
            return result
        }
    }

    /// Records a downloader's report on the live holder at `host`:`tcpPort` (any tracker's session),
    /// as ``MemoryTrackerIndex/report(_:from:)`` does, in one transaction: the reporter's verdict
    /// replaces its earlier one (at most ``HolderHealth/maximumReporters`` kept, the oldest dropped),
    /// and the session's rank columns are computed again. Every tracker's lookups then see the rank.
    /// `false` when no live session holds that endpoint; a holder's report on itself is taken and
    /// ignored.
    public func report(_ report: HolderReport, from reporter: String) async throws -> Bool {
        _ = try await readyTracker()
        let logger = self.logger
        return try await database { client in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT s.id, s.bytes_per_second FROM ferry_peer_session s JOIN ferry_tracker t ON t.id = s.tracker_id
                    WHERE s.online AND s.host = \(report.host) AND s.tcp_port = \(Int32(report.tcpPort)) AND t.lease_until > now()
                    FOR UPDATE OF s
                    """, logger: logger)
                var found: (session: Int64, bytesPerSecond: Double?)?
                for try await row in rows.decode((Int64, Double?).self) { found = row }
                guard let found else { return false }
                guard reporter != report.host else { return true }
                let session = found.session
                let served = report.verdict != .failed
                let rate = HolderHealth.bytesPerSecond(found.bytesPerSecond, after: report.verdict)
                try await connection.query("""
                    INSERT INTO ferry_holder_report (session_id, reporter, served) VALUES (\(session), \(reporter), \(served))
                    ON CONFLICT (session_id, reporter) DO UPDATE SET served = EXCLUDED.served, reported_at = clock_timestamp()
                    """, logger: logger)
                try await connection.query("""
                    DELETE FROM ferry_holder_report WHERE session_id = \(session) AND reporter IN (
                        SELECT reporter FROM ferry_holder_report WHERE session_id = \(session)
                        ORDER BY reported_at DESC, reporter OFFSET \(HolderHealth.maximumReporters))
                    """, logger: logger)
                try await connection.query("""
                    UPDATE ferry_peer_session SET bytes_per_second = \(rate),
                        speed_class = \(Int32(HolderHealth.speedClass(bytesPerSecond: rate))),
                        failing = (SELECT count(*) FILTER (WHERE NOT served) > count(*) FILTER (WHERE served)
                                   FROM ferry_holder_report WHERE session_id = \(session))
                    WHERE id = \(session)
                    """, logger: logger)
                return true
            }
        }
    }

    /// Live sessions of every tracker on the database (by the database's clock), and the files they
    /// share.
    public func liveCounts() async throws -> (peers: Int, entries: Int) {
        _ = try await readyTracker()
        return try await database { client in
            let rows = try await client.query("""
                SELECT (SELECT count(*) FROM ferry_peer_session s JOIN ferry_tracker t ON t.id = s.tracker_id
                        WHERE s.online AND t.lease_until > now()),
                       (SELECT count(*) FROM ferry_shared_file f
                        JOIN ferry_peer_session s ON s.id = f.session_id JOIN ferry_tracker t ON t.id = s.tracker_id
                        WHERE s.online AND t.lease_until > now())
                """)
            var counts = (peers: 0, entries: 0)
            for try await (peers, entries) in rows.decode((Int64, Int64).self) {
                counts = (Int(peers), Int(entries))
            }
            return counts
        }
    }

    /// Ten seconds: every tracker's pages query the one database, over every live row.
    public var summaryLifetime: Duration { .seconds(10) }

    /// The status page's lists for every tracker on the database: the newest live sessions, and the
    /// names with the most live holders (a name in either Unicode form counts once, by its NFC key).
    public func statusSummary(peerLimit: Int, fileLimit: Int) async throws -> TrackerStatusSummary {
        _ = try await readyTracker()
        return try await database { client in
            let peerRows = try await client.query("""
                SELECT s.host, s.tcp_port, s.udp_port, (SELECT count(*) FROM ferry_shared_file f WHERE f.session_id = s.id)
                FROM ferry_peer_session s JOIN ferry_tracker t ON t.id = s.tracker_id
                WHERE s.online AND t.lease_until > now()
                ORDER BY s.id DESC
                LIMIT \(Int64(peerLimit))
                """)
            var peers: [(host: String, tcpPort: UInt16, udpPort: UInt16, files: Int)] = []
            for try await (host, tcp, udp, files) in peerRows.decode((String, Int32, Int32, Int64).self) {
                guard let tcpPort = UInt16(exactly: tcp), let udpPort = UInt16(exactly: udp) else { continue }
                peers.append((host, tcpPort, udpPort, Int(files)))
            }
            let fileRows = try await client.query("""
                SELECT min(f.name), count(*) AS holders
                FROM ferry_shared_file f
                JOIN ferry_peer_session s ON s.id = f.session_id
                JOIN ferry_tracker t ON t.id = s.tracker_id
                WHERE s.online AND t.lease_until > now()
                GROUP BY f.name_key
                ORDER BY holders DESC, f.name_key COLLATE "C"
                LIMIT \(Int64(fileLimit))
                """)
            var files: [(name: String, holders: Int)] = []
            for try await (name, holders) in fileRows.decode((String, Int64).self) {
                files.append((name, Int(holders)))
            }
            return (peers, files)
        }
    }

    /// `LIKE` on names with ASCII letters folded on both sides (as ``ListPattern/matches(_:)`` and
    /// SQLite's `LIKE` do; `ILIKE` would fold other letters too), sorted by code point (`COLLATE "C"`).
    public func list(matching pattern: ListPattern, limit: Int) async throws -> [ListEntry] {
        _ = try await readyTracker()
        let like = pattern.likePattern
        let upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        let lower = "abcdefghijklmnopqrstuvwxyz"
        return try await database { client in
            let rows = try await client.query("""
                SELECT f.name, f.size, f.sha256, COUNT(*) AS holders
                FROM ferry_shared_file f
                JOIN ferry_peer_session s ON s.id = f.session_id
                JOIN ferry_tracker t ON t.id = s.tracker_id
                WHERE s.online AND t.lease_until > now()
                  AND translate(f.name, \(upper), \(lower)) LIKE translate(\(like), \(upper), \(lower)) ESCAPE '\\'
                GROUP BY f.name, f.size, f.sha256
                ORDER BY f.name COLLATE "C", holders DESC
                LIMIT \(Int64(limit))
                """)
            var entries: [ListEntry] = []
            for try await (name, size, sha256, holders) in rows.decode((String, Int64, String, Int64).self) {
                guard let digest = ContentDigest(hex: sha256) else { continue }
                entries.append(ListEntry(name: name, size: UInt64(max(0, size)), digest: digest, holderCount: Int(holders)))
            }
            return entries
        }
    }

    /// The name as lookups compare it: its NFC form, so that canonically equivalent spellings (`é` and
    /// `e` + U+0301) find each other, as in the memory index (Swift's `String` equality).
    static func key(_ name: SharedFileName) -> String {
        name.rawValue.precomposedStringWithCanonicalMapping
    }

    /// This tracker's id, starting it (schema, tracker row) on first use.
    private func readyTracker() async throws -> Int64 {
        if let tracker = trackerID { return tracker }
        return try await startOnce()
    }

    private static func holderRow(name: String, size: Int64, sha256: String, root: String?, partial: Bool,
                                  host: String, tcpPort: Int32, udpPort: Int32) -> HolderRow? {
        guard let name = SharedFileName(name), let digest = ContentDigest(hex: sha256),
              let tcp = UInt16(exactly: tcpPort), let udp = UInt16(exactly: udpPort)
        else { return nil }
        let fileSize = UInt64(max(0, size))
        // As in SQLite: a root that cannot be this file's (a damaged row) is left out.
        let root = root.flatMap { ContentDigest(hex: $0) }.flatMap { SharedFileEntry.isPlausible(root: $0, size: fileSize) ? $0 : nil }
        return HolderRow(name: name, size: fileSize, digest: digest, root: root,
                         holder: Holder(host: host, tcpPort: tcp, udpPort: udp), isPartial: root != nil && partial)
    }
}

/// A share as the columns of an `unnest`: one array per column, `""` for no root.
private struct FileColumns: Sendable {
    var names: [String] = []
    var keys: [String] = []
    var sizes: [Int64] = []
    var digests: [String] = []
    var roots: [String] = []
    var partial: [Bool] = []

    init(_ files: [SharedFileEntry]) {
        names.reserveCapacity(files.count)
        keys.reserveCapacity(files.count)
        sizes.reserveCapacity(files.count)
        digests.reserveCapacity(files.count)
        roots.reserveCapacity(files.count)
        partial.reserveCapacity(files.count)
        for file in files {
            names.append(file.name.rawValue)
            keys.append(PostgresTrackerStore.key(file.name))
            sizes.append(Int64(clamping: file.size))
            digests.append(file.digest.hex)
            roots.append(file.root?.hex ?? "")
            partial.append(file.isPartial)
        }
    }
}

import FerryTestSupport
import FerryTracker
import FerryWire
import Foundation
import Testing

/// The implementations of the index that the same cases hold to: PostgreSQL among them when a test
/// database is given (``PostgresTestEnvironment``; `PostgresTrackerStoreTests` says when it is skipped).
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    case memory
    case postgres

    static var allCases: [StoreKind] {
        [.sqlite, .memory] + (PostgresTestEnvironment.runs ? [.postgres] : [])
    }

    /// The stores that rank holders by downloaders' reports (SQLite, a durable record only, does not).
    static var ranking: [StoreKind] { allCases.filter { $0 != .sqlite } }

    func make() async throws -> any TrackerStore {
        switch self {
        case .sqlite: try SQLiteTrackerStore(path: ":memory:")
        case .memory: MemoryTrackerIndex()
        case .postgres: try await PostgresTestStore.make()
        }
    }

    var testDescription: String { rawValue }
}

@Suite("TrackerStore: the index in SQLite, in memory and in PostgreSQL, held to the same cases")
struct SQLiteTrackerStoreTests {
    static func memory() throws -> SQLiteTrackerStore { try SQLiteTrackerStore(path: ":memory:") }

    static func holders(_ rows: [HolderRow]) -> [String] {
        rows.map { "\($0.name.rawValue)@\($0.holder.host):\($0.holder.tcpPort)/\($0.holder.udpPort) \($0.size)" }
    }

    @Test("each registration is a new peer", arguments: StoreKind.allCases)
    func registration(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let a = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        let b = try await store.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        let c = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5556, udpPort: 0)
        #expect(Set([a, b, c]).count == 3)
        #expect(a.description == "peer#\(a.rawValue)")
    }

    @Test("shared files are found for live peers, in the order the peers connected", arguments: StoreKind.allCases)
    func holderRows(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let a = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 5556)
        let b = try await store.registerPeer(host: "::1", tcpPort: 6000, udpPort: 0)
        try await store.replaceShare(of: b, with: [entry("x", 1), entry("y", 2)])
        try await store.replaceShare(of: a, with: [entry("x", 1), entry("z", 3)])
        let rows = try await store.holderRows(for: [fileName("x"), fileName("y"), fileName("nope")])
        #expect(Self.holders(rows) == ["x@10.0.0.1:5555/5556 1", "x@::1:6000/0 1", "y@::1:6000/0 2"])
        #expect(try await store.holderRows(for: []).isEmpty)
    }

    @Test("rows carry the digest and size exactly, up to Int64.max", arguments: StoreKind.allCases)
    func exactValues(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 1, udpPort: 65535)
        let big = SharedFileEntry(name: fileName("big"), size: UInt64(Int64.max), digest: digestC)
        try await store.replaceShare(of: peer, with: [big])
        let row = try #require(try await store.holderRows(for: [big.name]).first)
        #expect(row.size == UInt64(Int64.max))
        #expect(row.digest == digestC)
        #expect(row.holder == Holder(host: "10.0.0.1", tcpPort: 1, udpPort: 65535))
    }

    @Test("replaceShare replaces everything the peer shared", arguments: StoreKind.allCases)
    func replaceShare(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: peer, with: [entry("old1"), entry("old2")])
        try await store.replaceShare(of: peer, with: [entry("old2", 99, digestB), entry("new")])
        let rows = try await store.holderRows(for: [fileName("old1"), fileName("old2"), fileName("new")])
        #expect(rows.map(\.name.rawValue).sorted() == ["new", "old2"])
        #expect(rows.first { $0.name.rawValue == "old2" }?.digest == digestB)
        try await store.replaceShare(of: peer, with: [])
        #expect(try await store.holderRows(for: [fileName("new")]).isEmpty)
    }

    @Test("addFile says whether the name is new and replaces the content", arguments: StoreKind.allCases)
    func addFile(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        #expect(try await store.addFile(entry("a", 1, digestA), to: peer))
        #expect(try await !store.addFile(entry("a", 2, digestB), to: peer))
        let rows = try await store.holderRows(for: [fileName("a")])
        #expect(rows.count == 1)
        #expect(rows.first?.size == 2)
        #expect(rows.first?.digest == digestB)
    }

    @Test("removeFile says whether the peer shared the name", arguments: StoreKind.allCases)
    func removeFile(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        let other = try await store.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: peer, with: [entry("a")])
        try await store.replaceShare(of: other, with: [entry("a")])
        #expect(try await !store.removeFile(named: fileName("b"), from: peer))
        #expect(try await store.removeFile(named: fileName("a"), from: peer))
        #expect(try await !store.removeFile(named: fileName("a"), from: peer))
        #expect(Self.holders(try await store.holderRows(for: [fileName("a")])) == ["a@10.0.0.2:5555/0 12"])
    }

    @Test("an unregistered peer's files leave lookups at once", arguments: StoreKind.allCases)
    func unregister(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: peer, with: [entry("a")])
        try await store.unregisterPeer(peer)
        #expect(try await store.holderRows(for: [fileName("a")]).isEmpty)
        #expect(try await store.list(matching: ListPattern(nil), limit: 10).isEmpty)
        try await store.unregisterPeer(peer)       // twice is harmless
    }

    @Test("a peer that registers again from the same address and port supersedes its old session", arguments: StoreKind.allCases)
    func supersede(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let old = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: old, with: [entry("old")])
        let otherPort = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5556, udpPort: 0)
        let otherHost = try await store.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: otherPort, with: [entry("old")])
        try await store.replaceShare(of: otherHost, with: [entry("old")])
        #expect(try await store.holderRows(for: [fileName("old")]).count == 3)
        let new = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 7)
        #expect(new != old)
        #expect(Self.holders(try await store.holderRows(for: [fileName("old")]))
                == ["old@10.0.0.1:5556/0 12", "old@10.0.0.2:5555/0 12"])
    }

    @Test("reports rank holders: failing ones last, then by speed class; a new session starts afresh", arguments: StoreKind.ranking)
    func reportsRankHolders(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        var sessions: [String: PeerID] = [:]
        for host in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            sessions[host] = try await store.registerPeer(host: host, tcpPort: 5555, udpPort: 0)
            try await store.replaceShare(of: sessions[host]!, with: [entry("x"), entry("y")])
        }
        func order(_ name: String = "x") async throws -> [String] {
            try await store.holderRows(for: [fileName(name)]).map(\.holder.host)
        }
        func report(_ host: String, _ verdict: HolderReport.Verdict, from reporter: String) async throws -> Bool {
            try await store.report(HolderReport(host: host, tcpPort: 5555, verdict: verdict), from: reporter)
        }
        #expect(try await order() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        // One reporter says the first failed: it sinks below the others, for every name it holds.
        #expect(try await report("10.0.0.1", .failed, from: "10.9.0.1"))
        #expect(try await order() == ["10.0.0.2", "10.0.0.3", "10.0.0.1"])
        #expect(try await order("y") == ["10.0.0.2", "10.0.0.3", "10.0.0.1"])
        // 100 MiB/s (class 26) ranks before an unreported holder (1 MiB/s, class 20).
        #expect(try await report("10.0.0.3", .served(bytes: 100 << 20, milliseconds: 1000), from: "10.9.0.1"))
        #expect(try await order() == ["10.0.0.3", "10.0.0.2", "10.0.0.1"])
        // Another reporter got 4 KiB/s from the first: one verdict each way, so not failing, but slow.
        #expect(try await report("10.0.0.1", .served(bytes: 4096, milliseconds: 1000), from: "10.9.0.2"))
        #expect(try await order() == ["10.0.0.3", "10.0.0.2", "10.0.0.1"])
        // The first reporter changes its mind: its OK replaces its FAILED; the average rate (½ each)
        // of 4 KiB/s and 4 MiB/s is over 2 MiB/s, class 21.
        #expect(try await report("10.0.0.1", .served(bytes: 4 << 20, milliseconds: 1000), from: "10.9.0.1"))
        #expect(try await order() == ["10.0.0.3", "10.0.0.1", "10.0.0.2"])
        // Two reporters now say the fastest failed, against one OK: it sinks to the end.
        #expect(try await report("10.0.0.3", .failed, from: "10.9.0.2"))
        #expect(try await report("10.0.0.3", .failed, from: "10.9.0.3"))
        #expect(try await order() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        // Unknown holders and a holder's word on itself.
        #expect(try await report("10.0.0.9", .failed, from: "10.9.0.1") == false)
        #expect(try await report("10.0.0.2", .failed, from: "10.0.0.2"))
        #expect(try await order() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        // A new session of the failing holder starts with no reports: it ranks as unknown again,
        // after the holders with its rank that connected before it.
        let again = try await store.registerPeer(host: "10.0.0.3", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: again, with: [entry("x")])
        #expect(try await order() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        #expect(try await report("10.0.0.3", .served(bytes: 1 << 30, milliseconds: 1000), from: "10.9.0.4"))
        #expect(try await order() == ["10.0.0.3", "10.0.0.1", "10.0.0.2"])
    }

    @Test("markAllPeersOffline empties the index", arguments: StoreKind.allCases)
    func markAllOffline(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: peer, with: [entry("a")])
        try await store.markAllPeersOffline()
        #expect(try await store.holderRows(for: [fileName("a")]).isEmpty)
        let again = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: again, with: [entry("a")])
        #expect(try await store.holderRows(for: [fileName("a")]).count == 1)
    }

    @Test("SQLite stores names byte for byte: quotes, Unicode, and NFC and NFD forms kept apart")
    func namesVerbatim() async throws {
        let store = try Self.memory()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        let names = ["say \"hi\", ok", "日本 🚀", "caf\u{E9}", "cafe\u{301}", " edge ", "%_x"].map(fileName)
        try await store.replaceShare(of: peer, with: names.map { SharedFileEntry(name: $0, size: 1, digest: digestA) })
        for name in names {
            let rows = try await store.holderRows(for: [name])
            #expect(rows.map(\.name.rawValue.scalarValues) == [name.rawValue.scalarValues])
        }
    }

    // MARK: LIST

    static func listed(_ store: any TrackerStore, _ pattern: String?, limit: Int = 100) async throws -> [String] {
        try await store.list(matching: ListPattern(pattern), limit: limit).map { "\($0.name) \($0.size) \($0.holderCount)" }
    }

    static func populated(_ kind: StoreKind) async throws -> any TrackerStore {
        let store = try await kind.make()
        let a = try await store.registerPeer(host: "10.0.0.1", tcpPort: 1, udpPort: 0)
        let b = try await store.registerPeer(host: "10.0.0.2", tcpPort: 1, udpPort: 0)
        let c = try await store.registerPeer(host: "10.0.0.3", tcpPort: 1, udpPort: 0)
        try await store.replaceShare(of: a, with: [entry("b.txt", 1), entry("a.TXT", 2), entry("50%_off.pdf", 3)])
        try await store.replaceShare(of: b, with: [entry("b.txt", 1), entry("c.md", 4)])
        try await store.replaceShare(of: c, with: [entry("b.txt", 9, digestB), entry("a.TXT", 2), entry("50x-off.pdf", 5)])
        let gone = try await store.registerPeer(host: "10.0.0.4", tcpPort: 1, udpPort: 0)
        try await store.replaceShare(of: gone, with: [entry("hidden.txt")])
        try await store.unregisterPeer(gone)
        return store
    }

    @Test("LIST of everything groups by content, sorted by name then holders", arguments: StoreKind.allCases)
    func listEverything(_ kind: StoreKind) async throws {
        let store = try await Self.populated(kind)
        #expect(try await Self.listed(store, nil) == [
            "50%_off.pdf 3 1", "50x-off.pdf 5 1", "a.TXT 2 2", "b.txt 1 2", "b.txt 9 1", "c.md 4 1",
        ])
    }

    static let listPatterns: [(String?, [String])] = [
        ("txt", ["a.TXT", "b.txt", "b.txt"]),
        ("*.txt", ["a.TXT", "b.txt", "b.txt"]),
        ("?.md", ["c.md"]),
        ("%", ["50%_off.pdf"]),
        ("_", ["50%_off.pdf"]),
        ("50%_", ["50%_off.pdf"]),
        ("50?_*", ["50%_off.pdf"]),
        ("hidden", []),
        ("nothing", []),
    ]

    @Test("LIST filters by glob or substring with %, _ and \\ taken literally", arguments: StoreKind.allCases, listPatterns)
    func listFiltered(_ kind: StoreKind, _ case: (pattern: String?, names: [String])) async throws {
        let (pattern, names) = `case`
        let store = try await Self.populated(kind)
        #expect(try await store.list(matching: ListPattern(pattern), limit: 100).map(\.name) == names)
    }

    @Test("LIST returns at most the limit", arguments: StoreKind.allCases)
    func listLimit(_ kind: StoreKind) async throws {
        let store = try await Self.populated(kind)
        #expect(try await Self.listed(store, nil, limit: 2) == ["50%_off.pdf 3 1", "50x-off.pdf 5 1"])
    }

    @Test("LIST (SQL LIKE, or the index's scan) and ListPattern.matches agree on ASCII and simple Unicode names", arguments: StoreKind.allCases)
    func likeAgreesWithMatches(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 1, udpPort: 0)
        let names = ["a.txt", "A.TXT", "ab", "a_b", "a%b", "x\"y", "日本.txt", "é.txt", "É.TXT", "read me", "a.b.c", "..."]
        try await store.replaceShare(of: peer, with: names.map { entry($0) })
        let patterns: [String?] = [nil, "a", "A", "_", "%", "*.txt", "?.txt", "a?b", "*", "**", "*.*.*", "é", "É", "日",
                                   "\"", " ", "a*", "*b", "?", "???", "x\"*"]
        for pattern in patterns {
            let sql = Set(try await store.list(matching: ListPattern(pattern), limit: 100).map(\.name))
            let swift = Set(names.filter { ListPattern(pattern).matches($0) })
            #expect(sql == swift, "pattern \(String(describing: pattern))")
        }
    }

    @Test("SQL LIKE on names in NFC (as the journal writes them) and ListPattern.matches agree on combining marks and emoji sequences")
    func likeAgreesWithMatchesOnGraphemes() async throws {
        let store = try Self.memory()
        let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 1, udpPort: 0)
        let names = ["e\u{301}", "\u{E9}x", "🇫🇷", "x%\u{301}y", "x%y", "e\u{332}"].map(SharedFileName.normalized)
        try await store.replaceShare(of: peer, with: names.map { entry($0) })
        var disagreements: [String] = []
        for pattern in ["?", "e", "%\u{301}", "e\u{301}", "\u{E9}", "e\u{301}?", "?x", "e*"] {
            let sql = Set(try await store.list(matching: ListPattern(pattern), limit: 100).map(\.name))
            let swift = Set(names.filter { ListPattern(pattern).matches($0) })
            if sql != swift { disagreements.append("\(pattern.debugDescription): SQL \(sql.sorted()) vs matches() \(swift.sorted())") }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
    }

    // MARK: a database file

    @Test("a database file keeps the index across reopening, until the tracker marks peers offline")
    func fileDatabase() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/tracker.sqlite"
        do {
            let store = try SQLiteTrackerStore(path: path)
            let peer = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
            try await store.replaceShare(of: peer, with: [entry("kept")])
        }
        #expect(FileManager.default.fileExists(atPath: path))
        let reopened = try SQLiteTrackerStore(path: path)
        #expect(try await reopened.holderRows(for: [fileName("kept")]).count == 1)
        try await reopened.markAllPeersOffline()
        #expect(try await reopened.holderRows(for: [fileName("kept")]).isEmpty)
        let later = try await reopened.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        #expect(later.rawValue > 1)
    }

    @Test("a path that cannot hold a database is an error, not a crash")
    func badPath() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        #expect(throws: (any Error).self) { try SQLiteTrackerStore(path: folder.path + "/missing/dir/tracker.sqlite") }
    }

    @Test("many connections may use the store at once", arguments: StoreKind.allCases)
    func concurrentUse(_ kind: StoreKind) async throws {
        let store = try await kind.make()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<20 {
                group.addTask {
                    let peer = try await store.registerPeer(host: "10.0.1.\(index)", tcpPort: 5555, udpPort: 0)
                    for file in 0..<10 { _ = try await store.addFile(entry("shared-\(file)"), to: peer) }
                }
            }
            try await group.waitForAll()
        }
        let rows = try await store.holderRows(for: (0..<10).map { fileName("shared-\($0)") })
        #expect(rows.count == 200)
        #expect(try await store.list(matching: ListPattern("shared"), limit: 100).map(\.holderCount) == Array(repeating: 20, count: 10))
    }
}

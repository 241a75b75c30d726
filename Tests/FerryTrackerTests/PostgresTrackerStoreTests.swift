import FerryTestSupport
@testable import FerryTracker
import FerryWire
import PostgresNIO
import Testing

/// Several trackers on one PostgreSQL database: each test's trackers share a schema of their own.
/// (The `TrackerStore` cases of `SQLiteTrackerStoreTests` also run against PostgreSQL when it is given.)
@Suite("PostgresTrackerStore: several trackers on one database, held together by leases",
       .enabled(if: PostgresTestEnvironment.runs, Comment(rawValue: PostgresTestEnvironment.skipReason)))
struct PostgresTrackerStoreTests {
    static func holders(_ store: PostgresTrackerStore, _ name: String) async throws -> [String] {
        try await store.holderRows(for: [fileName(name)]).map { "\($0.holder.host):\($0.holder.tcpPort)" }
    }

    @Test("the TrackerStore cases run against PostgreSQL too")
    func storeCasesIncludePostgres() {
        #expect(StoreKind.allCases.contains(.postgres))
    }

    @Test("a peer registered on one tracker is found on another at once, in the global order of connection")
    func sharedLookups() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        let a = try await PostgresTestStore.make(schema: schema)
        let b = try await PostgresTestStore.make(schema: schema)
        #expect(a.trackerID != b.trackerID)
        let first = try await b.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        try await b.replaceShare(of: first, with: [entry("x")])
        let second = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: second, with: [entry("x"), entry("y")])
        #expect(try await Self.holders(b, "x") == ["10.0.0.2:5555", "10.0.0.1:5555"])
        #expect(try await Self.holders(a, "x") == ["10.0.0.2:5555", "10.0.0.1:5555"])
        #expect(try await b.list(matching: ListPattern(nil), limit: 10).map(\.holderCount) == [2, 1])
        #expect(try await a.addFile(entry("z"), to: second))
        #expect(try await Self.holders(b, "z") == ["10.0.0.1:5555"])
        try await a.unregisterPeer(second)
        #expect(try await Self.holders(b, "x") == ["10.0.0.2:5555"])
    }

    @Test("a report made on one tracker ranks the holder in every tracker's lookups, even for a holder of another")
    func sharedRanking() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        let a = try await PostgresTestStore.make(schema: schema)
        let b = try await PostgresTestStore.make(schema: schema)
        let first = try await b.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        try await b.replaceShare(of: first, with: [entry("x")])
        let second = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: second, with: [entry("x")])
        #expect(try await Self.holders(a, "x") == ["10.0.0.2:5555", "10.0.0.1:5555"])
        // The holder registered on B failed a downloader who asked A.
        #expect(try await a.report(HolderReport(host: "10.0.0.2", tcpPort: 5555, verdict: .failed), from: "10.9.0.1"))
        #expect(try await Self.holders(b, "x") == ["10.0.0.1:5555", "10.0.0.2:5555"])
        #expect(try await Self.holders(a, "x") == ["10.0.0.1:5555", "10.0.0.2:5555"])
        // Another downloader, asking B, got it: one verdict each way, no longer failing.
        #expect(try await b.report(HolderReport(host: "10.0.0.2", tcpPort: 5555, verdict: .served(bytes: 1 << 20, milliseconds: 1000)),
                                   from: "10.9.0.2"))
        #expect(try await Self.holders(a, "x") == ["10.0.0.2:5555", "10.0.0.1:5555"])
    }

    @Test("the status page and metrics of a tracker on PostgreSQL count every tracker's peers and files")
    func statusOfTheSharedIndex() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        let a = try await PostgresTestStore.make(schema: schema)
        let b = try await PostgresTestStore.make(schema: schema)
        let first = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: first, with: [entry("x"), entry("y")])
        let second = try await b.registerPeer(host: "10.0.0.2", tcpPort: 5556, udpPort: 5557)
        try await b.replaceShare(of: second, with: [entry("x")])

        let counts = try await a.liveCounts()
        #expect(counts.peers == 2 && counts.entries == 3, "\(counts)")
        let summary = try await b.statusSummary(peerLimit: 10, fileLimit: 10)
        #expect(summary.peers.map { "\($0.host):\($0.tcpPort):\($0.udpPort):\($0.files)" } == ["10.0.0.2:5556:5557:1", "10.0.0.1:5555:0:2"])
        #expect(summary.files.map { "\($0.name)=\($0.holders)" } == ["x=2", "y=1"])
        let top = try await a.statusSummary(peerLimit: 1, fileLimit: 1)
        #expect(top.peers.map(\.host) == ["10.0.0.2"] && top.files.map(\.name) == ["x"])

        // As `ferry server --db postgres://… --http` serves it: tracker A's page shows B's peer too.
        let server = TrackerServer(configuration: .init(host: "127.0.0.1", port: 0), store: a,
                                   indexMode: .shared(sessionsLost: AsyncStream { _ in }), logger: quietLogger)
        let page = TrackerObservability(server: server, index: a)
        let document = await page.status()
        #expect(document.figures.contains(.init("live peers", "2")) && document.figures.contains(.init("shared entries", "3")),
                "\(document.figures)")
        #expect(document.tables.first?.rows.count == 2)
        try await b.unregisterPeer(second)
        #expect(await page.metricsText().contains("ferry_tracker_shared_entries 2"))
    }

    @Test("a tracker starting (markAllPeersOffline) clears only its own sessions, never another live tracker's")
    func startingLeavesOthers() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        let a = try await PostgresTestStore.make(schema: schema)
        let peer = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: peer, with: [entry("kept")])
        let b = try await PostgresTestStore.make(schema: schema)
        let own = try await b.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        try await b.replaceShare(of: own, with: [entry("kept")])
        try await b.markAllPeersOffline()
        #expect(try await Self.holders(b, "kept") == ["10.0.0.1:5555"])
    }

    @Test("a peer registering again on another tracker supersedes its session on the first")
    func supersedeAcrossTrackers() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        let a = try await PostgresTestStore.make(schema: schema)
        let b = try await PostgresTestStore.make(schema: schema)
        let old = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: old, with: [entry("old")])
        let new = try await b.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 9)
        try await b.replaceShare(of: new, with: [entry("new")])
        #expect(try await Self.holders(a, "old").isEmpty)
        #expect(try await Self.holders(a, "new") == ["10.0.0.1:5555"])
        // The superseded connection's late writes change nothing.
        #expect(try await !a.addFile(entry("late"), to: old))
        #expect(try await Self.holders(b, "late").isEmpty)
    }

    @Test("the peers of a tracker that stops renewing leave the others' lookups; a live tracker collects its rows")
    func leaseRunsOut() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        // A renews never (the timer is an hour away), and its lease lasts 1 s.
        let a = try await PostgresTestStore.make(
            schema: schema, lease: .init(duration: .seconds(1), renewal: .seconds(3600), collectedAfter: .zero))
        let b = try await PostgresTestStore.make(
            schema: schema, lease: .init(duration: .seconds(30), renewal: .seconds(3600), collectedAfter: .zero))
        let peer = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: peer, with: [entry("a")])
        let live = try await b.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        try await b.replaceShare(of: live, with: [entry("a")])
        // (A's peer may already be gone here: its lease is 1 s.)
        #expect(try await eventually(within: .seconds(15)) { try await Self.holders(b, "a") == ["10.0.0.2:5555"] })
        #expect(try await b.list(matching: ListPattern(nil), limit: 10).map(\.holderCount) == [1])

        // B collects A's rows; A then finds its lease gone, takes a new id and says its sessions were lost.
        await b.renewAndCollect()
        let before = try #require(a.trackerID)
        var lost = a.sessionsLost.makeAsyncIterator()
        await a.renewAndCollect()
        #expect(a.trackerID != before)
        let signalled: Void? = await lost.next()
        #expect(signalled != nil)
        // B's own lease was renewed, not collected.
        #expect(try await Self.holders(b, "a") == ["10.0.0.2:5555"])
        let again = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: again, with: [entry("a")])
        #expect(try await Self.holders(b, "a") == ["10.0.0.2:5555", "10.0.0.1:5555"])
    }

    @Test("a tracker that renews its lease keeps its peers past the lease's duration")
    func renewalKeepsPeers() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        let a = try await PostgresTestStore.make(
            schema: schema, lease: .init(duration: .seconds(2), renewal: .milliseconds(200)))
        let peer = try await a.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await a.replaceShare(of: peer, with: [entry("a")])
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .seconds(5))
        var missing = 0
        while clock.now < end {
            if try await Self.holders(a, "a").isEmpty { missing += 1 }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(missing == 0)
    }

    @Test("trackers starting at once on an empty schema all create it without a conflict")
    func concurrentStart() async throws {
        let schema = PostgresTestEnvironment.freshSchema()
        let ids = try await withThrowingTaskGroup(of: Int64?.self) { group in
            for _ in 0..<3 { group.addTask { try await PostgresTestStore.make(schema: schema).trackerID } }
            var ids: [Int64?] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        #expect(Set(ids.compactMap { $0 }).count == 3)
    }

    // PostgresNIO does not cancel a query in flight: without the server's statement_timeout this call
    // would wait out the 120 s sleep, past the test's one-minute limit.
    @Test("a statement that runs past the timeout is ended by the database, not waited out", .timeLimit(.minutes(1)))
    func hangingStatement() async throws {
        // Not started as a tracker (no schema, no lease): only the calls' bound is under test, and
        // a 2 s bound must not meet the other tests' schema creation.
        var location = try PostgresLocation(url: try PostgresTestEnvironment.requireURL())
        location.schema = PostgresTestEnvironment.freshSchema()
        let store = PostgresTrackerStore(location: location, operationTimeout: .seconds(2), logger: quietLogger)
        let running = Task { await store.run() }
        await #expect(throws: (any Error).self) {
            try await store.database { client in try await client.query("SELECT pg_sleep(120)").collect().count }
        }
        // The pool's connection is still good for the next call.
        let one = try await store.database { client in
            var value = 0
            for try await number in try await client.query("SELECT 1").decode(Int.self) { value = number }
            return value
        }
        #expect(one == 1)
        running.cancel()
        await running.value
    }

    @Test("a database that cannot be reached fails the call with an error, within the timeout")
    func unreachable() async throws {
        var location = try PostgresLocation(url: try PostgresTestEnvironment.requireURL())
        location.host = "127.0.0.1"
        location.port = 9   // discard: nothing listens
        let store = PostgresTrackerStore(location: location, operationTimeout: .milliseconds(500), logger: quietLogger)
        let running = Task { await store.run() }
        await #expect(throws: (any Error).self) { try await store.markAllPeersOffline() }
        await #expect(throws: (any Error).self) { try await store.holderRows(for: [fileName("a")]) }
        running.cancel()
        await running.value
    }
}

@Suite("PostgresLocation: the --db URL")
struct PostgresLocationTests {
    @Test("a full URL gives every part; percent-escapes are decoded")
    func full() throws {
        let location = try PostgresLocation(url: "postgresql://ferry:s%40cret@db.example:6543/index?schema=trackers&sslmode=require")
        #expect(location == PostgresLocation(host: "db.example", port: 6543, username: "ferry", password: "s@cret",
                                             database: "index", schema: "trackers", requiresTLS: true))
        #expect(location.redacted == "postgres://ferry@db.example:6543/index?schema=trackers")
    }

    @Test("the port defaults to 5432; IPv6 hosts lose their brackets")
    func defaults() throws {
        #expect(try PostgresLocation(url: "postgres://u@127.0.0.1/db") == PostgresLocation(host: "127.0.0.1", username: "u", database: "db"))
        #expect(try PostgresLocation(url: "postgres://u@[::1]:5433/db").host == "::1")
    }

    @Test("only postgres:// and postgresql:// are URLs; anything else is an SQLite path")
    func scheme() {
        #expect(PostgresLocation.isURL("postgres://u@h/d"))
        #expect(PostgresLocation.isURL("POSTGRESQL://u@h/d"))
        #expect(!PostgresLocation.isURL("ferry-tracker.sqlite"))
        #expect(!PostgresLocation.isURL(":memory:"))
        #expect(!PostgresLocation.isURL("mysql://u@h/d"))
    }

    @Test("a URL without host, user or database, or with a bad parameter, is refused", arguments: [
        "postgres:///db", "postgres://h/db", "postgres://u@h", "postgres://u@h/", "postgres://u@h/a/b",
        "postgres://u@h/db?schema=bad-name", "postgres://u@h/db?schema=1x", "postgres://u@h/db?sslmode=verify-full",
        "postgres://u@h/db?application_name=x",
    ])
    func refused(_ url: String) {
        #expect(throws: PostgresLocation.ParseError.self) { try PostgresLocation(url: url) }
    }
}

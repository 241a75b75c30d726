import FerryWire
import GRDB
@testable import FerryTracker
import Testing

/// The tracker keeps each file's BEP 52 root and gives it in `SEND` replies.
@Suite("Tracker: roots stored and returned")
struct TrackerRootTests {
    static let rootA = ContentDigest(hex: String(repeating: "1", count: 64))!
    static let rootB = ContentDigest(hex: String(repeating: "2", count: 64))!
    static let p1 = Holder(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
    static let p2 = Holder(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
    static let p3 = Holder(host: "10.0.0.3", tcpPort: 5555, udpPort: 0)
    static let p4 = Holder(host: "10.0.0.4", tcpPort: 5555, udpPort: 0)

    static func row(_ holder: Holder, _ root: ContentDigest?) -> HolderRow {
        HolderRow(name: fileName("f"), size: 12, digest: digestA, root: root, holder: holder)
    }

    static func groups(_ rows: [HolderRow]) -> [HolderGroup] {
        guard case .found(let groups) = HolderGrouping.results(for: ["f"], rows: rows).first?.outcome else { return [] }
        return groups
    }

    @Test("a group's root is the one most holders announced; holders without one do not split the group")
    func majorityRoot() {
        let groups = Self.groups([Self.row(Self.p1, nil), Self.row(Self.p2, Self.rootB), Self.row(Self.p3, Self.rootA),
                                  Self.row(Self.p4, Self.rootA)])
        #expect(groups == [HolderGroup(size: 12, digest: digestA, root: Self.rootA, holders: [Self.p1, Self.p2, Self.p3, Self.p4])])
    }

    @Test("on a tie the root announced first (by the holder that connected first) wins")
    func tie() {
        #expect(Self.groups([Self.row(Self.p1, Self.rootB), Self.row(Self.p2, Self.rootA)]).first?.root == Self.rootB)
        #expect(Self.groups([Self.row(Self.p1, nil), Self.row(Self.p2, Self.rootA), Self.row(Self.p3, Self.rootB)]).first?.root == Self.rootA)
    }

    @Test("no holder announced a root: the group has none")
    func noRoot() {
        #expect(Self.groups([Self.row(Self.p1, nil), Self.row(Self.p2, nil)]).first?.root == nil)
    }

    @Test("the store keeps roots from UPDATE and ADD, and NULL for files announced without")
    func storeKeepsRoots() async throws {
        let store = try SQLiteTrackerStore(path: ":memory:")
        let a = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: a, with: [SharedFileEntry(name: fileName("x"), size: 1, digest: digestA, root: Self.rootA),
                                                   SharedFileEntry(name: fileName("y"), size: 1, digest: digestB)])
        _ = try await store.addFile(SharedFileEntry(name: fileName("z"), size: 1, digest: digestC, root: Self.rootB), to: a)
        let rows = try await store.holderRows(for: [fileName("x"), fileName("y"), fileName("z")])
        #expect(Dictionary(uniqueKeysWithValues: rows.map { ($0.name.rawValue, $0.root) }) == ["x": Self.rootA, "y": nil, "z": Self.rootB])
    }

    @Test("a database of the first schema is migrated: its files have no root until announced again")
    func migration() async throws {
        let queue = try DatabaseQueue()
        try SQLiteTrackerStore.migrator.migrate(queue, upTo: "v1 peer sessions and shared files")
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO peerSession (host, tcpPort, udpPort, online, connectedAt) VALUES ('10.0.0.1', 5555, 0, 1, '2026-01-01')")
            try db.execute(sql: "INSERT INTO sharedFile (sessionId, name, size, sha256) VALUES (1, 'old', 1, ?)", arguments: [hexA])
        }
        let store = try SQLiteTrackerStore(writer: queue)
        let rows = try await store.holderRows(for: [fileName("old")])
        #expect(rows.map(\.root) == [nil])
        _ = try await store.addFile(SharedFileEntry(name: fileName("old"), size: 1, digest: digestA, root: Self.rootA),
                                    to: PeerID(rawValue: 1))
        #expect(try await store.holderRows(for: [fileName("old")]).map(\.root) == [Self.rootA])
    }

    @Test("a damaged root in the database is left out of lookups, not passed on to clients")
    func damagedRoot() async throws {
        let queue = try DatabaseQueue()
        let store = try SQLiteTrackerStore(writer: queue)
        let a = try await store.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        try await store.replaceShare(of: a, with: [SharedFileEntry(name: fileName("x"), size: 1, digest: digestA, root: Self.rootA),
                                                   SharedFileEntry(name: fileName("y"), size: 1, digest: digestA, root: Self.rootA)])
        try await queue.write { db in
            try db.execute(sql: "UPDATE sharedFile SET piecesRoot = ? WHERE name = 'x'", arguments: [String(repeating: "0", count: 64)])
            try db.execute(sql: "UPDATE sharedFile SET piecesRoot = 'zz' WHERE name = 'y'")
        }
        #expect(try await store.holderRows(for: [fileName("x"), fileName("y")]).map(\.root) == [nil, nil])
    }

    @Test("over a conversation: a new peer's root comes back in SEND, an old peer's file has none, both in one group")
    func conversation() async throws {
        let store = try SQLiteTrackerStore(path: ":memory:")
        var newPeer = TrackerConversation(store, host: "10.0.0.1")
        var oldPeer = TrackerConversation(store, host: "10.0.0.2")
        #expect(await newPeer.say("HELLO 5555 5555") == ["200 HELLO 10.0.0.1 9 ROOTS PARTIAL"])
        _ = await oldPeer.say("HELLO 5555 0")
        #expect(await oldPeer.say("UPDATE 1") == nil)
        #expect(await oldPeer.say("FILE 12 \(hexA) f") == ["200 UPDATED 1 0"])
        var reader = TrackerConversation(store, host: "10.0.0.9")
        #expect(await reader.say("SEND f") == ["210-FILE \"f\" 12 \(hexA) 1", "211-PEER 10.0.0.2 5555 0", "200 SEND 1"])
        #expect(await newPeer.say("UPDATE 2") == nil)
        #expect(await newPeer.say(TrackerRequest.file(SharedFileEntry(name: fileName("f"), size: 12, digest: digestA, root: Self.rootA)).line) == nil)
        #expect(await newPeer.say("FILE 12 \(hexA) \"g\" \(String(repeating: "0", count: 64))")
                == ["400-FILE: a zero root is only for an empty file", "200 UPDATED 1 1"])
        #expect(await reader.say("SEND f") == [
            "210-FILE \"f\" 12 \(hexA) 2 \(Self.rootA.hex)", "211-PEER 10.0.0.1 5555 5555", "211-PEER 10.0.0.2 5555 0", "200 SEND 1"])
        #expect(await newPeer.say("ADD 13 \(hexB) \"h\" \(Self.rootB.hex)") == ["200 ADDED \"h\""])
        #expect(await reader.say("SEND h") == ["210-FILE \"h\" 13 \(hexB) 1 \(Self.rootB.hex)", "211-PEER 10.0.0.1 5555 5555", "200 SEND 1"])
    }
}

import FerryWire
import GRDB
@testable import FerryTracker
import Testing

/// Peers still downloading a file announce it with `ADD … PARTIAL`; lookups list them after the
/// complete holders, marked `PARTIAL`.
@Suite("Tracker: partial holders")
struct PartialHolderTests {
    static let root = ContentDigest(hex: String(repeating: "1", count: 64))!
    static let seeder = Holder(host: "10.0.0.1", tcpPort: 5555, udpPort: 5555)
    static let early = Holder(host: "10.0.0.2", tcpPort: 5555, udpPort: 5555)
    static let late = Holder(host: "10.0.0.3", tcpPort: 5555, udpPort: 5555)

    @Test("partial holders count and vote for the root, but come after the complete holders of their group")
    func grouping() throws {
        let rows = [
            HolderRow(name: fileName("f"), size: 12, digest: digestA, root: Self.root, holder: Self.early, isPartial: true),
            HolderRow(name: fileName("f"), size: 12, digest: digestA, root: Self.root, holder: Self.seeder),
            HolderRow(name: fileName("f"), size: 12, digest: digestA, root: Self.root, holder: Self.late, isPartial: true),
        ]
        let results = HolderGrouping.results(for: ["f"], rows: rows)
        let expected = HolderGroup(size: 12, digest: digestA, root: Self.root, holders: [Self.seeder, Self.early, Self.late],
                                   partial: [Self.early, Self.late])
        #expect(results == [LookupResult(name: "f", outcome: .found([expected]))])
        #expect(expected.completeHolders == [Self.seeder])
        // The reply marks them, and the client's reader gives back the same groups.
        let lines = results[0].replyLines.map(\.line)
        #expect(lines == ["210-FILE \"f\" 12 \(hexA) 3 \(Self.root.hex)", "211-PEER 10.0.0.1 5555 5555",
                          "211-PEER 10.0.0.2 5555 5555 PARTIAL", "211-PEER 10.0.0.3 5555 5555 PARTIAL"])
        let reply = TrackerReply(lines: results[0].replyLines, final: TrackerReplyLine(status: .ok, isFinal: true, text: "SEND 1"))
        #expect(try LookupResult.results(of: reply) == results)
    }

    @Test("over a conversation: ADD … PARTIAL lists the peer as partial until a plain ADD replaces it; REMOVE unlists it")
    func conversation() async throws {
        let store = try SQLiteTrackerStore(path: ":memory:")
        var seeder = TrackerConversation(store, host: "10.0.0.1")
        var downloader = TrackerConversation(store, host: "10.0.0.2")
        var reader = TrackerConversation(store, host: "10.0.0.9")
        #expect(await seeder.say("HELLO 5555 5555") == ["200 HELLO 10.0.0.1 9 ROOTS PARTIAL"])
        _ = await downloader.say("HELLO 5555 5555")
        #expect(await seeder.say("ADD 12 \(hexA) \"f\" \(Self.root.hex)") == ["200 ADDED \"f\""])
        #expect(await downloader.say("ADD 12 \(hexA) \"f\" \(Self.root.hex) partial") == ["200 ADDED \"f\""])
        let group = ["210-FILE \"f\" 12 \(hexA) 2 \(Self.root.hex)", "211-PEER 10.0.0.1 5555 5555"]
        #expect(await reader.say("SEND f") == group + ["211-PEER 10.0.0.2 5555 5555 PARTIAL", "200 SEND 1"])
        #expect(await downloader.say("ADD 12 \(hexA) \"f\" \(Self.root.hex)") == ["200 ADDED \"f\""])
        #expect(await reader.say("SEND f") == group + ["211-PEER 10.0.0.2 5555 5555", "200 SEND 1"])
        #expect(await downloader.say("ADD 12 \(hexA) \"f\" \(Self.root.hex) PARTIAL") == ["200 ADDED \"f\""])
        #expect(await downloader.say("REMOVE f") == ["200 REMOVED \"f\""])
        #expect(await reader.say("SEND f") == ["210-FILE \"f\" 12 \(hexA) 1 \(Self.root.hex)", "211-PEER 10.0.0.1 5555 5555", "200 SEND 1"])
    }

    static let badLines: [String] = [
        "ADD 12 \(hexA) \"f\" \(root.hex) SOME",
        "ADD 12 \(hexA) \"f\" \(root.hex) PARTIAL more",
        "ADD 12 \(hexA) \"f\" PARTIAL",
    ]

    @Test("PARTIAL only after a root, and nothing after it", arguments: badLines)
    func refusesBadPartial(_ line: String) {
        #expect(throws: TrackerProtocolError.self) { try TrackerRequest(parsing: line) }
    }

    @Test("ADD … PARTIAL round-trips through the request encoder")
    func roundTrip() throws {
        let entry = SharedFileEntry(name: fileName("a b"), size: 12, digest: digestA, root: Self.root, isPartial: true)
        #expect(TrackerRequest.add(entry).line == "ADD 12 \(hexA) \"a b\" \(Self.root.hex) PARTIAL")
        #expect(try TrackerRequest(parsing: TrackerRequest.add(entry).line) == .add(entry))
    }

    @Test("a database of the second schema is migrated: its files are complete")
    func migration() async throws {
        let queue = try DatabaseQueue()
        try SQLiteTrackerStore.migrator.migrate(queue, upTo: "v2 pieces root of shared files")
        try await queue.write { db in
            try db.execute(sql: "INSERT INTO peerSession (host, tcpPort, udpPort, online, connectedAt) VALUES ('10.0.0.1', 5555, 0, 1, '2026-01-01')")
            try db.execute(sql: "INSERT INTO sharedFile (sessionId, name, size, sha256, piecesRoot) VALUES (1, 'old', 12, ?, ?)",
                           arguments: [hexA, Self.root.hex])
        }
        let store = try SQLiteTrackerStore(writer: queue)
        let rows = try await store.holderRows(for: [fileName("old")])
        #expect(rows.map(\.isPartial) == [false])
        #expect(rows.map(\.root) == [Self.root])
    }
}

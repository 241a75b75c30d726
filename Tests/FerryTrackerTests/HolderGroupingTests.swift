import FerryTracker
import FerryWire
import Testing

@Suite("HolderGrouping: rows to SEND results")
struct HolderGroupingTests {
    static let p1 = Holder(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
    static let p2 = Holder(host: "10.0.0.2", tcpPort: 5555, udpPort: 5556)
    static let p3 = Holder(host: "::1", tcpPort: 6000, udpPort: 0)

    static func row(_ name: String, _ size: UInt64, _ digest: ContentDigest, _ holder: Holder) -> HolderRow {
        HolderRow(name: fileName(name), size: size, digest: digest, holder: holder)
    }

    @Test("one result per requested name, in the order requested")
    func order() {
        let rows = [Self.row("b", 1, digestA, Self.p1), Self.row("a", 2, digestB, Self.p2)]
        let results = HolderGrouping.results(for: ["a", "missing", "b"], rows: rows)
        #expect(results == [
            LookupResult(name: "a", outcome: .found([HolderGroup(size: 2, digest: digestB, holders: [Self.p2])])),
            LookupResult(name: "missing", outcome: .notFound),
            LookupResult(name: "b", outcome: .found([HolderGroup(size: 1, digest: digestA, holders: [Self.p1])])),
        ])
    }

    @Test("holders are grouped by content, the most-held group first")
    func mostHeldFirst() {
        let rows = [
            Self.row("f", 1, digestA, Self.p1),
            Self.row("f", 2, digestB, Self.p2),
            Self.row("f", 2, digestB, Self.p3),
        ]
        #expect(HolderGrouping.results(for: ["f"], rows: rows) == [LookupResult(name: "f", outcome: .found([
            HolderGroup(size: 2, digest: digestB, holders: [Self.p2, Self.p3]),
            HolderGroup(size: 1, digest: digestA, holders: [Self.p1]),
        ]))])
    }

    @Test("groups with as many holders keep the order they were first seen in")
    func tiesKeepFirstSeen() {
        let rows = [
            Self.row("f", 3, digestC, Self.p3),
            Self.row("f", 1, digestA, Self.p1),
            Self.row("f", 2, digestB, Self.p2),
        ]
        let results = HolderGrouping.results(for: ["f"], rows: rows)
        guard case .found(let groups) = results.first?.outcome else {
            Issue.record("not found")
            return
        }
        #expect(groups.map(\.digest) == [digestC, digestA, digestB])
    }

    @Test("the same digest with another size is another content")
    func sizeIsPartOfContent() {
        let rows = [Self.row("f", 1, digestA, Self.p1), Self.row("f", 2, digestA, Self.p2)]
        guard case .found(let groups) = HolderGrouping.results(for: ["f"], rows: rows).first?.outcome else {
            Issue.record("not found")
            return
        }
        #expect(groups.count == 2)
    }

    @Test("holders keep the store's order, and a holder listed twice is kept once")
    func holderOrderAndDuplicates() {
        let rows = [
            Self.row("f", 1, digestA, Self.p3), Self.row("f", 1, digestA, Self.p1),
            Self.row("f", 1, digestA, Self.p3), Self.row("f", 1, digestA, Self.p2),
        ]
        #expect(HolderGrouping.results(for: ["f"], rows: rows)
                == [LookupResult(name: "f", outcome: .found([HolderGroup(size: 1, digest: digestA, holders: [Self.p3, Self.p1, Self.p2])]))])
    }

    @Test("a name asked twice is answered once")
    func duplicatesAnsweredOnce() {
        let results = HolderGrouping.results(for: ["x", "y", "x", "y", "x"], rows: [])
        #expect(results.map(\.name) == ["x", "y"])
    }

    static let badNames: [(String, NameError)] = [
        ("", .empty), (".", .dotName), ("..", .dotName), ("a/b", .separator), ("a\\b", .separator),
        ("a\u{0}", .nul), ("a\u{1}", .controlCharacter), (String(repeating: "x", count: 256), .tooLong),
    ]

    @Test("a bad name is answered in its place with the reason", arguments: badNames)
    func badName(_ raw: String, _ reason: NameError) {
        let results = HolderGrouping.results(for: ["ok", raw, "ok2"], rows: [Self.row("ok", 1, digestA, Self.p1)])
        #expect(results.count == 3)
        #expect(results[1] == LookupResult(name: raw, outcome: .badName(reason.description)))
        #expect(results[2] == LookupResult(name: "ok2", outcome: .notFound))
    }

    @Test("rows for names not asked for are ignored")
    func unaskedRowsIgnored() {
        #expect(HolderGrouping.results(for: ["a"], rows: [Self.row("b", 1, digestA, Self.p1)])
                == [LookupResult(name: "a", outcome: .notFound)])
        #expect(HolderGrouping.results(for: [], rows: [Self.row("b", 1, digestA, Self.p1)]).isEmpty)
    }

    @Test("results survive the SEND reply encoding and the client's reader")
    func throughTheWire() throws {
        let rows = [
            Self.row("f, \"g\"", 1, digestA, Self.p1), Self.row("f, \"g\"", 2, digestB, Self.p2),
            Self.row("f, \"g\"", 2, digestB, Self.p3), Self.row("h", 0, digestC, Self.p3),
        ]
        let results = HolderGrouping.results(for: ["f, \"g\"", "nope", "h", "a/b", "h"], rows: rows)
        let reply = TrackerReply(lines: results.flatMap(\.replyLines),
                                 final: TrackerReplyLine(status: .ok, isFinal: true, text: "SEND \(results.count)"))
        #expect(try LookupResult.results(of: reply) == results)
    }
}

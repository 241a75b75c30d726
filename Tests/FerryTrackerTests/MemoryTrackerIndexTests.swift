import FerryTestSupport
import FerryTracker
import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@Suite("MemoryTrackerIndex: cached lookup replies and the changes the journal takes")
struct MemoryTrackerIndexTests {
    /// The reply the conversation would give, from the rows.
    static func expected(_ index: MemoryTrackerIndex, _ names: [String]) -> String {
        let rows = index.holderRows(for: names.compactMap(SharedFileName.init))
        return TrackerConversation.lookupResponse(for: names, rows: rows).lines.map { $0.line + "\n" }.joined()
    }

    static func cached(_ index: MemoryTrackerIndex, _ names: [String]) -> String {
        var buffer = ByteBuffer()
        index.appendLookupReply(for: names, to: &buffer)
        return String(buffer: buffer)
    }

    @Test("the cached reply is byte for byte the conversation's, after every kind of change", arguments: [1, 2, 3, 4])
    func cacheMatchesConversation(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let index = MemoryTrackerIndex()
        let names = ["a", "b", "c d", "é", "e\u{301}x"]
        let digests = [digestA, digestB]
        var peers: [PeerID] = []
        for step in 0..<400 {
            switch Int.random(in: 0..<9, using: &random) {
            case 0 where peers.count < 6:
                peers.append(index.registerPeer(host: "10.0.0.\(Int.random(in: 1...4, using: &random))", tcpPort: 5555,
                                                udpPort: UInt16.random(in: 0...1, using: &random)))
            case 1 where !peers.isEmpty:
                index.unregisterPeer(peers.remove(at: Int.random(in: 0..<peers.count, using: &random)))
            case 2 where !peers.isEmpty:
                let files = names.filter { _ in Bool.random(using: &random) }.map {
                    SharedFileEntry(name: fileName($0), size: UInt64.random(in: 1...2, using: &random),
                                    digest: digests.randomElement(using: &random)!)
                }
                let peer = peers.randomElement(using: &random)!
                if Bool.random(using: &random) {
                    index.replaceShare(of: peer, with: files)
                } else {
                    // As an UPDATE hands it over: keyed by name.
                    index.replaceShare(of: peer, byName: Dictionary(files.map { ($0.name, $0) }, uniquingKeysWith: { $1 }))
                }
            case 3 where !peers.isEmpty:
                let root = Bool.random(using: &random) ? ContentDigest(hex: String(repeating: "d", count: 64)) : nil
                _ = index.addFile(SharedFileEntry(name: fileName(names.randomElement(using: &random)!), size: 1, digest: digestA,
                                                  root: root, isPartial: root != nil && Bool.random(using: &random)),
                                  to: peers.randomElement(using: &random)!)
            case 4 where !peers.isEmpty:
                _ = index.removeFile(named: fileName(names.randomElement(using: &random)!), from: peers.randomElement(using: &random)!)
            case 5:
                // Reports reorder holders: the cached replies of the holder's names must follow.
                let verdict: HolderReport.Verdict = Bool.random(using: &random)
                    ? .failed : .served(bytes: UInt64.random(in: 1...(1 << 30), using: &random), milliseconds: 1000)
                _ = index.report(HolderReport(host: "10.0.0.\(Int.random(in: 1...4, using: &random))", tcpPort: 5555,
                                              verdict: verdict),
                                 from: "192.168.0.\(Int.random(in: 1...3, using: &random))")
            default:
                let asked = (0..<Int.random(in: 1...3, using: &random)).map { _ in
                    (names + ["nope", "../x", "a"]).randomElement(using: &random)!
                }
                #expect(Self.cached(index, asked) == Self.expected(index, asked), "step \(step), \(asked)")
            }
        }
    }

    @Test("a SEND of many names ends with its count of distinct names, as the conversation words it")
    func manyNamesCount() {
        let index = MemoryTrackerIndex()
        let peer = index.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        index.replaceShare(of: peer, with: (0..<7).map { SharedFileEntry(name: fileName("n\($0)"), size: 1, digest: digestA) })
        // 12 distinct names (7 found, 5 not), one asked twice.
        let asked = (0..<12).map { "n\($0)" } + ["n3"]
        let reply = Self.cached(index, asked)
        #expect(reply == Self.expected(index, asked))
        #expect(reply.hasSuffix("\n200 SEND 12\n"))
    }

    @Test("changes are coalesced per peer: what the journal must write, not every operation")
    func changesCoalesce() {
        let index = MemoryTrackerIndex()
        let a = index.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        for round in 0..<50 { index.replaceShare(of: a, with: [entry("f\(round)")]) }
        _ = index.addFile(entry("x"), to: a)
        var (changes, generation) = index.takeChanges()
        #expect(changes == [a: .init(registered: true, wholeShare: true)])
        #expect(generation == index.generation)

        _ = index.addFile(entry("y"), to: a)
        _ = index.removeFile(named: fileName("x"), from: a)
        let b = index.registerPeer(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)
        index.unregisterPeer(b)
        (changes, _) = index.takeChanges()
        #expect(changes[a] == .init(names: [fileName("x"), fileName("y")]))
        #expect(changes[b] == .init(registered: true, gone: true))
        #expect(index.takeChanges().changes.isEmpty)
        #expect(index.counts.peers == 1 && index.counts.entries == 2)
    }

    @Test("a name typed decomposed finds the file announced composed (Swift compares names canonically)")
    func canonicalEquivalence() {
        let index = MemoryTrackerIndex()
        let peer = index.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        index.replaceShare(of: peer, with: [entry("caf\u{E9}.txt")])
        let rows = index.holderRows(for: [fileName("cafe\u{301}.txt")])
        #expect(rows.map(\.name.rawValue.scalarValues) == ["caf\u{E9}.txt".scalarValues])
    }
}

@Suite("TrackerJournal: the database follows the index")
struct TrackerJournalTests {
    static func rows(_ store: any TrackerStore, _ names: [String]) async throws -> Set<String> {
        Set(try await store.holderRows(for: names.map(fileName)).map {
            "\($0.name.rawValue)@\($0.holder.host):\($0.holder.tcpPort) \($0.size) \($0.root?.hex ?? "-") \($0.isPartial)"
        })
    }

    @Test("after a flush, the database holds what the index holds, whatever the order of changes", arguments: [7, 8, 9])
    func databaseFollows(seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let durable = try SQLiteTrackerStore(path: ":memory:")
        let journal = TrackerJournal(durable: durable, logger: quietLogger)
        let writer = Task { await journal.run() }
        let names = ["a", "b", "c"]
        var peers: [PeerID] = []
        for _ in 0..<300 {
            switch Int.random(in: 0..<6, using: &random) {
            case 0 where peers.count < 5:
                peers.append(journal.registerPeer(host: "10.0.0.\(peers.count + 1)", tcpPort: 5555, udpPort: 0))
            case 1 where !peers.isEmpty:
                journal.unregisterPeer(peers.remove(at: Int.random(in: 0..<peers.count, using: &random)))
            case 2 where !peers.isEmpty:
                journal.replaceShare(of: peers.randomElement(using: &random)!,
                                     with: names.filter { _ in Bool.random(using: &random) }.map { entry($0) })
            case 3 where !peers.isEmpty:
                _ = journal.addFile(entry(names.randomElement(using: &random)!, UInt64.random(in: 1...3, using: &random)),
                                    to: peers.randomElement(using: &random)!)
            case 4 where !peers.isEmpty:
                _ = journal.removeFile(named: fileName(names.randomElement(using: &random)!), from: peers.randomElement(using: &random)!)
            default:
                if Bool.random(using: &random) { await journal.flush() }
            }
        }
        await journal.flush()
        #expect(try await Self.rows(durable, names) == Self.rows(journal.index, names))
        // LIST reads the database, after a flush: what was just written is there.
        let peer = journal.registerPeer(host: "10.0.0.9", tcpPort: 1, udpPort: 0)
        _ = journal.addFile(entry("just-added"), to: peer)
        #expect(try await journal.list(matching: ListPattern("just"), limit: 10).map(\.name) == ["just-added"])
        journal.stop()
        await writer.value
    }

    @Test("LIST finds a name in either Unicode form: the database holds names in NFC, patterns are put in NFC",
          arguments: [("caf\u{E9}.txt", "cafe\u{301}"), ("cafe\u{301}.txt", "caf\u{E9}")])
    func listCanonically(announced: String, pattern: String) async throws {
        let durable = try SQLiteTrackerStore(path: ":memory:")
        let journal = TrackerJournal(durable: durable, logger: quietLogger)
        let writer = Task { await journal.run() }
        let peer = journal.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        journal.replaceShare(of: peer, with: [entry(announced), entry("other")])
        let nfc = "caf\u{E9}.txt"
        for query in [pattern, pattern + "*", "*" + pattern + ".txt", "caf?.txt"] {
            let listed = try await journal.list(matching: ListPattern(query), limit: 10).map(\.name)
            #expect(listed.map(\.scalarValues) == [nfc.scalarValues], "pattern \(query.debugDescription)")
        }
        // An ADD and a REMOVE of the other form reach the same row.
        _ = journal.addFile(entry(announced, 99), to: peer)
        #expect(try await journal.list(matching: ListPattern(pattern), limit: 10).map(\.size) == [99])
        let otherForm = announced.scalarValues == nfc.scalarValues ? "cafe\u{301}.txt" : nfc
        _ = journal.removeFile(named: fileName(otherForm), from: peer)
        #expect(try await journal.list(matching: ListPattern(pattern), limit: 10).isEmpty)
        journal.stop()
        await writer.value
    }

    @Test("a session that came and went before the writer looked is never written")
    func shortSessionsCoalesce() async throws {
        let durable = try SQLiteTrackerStore(path: ":memory:")
        let journal = TrackerJournal(durable: durable, logger: quietLogger)
        let peer = journal.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        journal.replaceShare(of: peer, with: [entry("a")])
        journal.unregisterPeer(peer)
        let writer = Task { await journal.run() }
        await journal.flush()
        let next = try await durable.registerPeer(host: "10.0.0.2", tcpPort: 1, udpPort: 0)
        #expect(next.rawValue == 1)     // the first session the database ever saw
        journal.stop()
        await writer.value
    }

    @Test("stopped, the writer writes what is left; cancelled, it ends without logging an error")
    func stoppedOrCancelled() async throws {
        for cancelled in [false, true] {
            let durable = try SQLiteTrackerStore(path: ":memory:")
            let messages = NIOLockedValueBox<[String]>([])
            let logger = Logger(label: "test") { _ in CapturingLogHandler(messages: messages) }
            let journal = TrackerJournal(durable: durable, logger: logger)
            let peer = journal.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
            journal.replaceShare(of: peer, with: [entry("a"), entry("b")])
            // Stopped, or cancelled before it runs (the task cancels itself first, so that the writer
            // cannot start before the test cancels it): cancelled, every write it tried would be refused.
            let writer = Task {
                if cancelled { withUnsafeCurrentTask { $0?.cancel() } }
                await journal.run()
            }
            if !cancelled { journal.stop() }
            await writer.value
            let written = try await durable.holderRows(for: [fileName("a"), fileName("b")]).count
            #expect(written == (cancelled ? 0 : 2), "cancelled: \(cancelled)")
            #expect(!messages.withLockedValue { $0 }.contains { $0.hasPrefix("error") }, "\(messages.withLockedValue { $0 })")
            await journal.flush()   // returns at once once the writer has ended
        }
    }

    @Test("a failing database is logged; lookups go on from memory, and the next change writes the whole share")
    func failingDatabase() async throws {
        let failing = FlakyStore()
        let messages = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(messages: messages) }
        let journal = TrackerJournal(durable: failing, logger: logger)
        let writer = Task { await journal.run() }
        failing.failing.withLockedValue { $0 = true }
        let peer = journal.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0)
        journal.replaceShare(of: peer, with: [entry("a"), entry("b")])
        await journal.flush()
        #expect(journal.holderRows(for: [fileName("a")]).count == 1)
        #expect(messages.withLockedValue { $0 }.contains { $0.contains("could not write the index to the database") })
        failing.failing.withLockedValue { $0 = false }
        _ = journal.addFile(entry("c"), to: peer)
        await journal.flush()
        #expect(failing.shares.withLockedValue { $0 }.values.map { $0.map(\.name.rawValue).sorted() } == [["a", "b", "c"]])
        journal.stop()
        await writer.value
    }
}

/// A durable store that fails while `failing`, and otherwise keeps only the last share of each peer.
final class FlakyStore: TrackerStore {
    let failing = NIOLockedValueBox(false)
    let shares = NIOLockedValueBox<[PeerID: [SharedFileEntry]]>([:])
    private let next = NIOLockedValueBox<Int64>(1)

    private func check() throws { if failing.withLockedValue({ $0 }) { throw StoreDown() } }

    func markAllPeersOffline() throws { try check() }
    func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) throws -> PeerID {
        try check()
        return PeerID(rawValue: next.withLockedValue { value in
            defer { value += 1 }
            return value
        })
    }
    func unregisterPeer(_ peer: PeerID) throws { try check() }
    func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) throws {
        try check()
        shares.withLockedValue { $0[peer] = files }
    }
    func addFile(_ file: SharedFileEntry, to peer: PeerID) throws -> Bool {
        try check()
        shares.withLockedValue { $0[peer, default: []].append(file) }
        return true
    }
    func removeFile(named name: SharedFileName, from peer: PeerID) throws -> Bool { try check(); return true }
    func holderRows(for names: [SharedFileName]) throws -> [HolderRow] { [] }
    func list(matching pattern: ListPattern, limit: Int) throws -> [ListEntry] { [] }
}

@Suite("TrackerConversation.handleDirectly: what the event loop takes of an UPDATE")
struct ConversationDirectTests {
    /// Replies from `handle` alone, and from `handleDirectly` first (then `handle` when it says so).
    static func replies(_ lines: [String], direct: Bool) async -> (replies: [[String]], rows: [String]) {
        let store = MemoryTrackerIndex()
        var conversation = TrackerConversation(store, host: "10.0.0.1")
        var replies: [[String]] = []
        for line in lines {
            if direct, case .handled(let response) = conversation.handleDirectly(.line(line)) {
                if let response { replies.append(response.lines.map(\.line)) }
                continue
            }
            if let response = await conversation.handle(.line(line)) { replies.append(response.lines.map(\.line)) }
        }
        let rows = store.holderRows(for: ["a", "b", "c", "d"].map(fileName)).map { "\($0.name.rawValue) \($0.size)" }
        return (replies, rows)
    }

    @Test("the same replies and the same index as handle alone, for seeded scripts of good and bad lines", arguments: [1, 2, 3, 4, 5])
    func sameAsHandle(seed: UInt64) async {
        var random = SeededGenerator(seed: seed)
        let pieces = [
            "UPDATE 3", "UPDATE 2", "UPDATE 0", "FILE 1 \(hexA) a", "FILE 2 \(hexB) b", "FILE 3 \(hexA) a",
            "FILE x y z", "FILE 1 \(hexA) ../c", "file 4 \(hexC) d", "SEND a", "PING", "ADD 5 \(hexA) c", "REMOVE a",
            "NOPE", "FILE",
        ]
        let script = ["HELLO 5555 0"] + (0..<60).map { _ in pieces.randomElement(using: &random)! }
        let plain = await Self.replies(script, direct: false)
        let direct = await Self.replies(script, direct: true)
        #expect(plain.replies == direct.replies)
        #expect(plain.rows == direct.rows)
    }

    @Test("reports rank holders: a failing one sinks to the end until it serves again, the faster rise")
    func reportsRankHolders() {
        let index = MemoryTrackerIndex()
        let file = SharedFileEntry(name: fileName("f"), size: 1, digest: digestA)
        for host in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            index.replaceShare(of: index.registerPeer(host: host, tcpPort: 5555, udpPort: 0), with: [file])
        }
        func order() -> [String] {
            _ = MemoryTrackerIndexTests.cached(index, ["f"])  // a cached reply must not outlive a change of rank
            return index.holderRows(for: [fileName("f")]).map(\.holder.host)
        }
        func report(_ host: String, _ verdict: HolderReport.Verdict, from reporter: String) {
            #expect(index.report(HolderReport(host: host, tcpPort: 5555, verdict: verdict), from: reporter))
        }
        #expect(order() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "connection order with no reports")

        report("10.0.0.1", .failed, from: "192.168.0.1")
        #expect(order() == ["10.0.0.2", "10.0.0.3", "10.0.0.1"])
        #expect(MemoryTrackerIndexTests.cached(index, ["f"]) == MemoryTrackerIndexTests.expected(index, ["f"]))

        // 4 MiB/s beats the unknown holder's assumed 1 MiB/s.
        report("10.0.0.3", .served(bytes: 4 << 20, milliseconds: 1000), from: "192.168.0.1")
        #expect(order() == ["10.0.0.3", "10.0.0.2", "10.0.0.1"])
        #expect(MemoryTrackerIndexTests.cached(index, ["f"]) == MemoryTrackerIndexTests.expected(index, ["f"]))

        // One reporter served, two failed: still failing. The failed reporter's own OK tips it back.
        report("10.0.0.1", .served(bytes: 1 << 20, milliseconds: 1000), from: "192.168.0.2")
        report("10.0.0.1", .failed, from: "192.168.0.3")
        #expect(order().last == "10.0.0.1")
        report("10.0.0.1", .served(bytes: 1 << 20, milliseconds: 1000), from: "192.168.0.1")
        #expect(order() == ["10.0.0.3", "10.0.0.1", "10.0.0.2"], "served again; same speed class as the unknown, older")
        #expect(MemoryTrackerIndexTests.cached(index, ["f"]) == MemoryTrackerIndexTests.expected(index, ["f"]))

        // A holder cannot rank itself; an endpoint nobody holds is unknown; a new session starts afresh.
        #expect(index.report(HolderReport(host: "10.0.0.2", tcpPort: 5555, verdict: .served(bytes: 1 << 40, milliseconds: 1)),
                             from: "10.0.0.2"))
        #expect(index.health(ofHolderAt: "10.0.0.2", tcpPort: 5555) == HolderHealth())
        #expect(!index.report(HolderReport(host: "10.0.0.9", tcpPort: 5555, verdict: .failed), from: "192.168.0.1"))
        report("10.0.0.1", .failed, from: "192.168.0.4")
        report("10.0.0.1", .failed, from: "192.168.0.5")
        #expect(order().last == "10.0.0.1")
        index.replaceShare(of: index.registerPeer(host: "10.0.0.1", tcpPort: 5555, udpPort: 0), with: [file])
        #expect(index.health(ofHolderAt: "10.0.0.1", tcpPort: 5555) == HolderHealth())
        #expect(order() == ["10.0.0.3", "10.0.0.2", "10.0.0.1"], "the new session is the newest connection")
    }
}

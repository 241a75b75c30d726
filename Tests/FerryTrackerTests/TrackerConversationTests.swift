import FerryTracker
import FerryWire
import Testing

@Suite("TrackerConversation: one control connection, frame by frame")
struct TrackerConversationTests {
    static func sqlite() throws -> SQLiteTrackerStore { try SQLiteTrackerStore(path: ":memory:") }

    // MARK: registration and simple commands

    @Test("HELLO registers the connection and reports the observed address")
    func hello() async throws {
        var conversation = TrackerConversation(try Self.sqlite(), host: "192.0.2.7")
        #expect(!conversation.isRegistered)
        #expect(conversation.peer == nil)
        #expect(await conversation.say("HELLO 5555 5556") == ["200 HELLO 192.0.2.7 9 ROOTS PARTIAL"])
        #expect(conversation.isRegistered)
        #expect(conversation.peer != nil)
        #expect(conversation.observedHost == "192.0.2.7")
    }

    @Test("a second HELLO on one connection is refused")
    func helloTwice() async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        _ = await conversation.say("HELLO 5555")
        let peer = conversation.peer
        #expect(await conversation.say("HELLO 6000") == ["409 this connection already said HELLO"])
        #expect(conversation.peer == peer)
    }

    static let needHello = ["UPDATE 1", "ADD 1 \(hexA) a", "REMOVE a"]

    @Test("changing the share needs HELLO first", arguments: needHello)
    func needsHello(_ line: String) async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        #expect(await conversation.say(line) == ["405 say HELLO <tcp-port> <udp-port> first"])
        #expect(!conversation.isRegistered)
    }

    @Test("looking up, listing and PING work without HELLO")
    func anonymous() async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        #expect(await conversation.say("PING") == ["200 PONG"])
        #expect(await conversation.say("SEND a") == ["404-NOTFOUND \"a\"", "200 SEND 1"])
        #expect(await conversation.say("LIST") == ["200 LIST 0"])
    }

    @Test("HELP lists the commands")
    func help() async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        let lines = try #require(await conversation.say("help"))
        #expect(lines.count == 11)
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("214-") })
        #expect(lines.last == "200 HELP")
        for verb in ["HELLO", "UPDATE", "FILE", "ADD", "REMOVE", "SEND", "LIST", "REPORT", "PING", "QUIT"] {
            #expect(lines.contains { $0.hasPrefix("214-\(verb) ") }, "\(verb)")
        }
    }

    @Test("QUIT and BYE say BYE and close; nothing else closes", arguments: ["QUIT", "bye", "quit now"])
    func quit(_ line: String) async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        let response = await conversation.handle(.line(line))
        #expect(response?.lines.map(\.line) == ["200 BYE"])
        #expect(response?.close == true)
        #expect(await conversation.handle(.line("PING"))?.close == false)
        #expect(await conversation.handle(.line("NOPE"))?.close == false)
    }

    static let frameErrors: [(LineFrame, String)] = [
        (.invalid(.tooLong(limit: 4096)), "402 line longer than 4096 bytes"),
        (.invalid(.containsNUL), "400 line contains NUL"),
        (.invalid(.notUTF8), "400 line is not valid UTF-8"),
        (.line(""), "400 empty line; try HELP"),
        (.line("NOPE"), "401 unknown command \"NOPE\"; try HELP"),
        (.line("SEND " + Array(repeating: "x", count: 257).joined(separator: ",")), "413 at most 256 names per SEND"),
        (.line("HELLO 0"), "400 HELLO: tcp port must be from 1 to 65535"),
    ]

    @Test("bad frames and lines get one error line and the connection goes on", arguments: frameErrors)
    func badFrames(_ frame: LineFrame, _ reply: String) async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        let response = await conversation.handle(frame)
        #expect(response?.lines.map(\.line) == [reply])
        #expect(response?.close == false)
        #expect(await conversation.say("PING") == ["200 PONG"])
    }

    // MARK: UPDATE

    @Test("UPDATE replaces the share; FILE lines get no reply until the last")
    func update() async throws {
        let store = try Self.sqlite()
        var conversation = TrackerConversation(store)
        _ = await conversation.say("HELLO 5555")
        #expect(await conversation.say("UPDATE 2") == nil)
        #expect(await conversation.say("FILE 1 \(hexA) \"a, b\"") == nil)
        #expect(await conversation.say("file 2 \(hexB) c") == ["200 UPDATED 2 0"])
        let rows = try await store.holderRows(for: [fileName("a, b"), fileName("c")])
        #expect(rows.map(\.name.rawValue).sorted() == ["a, b", "c"])
        #expect(await conversation.say("UPDATE 1") == nil)
        #expect(await conversation.say("FILE 3 \(hexC) d") == ["200 UPDATED 1 0"])
        #expect(try await store.holderRows(for: [fileName("a, b"), fileName("c"), fileName("d")]).map(\.name.rawValue) == ["d"])
    }

    @Test("UPDATE 0 empties the share at once")
    func updateZero() async throws {
        let store = try Self.sqlite()
        var conversation = TrackerConversation(store)
        await conversation.share([entry("a")])
        #expect(await conversation.say("UPDATE 0") == ["200 UPDATED 0 0"])
        #expect(try await store.holderRows(for: [fileName("a")]).isEmpty)
    }

    @Test("bad FILE lines are refused in place and the rest of the UPDATE goes on")
    func updateWithBadLines() async throws {
        let store = try Self.sqlite()
        var conversation = TrackerConversation(store)
        _ = await conversation.say("HELLO 5555")
        #expect(await conversation.say("UPDATE 4") == nil)
        #expect(await conversation.say("FILE 1 \(hexA) good") == nil)
        #expect(await conversation.say("FILE 1 \(hexA) bad/name") == nil)
        #expect(await conversation.say("FILE 1 nothex x") == nil)
        #expect(await conversation.say("FILE 1 \(hexA) good") == [
            "403-bad name \"bad/name\": name contains '/' or '\\'",
            "400-FILE: sha256 must be 64 hexadecimal digits",
            "400-duplicate name \"good\" in this UPDATE; the last FILE line for it counts",
            "200 UPDATED 1 3",
        ])
        #expect(try await store.holderRows(for: [fileName("good")]).count == 1)
    }

    static let interruptions: [(LineFrame, String)] = [
        (.line("PING"), "406 UPDATE aborted: 2 more FILE lines were expected; nothing changed"),
        (.line("ADD 1 \(hexA) x"), "406 UPDATE aborted: 2 more FILE lines were expected; nothing changed"),
        (.line("UPDATE 5"), "406 UPDATE aborted: 2 more FILE lines were expected; nothing changed"),
        (.line("NOPE"), "401 unknown command \"NOPE\"; try HELP"),
        (.invalid(.tooLong(limit: 4096)), "402 line longer than 4096 bytes"),
        (.invalid(.notUTF8), "400 line is not valid UTF-8"),
    ]

    @Test("any other line aborts an UPDATE: one reply, nothing changes, the update's remaining FILE lines are dropped",
          arguments: interruptions)
    func updateAborted(_ frame: LineFrame, _ reply: String) async throws {
        let store = try Self.sqlite()
        var conversation = TrackerConversation(store)
        await conversation.share([entry("before")])
        #expect(await conversation.say("UPDATE 3") == nil)
        #expect(await conversation.say("FILE 1 \(hexA) after") == nil)
        #expect(await conversation.handle(frame)?.lines.map(\.line) == [reply])
        #expect(await conversation.say("FILE 1 \(hexA) second") == nil)
        #expect(await conversation.say("file 1 \(hexA) third") == nil)
        #expect(await conversation.say("FILE 1 \(hexA) one too many") == ["406 FILE comes only after UPDATE <count>"])
        #expect(try await store.holderRows(for: [fileName("before")]).count == 1)
        #expect(try await store.holderRows(for: ["after", "second", "third"].map(fileName)).isEmpty)
    }

    @Test("after an aborted UPDATE, the next other request ends the dropping of FILE lines")
    func updateAbortedThenOtherRequest() async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        _ = await conversation.say("HELLO 5555")
        _ = await conversation.say("UPDATE 5")
        #expect(await conversation.say("PING") == ["406 UPDATE aborted: 5 more FILE lines were expected; nothing changed"])
        #expect(await conversation.say("PING") == ["200 PONG"])
        #expect(await conversation.say("FILE 1 \(hexA) x") == ["406 FILE comes only after UPDATE <count>"])
    }

    @Test("FILE outside an UPDATE is out of sequence")
    func fileOutsideUpdate() async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        _ = await conversation.say("HELLO 5555")
        #expect(await conversation.say("FILE 1 \(hexA) a") == ["406 FILE comes only after UPDATE <count>"])
    }

    @Test("a duplicate name in an UPDATE counts once, the last one wins, and the earlier is reported")
    func updateDuplicates() async throws {
        let store = try Self.sqlite()
        var conversation = TrackerConversation(store)
        _ = await conversation.say("HELLO 5555")
        _ = await conversation.say("UPDATE 2")
        _ = await conversation.say("FILE 1 \(hexA) same")
        #expect(await conversation.say("FILE 2 \(hexB) same") == [
            "400-duplicate name \"same\" in this UPDATE; the last FILE line for it counts",
            "200 UPDATED 1 1",
        ])
        #expect(try await store.holderRows(for: [fileName("same")]).map(\.digest) == [digestB])
    }

    @Test("a line counts as a FILE line when it starts with FILE in any case, and is then refused in place")
    func fileLineByPrefix() async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        _ = await conversation.say("HELLO 5555")
        _ = await conversation.say("UPDATE 3")
        #expect(await conversation.say("file 1 nothex a") == nil)
        #expect(await conversation.say("FILEX whatever") == nil)
        #expect(await conversation.say("  FILE 1 \(hexA) indented") == [
            "400-FILE: sha256 must be 64 hexadecimal digits",
            "401-unknown command \"FILEX\"; try HELP",
            "200 UPDATED 1 2",
        ])
    }

    // MARK: ADD and REMOVE

    @Test("ADD and REMOVE change one file")
    func addRemove() async throws {
        let store = try Self.sqlite()
        var conversation = TrackerConversation(store)
        _ = await conversation.say("HELLO 5555")
        #expect(await conversation.say("ADD 1 \(hexA) \"a \\\"b\\\"\"") == ["200 ADDED \"a \\\"b\\\"\""])
        #expect(await conversation.say("ADD 2 \(hexB) \"a \\\"b\\\"\"") == ["200 ADDED \"a \\\"b\\\"\""])
        #expect(try await store.holderRows(for: [fileName("a \"b\"")]).map(\.size) == [2])
        #expect(await conversation.say("REMOVE \"a \\\"b\\\"\"") == ["200 REMOVED \"a \\\"b\\\"\""])
        #expect(await conversation.say("REMOVE \"a \\\"b\\\"\"") == ["404 NOTSHARED \"a \\\"b\\\"\""])
        #expect(try await store.holderRows(for: [fileName("a \"b\"")]).isEmpty)
    }

    @Test("a bad name in ADD or REMOVE is refused")
    func badNames() async throws {
        var conversation = TrackerConversation(try Self.sqlite())
        _ = await conversation.say("HELLO 5555")
        #expect(await conversation.say("ADD 1 \(hexA) ..") == ["403 bad name \"..\": name is '.' or '..'"])
        #expect(await conversation.say("REMOVE a\\b") == ["403 bad name \"a\\\\b\": name contains '/' or '\\'"])
    }

    // MARK: limits (with the in-memory store, for speed)

    static func fullPeer(_ store: MemoryTrackerStore) async -> TrackerConversation {
        var conversation = TrackerConversation(store)
        _ = await conversation.say("HELLO 5555")
        let count = TrackerLimits.maximumFilesPerPeer
        _ = await conversation.say("UPDATE \(count)")
        for index in 0..<count - 1 { _ = await conversation.handle(.line("FILE 1 \(hexA) f\(index)")) }
        #expect(await conversation.say("FILE 1 \(hexA) f\(count - 1)") == ["200 UPDATED \(count) 0"])
        return conversation
    }

    @Test("a peer may share at most the file limit; a REMOVE makes room")
    func fileLimit() async throws {
        var conversation = await Self.fullPeer(MemoryTrackerStore())
        #expect(await conversation.say("ADD 1 \(hexA) one-more") == ["413 at most 100000 files per peer"])
        #expect(await conversation.say("REMOVE f0") == ["200 REMOVED \"f0\""])
        #expect(await conversation.say("ADD 1 \(hexA) one-more") == ["200 ADDED \"one-more\""])
        #expect(await conversation.say("ADD 1 \(hexA) two-more") == ["413 at most 100000 files per peer"])
        let replaced = await conversation.say("ADD 2 \(hexB) f1")
        #expect(replaced == ["200 ADDED \"f1\""], "replacing a shared file at the limit must be allowed")
    }

    @Test("LIST shows at most the entry limit and says there are more")
    func listLimit() async throws {
        let store = MemoryTrackerStore()
        var conversation = TrackerConversation(store)
        await conversation.share((0...TrackerLimits.maximumListEntries).map { entry("n" + String(repeating: "0", count: 5 - String($0).count) + String($0)) })
        let lines = try #require(await conversation.say("LIST"))
        #expect(lines.count == TrackerLimits.maximumListEntries + 1)
        #expect(lines.last == "200 LIST 1000 more")
        let few = try #require(await conversation.say("LIST n0000?"))
        #expect(few.last == "200 LIST 10")
    }

    // MARK: SEND and LIST

    @Test("SEND answers each name with its holders, grouped by content")
    func send() async throws {
        let store = try Self.sqlite()
        var first = TrackerConversation(store, host: "10.0.0.1")
        var second = TrackerConversation(store, host: "::1")
        var third = TrackerConversation(store, host: "10.0.0.3")
        await first.share([entry("f", 1, digestA)], tcpPort: 5555, udpPort: 5556)
        await second.share([entry("f", 2, digestB), entry("g")], tcpPort: 6000)
        await third.share([entry("f", 2, digestB)], tcpPort: 7000)
        var asker = TrackerConversation(store, host: "10.9.9.9")
        let lines = try #require(await asker.say("SEND f, nope, ../x, g, f"))
        #expect(lines == [
            "210-FILE \"f\" 2 \(hexB) 2",
            "211-PEER ::1 6000 0",
            "211-PEER 10.0.0.3 7000 0",
            "210-FILE \"f\" 1 \(hexA) 1",
            "211-PEER 10.0.0.1 5555 5556",
            "404-NOTFOUND \"nope\"",
            "403-BADNAME \"../x\" name contains '/' or '\\'",
            "210-FILE \"g\" 12 \(hexA) 1",
            "211-PEER ::1 6000 0",
            "200 SEND 4",
        ])
        var assembler = TrackerReplyAssembler()
        var reply: TrackerReply?
        for line in lines { reply = try assembler.push(line) }
        let results = try LookupResult.results(of: try #require(reply))
        #expect(results.map(\.name) == ["f", "nope", "../x", "g"])
    }

    @Test("LIST answers with entries and a count")
    func list() async throws {
        let store = try Self.sqlite()
        var peer = TrackerConversation(store)
        await peer.share([entry("a.txt", 1), entry("b.md", 2, digestB)])
        var asker = TrackerConversation(store)
        #expect(await asker.say("LIST *.txt") == ["212-\"a.txt\" 1 \(hexA) 1", "200 LIST 1"])
        #expect(await asker.say("LIST") == ["212-\"a.txt\" 1 \(hexA) 1", "212-\"b.md\" 2 \(hexB) 1", "200 LIST 2"])
        #expect(await asker.say("LIST zzz") == ["200 LIST 0"])
    }

    @Test("finish() takes the peer's files out of lookups")
    func finish() async throws {
        let store = try Self.sqlite()
        var peer = TrackerConversation(store)
        await peer.share([entry("a")])
        var asker = TrackerConversation(store)
        #expect(await asker.say("SEND a")?.first?.hasPrefix("210-") == true)
        await peer.finish()
        #expect(await asker.say("SEND a") == ["404-NOTFOUND \"a\"", "200 SEND 1"])
        await asker.finish()                       // never registered: nothing to do
    }

    // MARK: storage failures

    @Test("a failing store gets a 500 reply, and the connection goes on", arguments: [
        "ADD 1 \(hexA) a", "REMOVE a", "SEND a", "LIST",
    ])
    func storageFailure(_ line: String) async throws {
        var conversation = TrackerConversation(FailingTrackerStore())
        _ = await conversation.say("HELLO 5555")
        #expect(await conversation.say(line) == ["500 internal error; try again"])
        #expect(await conversation.say("PING") == ["200 PONG"])
    }

    @Test("a failing store aborts an UPDATE")
    func storageFailureInUpdate() async throws {
        var conversation = TrackerConversation(FailingTrackerStore())
        _ = await conversation.say("HELLO 5555")
        #expect(await conversation.say("UPDATE 1") == nil)
        #expect(await conversation.say("FILE 1 \(hexA) a") == ["500 internal error; try again"])
        #expect(await conversation.say("FILE 1 \(hexA) a") == ["406 FILE comes only after UPDATE <count>"])
        #expect(await conversation.say("UPDATE 0") == ["500 internal error; try again"])
    }

    @Test("a failing store at HELLO leaves the connection unregistered")
    func storageFailureAtHello() async throws {
        var conversation = TrackerConversation(FailingTrackerStore(failRegistration: true))
        #expect(await conversation.say("HELLO 5555") == ["500 internal error; try again"])
        #expect(!conversation.isRegistered)
        await conversation.finish()
    }

    // MARK: a whole session as bytes, however it is cut

    static let sessionLines = [
        "HELLO 5555 5556", "UPDATE 2", "FILE 1 \(hexA) \"a, b\"", "FILE 2 \(hexB) c", "PING",
        String(repeating: "Z", count: 120), "ADD 3 \(hexC) d", "SEND \"a, b\", zz, c", "NOPE", "LIST", "REMOVE d", "QUIT",
    ]

    static func replies(to input: [UInt8], cutAt cuts: [Int]) async throws -> [String] {
        var conversation = TrackerConversation(MemoryTrackerStore())
        var replies: [String] = []
        for frame in try FrameCollector.frames(of: input, cutAt: cuts, limit: 100) {
            if let response = await conversation.handle(frame) { replies += response.lines.map(\.line) }
        }
        return replies
    }

    @Test("a session fed whole, cut at every index, or byte by byte gets the same replies")
    func sessionCutEverywhere() async throws {
        let input = Array((Self.sessionLines.joined(separator: "\r\n") + "\r\n").utf8)
        let whole = try await Self.replies(to: input, cutAt: [])
        #expect(whole == [
            "200 HELLO 10.0.0.1 9 ROOTS PARTIAL", "200 UPDATED 2 0", "200 PONG", "402 line longer than 100 bytes", "200 ADDED \"d\"",
            "210-FILE \"a, b\" 1 \(hexA) 1", "211-PEER 10.0.0.1 5555 5556", "404-NOTFOUND \"zz\"",
            "210-FILE \"c\" 2 \(hexB) 1", "211-PEER 10.0.0.1 5555 5556", "200 SEND 3",
            "401 unknown command \"NOPE\"; try HELP",
            "212-\"a, b\" 1 \(hexA) 1", "212-\"c\" 2 \(hexB) 1", "212-\"d\" 3 \(hexC) 1", "200 LIST 3",
            "200 REMOVED \"d\"", "200 BYE",
        ])
        for cut in 0...input.count {
            #expect(try await Self.replies(to: input, cutAt: [cut]) == whole, "cut at \(cut)")
        }
        #expect(try await Self.replies(to: input, cutAt: Array(input.indices.dropFirst())) == whole)
    }
}

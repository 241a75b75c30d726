import FerryWire
import Testing

@Suite("TrackerReplyAssembler: gathering reply lines on the client")
struct TrackerReplyAssemblerTests {
    @Test("continuation lines gather until the final line")
    func gathers() throws {
        var assembler = TrackerReplyAssembler()
        #expect(try assembler.push("214-one") == nil)
        #expect(try assembler.push("214-two") == nil)
        let reply = try #require(try assembler.push("200 HELP"))
        #expect(reply.lines.map(\.text) == ["one", "two"])
        #expect(reply.final == TrackerReplyLine(status: .ok, isFinal: true, text: "HELP"))
    }

    @Test("each reply starts fresh")
    func startsFresh() throws {
        var assembler = TrackerReplyAssembler()
        _ = try assembler.push("212-\"a\" 1 \(String(repeating: "0", count: 64)) 1")
        _ = try assembler.push("200 LIST 1")
        let second = try #require(try assembler.push("200 PONG"))
        #expect(second.lines.isEmpty)
        #expect(second.final.text == "PONG")
    }

    @Test("an error reply is still a reply; checked() turns it into an error")
    func errorReply() throws {
        var assembler = TrackerReplyAssembler()
        let reply = try #require(try assembler.push("405 say HELLO first"))
        #expect(throws: TrackerProtocolError(.notRegistered, "say HELLO first")) { try reply.checked() }
    }

    static let garbage: [String] = ["", "hello", "20 x", "200", "OK 200", "\u{1B}[2J200 x"]

    @Test("a line without a status code is a protocol error", arguments: garbage)
    func refusesGarbage(_ line: String) {
        var assembler = TrackerReplyAssembler()
        let error = #expect(throws: TrackerProtocolError.self) { try assembler.push(line) }
        #expect(error?.status == .malformed)
        #expect(error?.message.hasPrefix("tracker sent a line without a status code: \"") == true)
        #expect(error?.message.unicodeScalars.contains { $0.value < 0x20 } == false)
    }

    @Test("the quoted garbage in the error is cut to 80 characters")
    func garbageIsCut() {
        var assembler = TrackerReplyAssembler()
        let error = #expect(throws: TrackerProtocolError.self) { try assembler.push(String(repeating: "g", count: 5000)) }
        #expect(error?.message == "tracker sent a line without a status code: \"\(String(repeating: "g", count: 80))\"")
    }

    @Test("a reply longer than the limit is refused, not buffered forever")
    func tooManyLines() throws {
        var assembler = TrackerReplyAssembler()
        for _ in 0..<TrackerLimits.maximumReplyLines {
            #expect(try assembler.push("212-x") == nil)
        }
        #expect(throws: TrackerProtocolError(.tooMany, "tracker reply longer than 200000 lines")) {
            try assembler.push("212-x")
        }
    }

    @Test("the final line may come after exactly the limit")
    func exactlyAtLimit() throws {
        var assembler = TrackerReplyAssembler()
        for _ in 0..<TrackerLimits.maximumReplyLines { _ = try assembler.push("211-x") }
        let reply = try #require(try assembler.push("200 done"))
        #expect(reply.lines.count == TrackerLimits.maximumReplyLines)
    }

    @Test("replies survive being cut anywhere in the byte stream")
    func throughFraming() throws {
        let lines = ["214-one", "214-two, \"three\"", "200 HELP", "200 PONG", "404-NOTFOUND \"x\"", "200 SEND 1"]
        let input = utf8(lines.joined(separator: "\r\n") + "\r\n")
        for cut in 0...input.count {
            var assembler = TrackerReplyAssembler()
            var replies: [TrackerReply] = []
            for frame in try FrameCollector.frames(of: input, cutAt: [cut], limit: TrackerLimits.maximumLineLength).beforeEOF {
                guard case .line(let line) = frame else {
                    Issue.record("unexpected \(frame)")
                    continue
                }
                if let reply = try assembler.push(line) { replies.append(reply) }
            }
            #expect(replies.map(\.final.text) == ["HELP", "PONG", "SEND 1"], "cut at \(cut)")
            #expect(replies.map(\.lines.count) == [2, 0, 1], "cut at \(cut)")
        }
    }
}

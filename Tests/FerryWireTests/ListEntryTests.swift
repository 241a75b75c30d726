import FerryTestSupport
import FerryWire
import Testing

@Suite("ListEntry: LIST replies")
struct ListEntryTests {
    static let hex = String(repeating: "c", count: 64)

    @Test("an entry encodes as a 212 line")
    func encodes() {
        let entry = ListEntry(name: "a \"b\", c", size: 42, digest: ContentDigest(hex: Self.hex)!, holderCount: 3)
        #expect(entry.replyLine.line == "212-\"a \\\"b\\\", c\" 42 \(Self.hex) 3")
        #expect(!entry.replyLine.isFinal)
    }

    @Test("entries round-trip through their lines for seeded random names", arguments: [91, 92] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<100 {
            let entries = (0..<Int.random(in: 0...8, using: &generator)).map { _ in
                ListEntry(name: randomValidName(using: &generator).rawValue,
                          size: UInt64.random(in: 0...UInt64(Int64.max), using: &generator),
                          digest: randomDigest(using: &generator), holderCount: Int.random(in: 1...10_000, using: &generator))
            }
            var assembler = TrackerReplyAssembler()
            var reply: TrackerReply?
            for line in entries.map(\.replyLine.line) + ["200 LIST \(entries.count)"] {
                reply = try assembler.push(line)
            }
            #expect(try ListEntry.entries(of: try #require(reply)) == entries)
        }
    }

    static let hostile: [String] = [
        "210-FILE \"a\" 1 \(hex) 1",
        "212-a 1 \(hex) 1",
        "212-\"a\" x \(hex) 1",
        "212-\"a\" 1 \(hex.dropFirst()) 1",
        "212-\"a\" 1 \(hex)",
        "212-\"a\" 1 \(hex) -1",
        "212-",
    ]

    @Test("bad LIST lines throw", arguments: hostile)
    func hostileLines(_ line: String) throws {
        let reply = TrackerReply(lines: [try #require(TrackerReplyLine(parsing: line))],
                                 final: TrackerReplyLine(status: .ok, isFinal: true, text: "LIST 1"))
        let error = #expect(throws: TrackerProtocolError.self) { try ListEntry.entries(of: reply) }
        #expect(error?.status == .malformed)
        #expect(error?.message.hasPrefix("tracker LIST line \"") == true)
    }

    @Test("a huge holder count is clamped, not a crash")
    func hugeCount() throws {
        let reply = TrackerReply(lines: [TrackerReplyLine(parsing: "212-\"a\" 1 \(Self.hex) 9223372036854775807")!],
                                 final: TrackerReplyLine(status: .ok, isFinal: true, text: "LIST 1"))
        #expect(try ListEntry.entries(of: reply).first?.holderCount == Int.max)
    }

    @Test("a refused LIST throws its status")
    func refused() {
        let reply = TrackerReply(lines: [], final: TrackerReplyLine(status: .internalError, isFinal: true, text: "internal error"))
        #expect(throws: TrackerProtocolError(.internalError, "internal error")) { try ListEntry.entries(of: reply) }
    }
}

import FerryTestSupport
import FerryWire
import Testing

@Suite("TrackerReplyLine: <code><sep><text>")
struct TrackerReplyLineTests {
    static let parsed: [(String, UInt16, Bool, String)] = [
        ("200 OK", 200, true, "OK"),
        ("210-FILE \"a\" 1 x 1", 210, false, "FILE \"a\" 1 x 1"),
        ("200 ", 200, true, ""),
        ("404-", 404, false, ""),
        ("999 anything", 999, true, "anything"),
        ("200  two spaces", 200, true, " two spaces"),
        ("214-日本 🚀", 214, false, "日本 🚀"),
        ("500 a\tb", 500, true, "a\tb"),
    ]

    @Test("lines with three digits and a separator parse", arguments: parsed)
    func parses(_ line: String, _ code: UInt16, _ isFinal: Bool, _ text: String) throws {
        let reply = try #require(TrackerReplyLine(parsing: line))
        #expect(reply.status == TrackerStatus(code: code))
        #expect(reply.isFinal == isFinal)
        #expect(reply.text == text)
        #expect(reply.line == line)
        #expect(reply.description == line)
    }

    @Test("a code below 100 parses, with its value")
    func smallCode() throws {
        let reply = try #require(TrackerReplyLine(parsing: "042-x"))
        #expect(reply.status.code == 42)
        #expect(!reply.isFinal)
    }

    static let unparsable: [String] = [
        "", "2", "20", "200", "20 x", "2000 x", "200x", "200_x", "2a0 x", "a00 x", " 200 x", "-200 x",
        "２００ x", "200\tx", "\u{0}00 x",
    ]

    @Test("anything else is not a reply line", arguments: unparsable)
    func refuses(_ line: String) {
        #expect(TrackerReplyLine(parsing: line) == nil)
    }

    @Test("lines encode with a space on the final line and a dash before more")
    func encodes() {
        #expect(TrackerReplyLine(status: .ok, isFinal: true, text: "PONG").line == "200 PONG")
        #expect(TrackerReplyLine(status: .peer, isFinal: false, text: "PEER ::1 1 2").line == "211-PEER ::1 1 2")
        #expect(TrackerReplyLine(status: TrackerStatus(code: 7), isFinal: true, text: "x").line == "7 x")
    }

    @Test("encode then parse round-trips every three-digit code")
    func roundTripCodes() throws {
        for code in UInt16(100)...999 {
            for isFinal in [true, false] {
                let line = TrackerReplyLine(status: TrackerStatus(code: code), isFinal: isFinal, text: "t \(code)")
                #expect(TrackerReplyLine(parsing: line.line) == line)
            }
        }
    }

    static let printable: [(String, String)] = [
        ("plain", "plain"),
        ("", ""),
        ("a\u{0}b", "a\u{FFFD}b"),
        ("tab\t", "tab\u{FFFD}"),
        ("\n\r", "\u{FFFD}\u{FFFD}"),
        ("\u{1B}[31m", "\u{FFFD}[31m"),
        ("\u{7F}\u{80}\u{85}\u{9F}", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        ("\u{A0}é日🚀\u{2028}", "\u{A0}é日🚀\u{2028}"),
        ("e\u{301}", "e\u{301}"),
    ]

    @Test("printable() replaces control characters with U+FFFD and keeps the rest", arguments: printable)
    func printableText(_ text: String, _ expected: String) {
        #expect(TrackerReplyLine.printable(text).scalarValues == expected.scalarValues)
    }

    @Test("printable() leaves no control character in seeded random text")
    func printableRandom() {
        var generator = SeededGenerator(seed: 61)
        for _ in 0..<500 {
            let text = String(decoding: generator.bytes(Int.random(in: 0...40, using: &generator)), as: UTF8.self)
            let clean = TrackerReplyLine.printable(text)
            #expect(clean.unicodeScalars.count == text.unicodeScalars.count)
            #expect(!clean.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        }
    }
}

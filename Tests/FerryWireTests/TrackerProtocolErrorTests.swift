import FerryWire
import Testing

@Suite("TrackerProtocolError: the refusal and its reply line")
struct TrackerProtocolErrorTests {
    @Test("the reply line is a final line with the status and message")
    func replyLine() {
        let error = TrackerProtocolError(.notRegistered, "say HELLO first")
        #expect(error.replyLine == TrackerReplyLine(status: .notRegistered, isFinal: true, text: "say HELLO first"))
        #expect(error.replyLine.line == "405 say HELLO first")
        #expect(error.description == "405 say HELLO first")
    }

    @Test("malformed() and badName() build the usual errors")
    func helpers() {
        #expect(TrackerProtocolError.malformed("x") == TrackerProtocolError(.malformed, "x"))
        #expect(TrackerProtocolError.badName("a/b", .separator)
                == TrackerProtocolError(.badName, "bad name \"a/b\": name contains '/' or '\\'"))
    }

    @Test("badName() quotes the name safely for a terminal")
    func badNameIsPrintable() {
        let error = TrackerProtocolError.badName("x\u{1B}[2J\"\n", .controlCharacter)
        #expect(error.message == "bad name \"x\u{FFFD}[2J\\\"\u{FFFD}\": name contains a control character")
        #expect(!error.replyLine.line.unicodeScalars.contains { $0.value < 0x20 })
    }
}

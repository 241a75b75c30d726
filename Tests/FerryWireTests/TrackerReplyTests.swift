import FerryWire
import Testing

@Suite("TrackerReply: continuation lines and a final line")
struct TrackerReplyTests {
    @Test("checked() passes a successful reply through")
    func checkedSuccess() throws {
        let reply = TrackerReply(lines: [TrackerReplyLine(status: .help, isFinal: false, text: "x")],
                                 final: TrackerReplyLine(status: .ok, isFinal: true, text: "HELP"))
        #expect(try reply.checked() == reply)
        let edge = TrackerReply(lines: [], final: TrackerReplyLine(status: TrackerStatus(code: 299), isFinal: true, text: "odd"))
        #expect(try edge.checked() == edge)
    }

    @Test("checked() throws the final line of a refusal", arguments: [300, 400, 404, 421, 500] as [UInt16])
    func checkedFailure(_ code: UInt16) {
        let reply = TrackerReply(lines: [], final: TrackerReplyLine(status: TrackerStatus(code: code), isFinal: true, text: "no"))
        #expect(throws: TrackerProtocolError(TrackerStatus(code: code), "no")) { try reply.checked() }
    }
}

@testable import FerryPeer
import Foundation
import Testing

@Suite("PeerError: a stable code and a sentence")
struct PeerErrorTests {
    @Test("errors compare by code only, and describe themselves by their message")
    func equality() {
        #expect(PeerError(.io, "a") == PeerError(.io, "b"))
        #expect(PeerError(.io, "a") != PeerError(.badShare, "a"))
        #expect(PeerError(.badConfiguration, "the port must be a number").description == "the port must be a number")
    }

    @Test("codes have stable names")
    func codeNames() {
        #expect([PeerError.Code.io, .trackerUnavailable, .trackerProtocol, .badShare, .badConfiguration].map(\.description)
                == ["io", "tracker_unavailable", "tracker_protocol", "bad_share", "bad_configuration"])
    }

    @Test("an I/O error names the operation and the system's reason")
    func ioError() {
        #expect(PeerError.io("cannot open /x", errno: ENOENT).message == "cannot open /x: No such file or directory")
        #expect(PeerError.io("cannot open /x", errno: ENOENT).code == .io)
    }
}

@testable import FerryPeer
import FerryWire
import Foundation
import Testing

@Suite("TransferError and Transport: stable codes")
struct TransferErrorTests {
    @Test("every code has its documented text")
    func codes() {
        #expect(TransferError.allCases.map(\.rawValue) == [
            "connect_failed", "stalled", "closed_early", "not_found", "bad_name", "bad_range", "busy", "changed",
            "peer_error", "protocol_error", "wrong_content", "hash_mismatch", "io_error",
            "disk_full", "too_slow",
        ])
        #expect(TransferError.allCases.filter(\.isLocal) == [.ioError, .diskFull])
        #expect(Transport.allCases.map(\.rawValue) == ["tcp", "udp"])
    }

    @Test("file-server refusals map to transfer errors", arguments: [
        (FileStatus.notFound, TransferError.notFound), (.badName, .badName), (.badRange, .badRange), (.busy, .busy),
        (.changed, .changed), (.malformed, .peerError), (.lineTooLong, .peerError), (.timeout, .peerError),
        (.internalError, .peerError), (FileStatus(code: 999), .peerError),
    ])
    func refusals(_ status: FileStatus, _ error: TransferError) {
        #expect(TransferError(refusal: status) == error)
    }

    @Test("a preferred transport comes first, the other follows as a fallback")
    func preferring() {
        #expect(Transport.preferring(.tcp) == [.tcp, .udp])
        #expect(Transport.preferring(.udp) == [.udp, .tcp])
    }

    @Test("codes encode as their text")
    func codable() throws {
        let data = try JSONEncoder().encode([TransferError.hashMismatch, .ioError])
        #expect(String(decoding: data, as: UTF8.self) == #"["hash_mismatch","io_error"]"#)
        #expect(try JSONDecoder().decode([Transport].self, from: Data(#"["udp"]"#.utf8)) == [.udp])
    }
}

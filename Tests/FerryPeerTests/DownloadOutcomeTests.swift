@testable import FerryPeer
import FerryWire
import Testing

@Suite("DownloadOutcome: one JSON line per name for ferry get --json")
struct DownloadOutcomeTests {
    typealias Record = DownloadOutcome.AttemptRecord

    static let readmeExample = DownloadOutcome(
        name: "file1.txt", status: .ok, bytes: 18,
        sha256: "d06852060d5e970405dd30ba8ee070fa12f30f01a9b9b8a9db44afa067cd32ae",
        peer: "127.0.0.2:5555", transport: .tcp, seconds: 0.0061, path: "./downloads/file1.txt", message: nil,
        attempts: [Record(peer: "127.0.0.2:5555", transport: .tcp, bytes: 18, error: nil, message: nil)])

    @Test("the README's example line, byte for byte")
    func readmeExampleLine() {
        #expect(Self.readmeExample.jsonLine == """
            {"name":"file1.txt","status":"ok","bytes":18,"sha256":"d06852060d5e970405dd30ba8ee070fa12f30f01a9b9b8a9db44afa067cd32ae","peer":"127.0.0.2:5555","transport":"tcp","seconds":0.006,"path":"./downloads/file1.txt","message":null,"attempts":[{"peer":"127.0.0.2:5555","transport":"tcp","bytes":18,"error":null,"message":null}],"sources":[{"peer":"127.0.0.2:5555","transport":"tcp","bytes":18,"chunks":0,"bad_chunks":0}]}
            """)
        #expect(Self.readmeExample.succeeded)
    }

    @Test("a failed download: nulls, several attempts with error codes and messages")
    func failedLine() {
        let outcome = DownloadOutcome(
            name: "big.bin", status: .failed, bytes: 1500, sha256: nil, peer: nil, transport: nil, seconds: 12,
            path: nil, message: "every holder failed",
            attempts: [
                Record(peer: "[::1]:5555", transport: .tcp, bytes: 1500, error: .closedEarly, message: "EOF after 1500 bytes"),
                Record(peer: "10.0.0.3:5555", transport: .udp, bytes: 0, error: .connectFailed, message: nil),
            ])
        #expect(outcome.jsonLine == """
            {"name":"big.bin","status":"failed","bytes":1500,"sha256":null,"peer":null,"transport":null,"seconds":12.0,"path":null,"message":"every holder failed","attempts":[{"peer":"[::1]:5555","transport":"tcp","bytes":1500,"error":"closed_early","message":"EOF after 1500 bytes"},{"peer":"10.0.0.3:5555","transport":"udp","bytes":0,"error":"connect_failed","message":null}],"sources":[{"peer":"[::1]:5555","transport":"tcp","bytes":1500,"chunks":0,"bad_chunks":0},{"peer":"10.0.0.3:5555","transport":"udp","bytes":0,"chunks":0,"bad_chunks":0}]}
            """)
        #expect(!outcome.succeeded)
    }

    @Test("names and messages are escaped: quotes, backslashes and control characters")
    func escaping() {
        let outcome = DownloadOutcome(
            name: "say \"hi\"\\\n\t\r\u{0}\u{1}\u{1F}\u{7F}\u{85}é🚀", status: .refused, bytes: 0, sha256: nil, peer: nil,
            transport: nil, seconds: 0, path: nil, message: "bad name: \u{1B}[31m", attempts: [])
        #expect(outcome.jsonLine == #"{"name":"say \"hi\"\\\n\t\r\u0000\u0001\u001f\u007f"# + "\u{85}é🚀"
                + #"","status":"refused","bytes":0,"sha256":null,"peer":null,"transport":null,"seconds":0.0,"path":null,"message":"bad name: \u001b[31m","attempts":[],"sources":[]}"#)
    }

    @Test("a swarm download's sources: bytes, verified chunks and bad chunks per peer and transport")
    func swarmSources() {
        var outcome = Self.readmeExample
        outcome.attempts = [
            Record(peer: "127.0.0.2:5555", transport: .tcp, bytes: 786_432, error: nil, message: nil),
            Record(peer: "127.0.0.3:5555", transport: .udp, bytes: 524_288, error: .hashMismatch, message: "sent 2 chunks that did not match"),
            Record(peer: "127.0.0.2:5555", transport: .tcp, bytes: 262_144, error: nil, message: nil),
        ]
        #expect(outcome.sourceRecords == [
            .init(peer: "127.0.0.2:5555", transport: .tcp, bytes: 1_048_576),
            .init(peer: "127.0.0.3:5555", transport: .udp, bytes: 524_288),
        ])
        outcome.sources = [
            .init(peer: "127.0.0.2:5555", transport: .tcp, bytes: 1_048_576, chunks: 4, badChunks: 0),
            .init(peer: "127.0.0.3:5555", transport: .udp, bytes: 524_288, chunks: 0, badChunks: 2),
        ]
        #expect(outcome.jsonLine.hasSuffix(#""sources":[{"peer":"127.0.0.2:5555","transport":"tcp","bytes":1048576,"chunks":4,"bad_chunks":0},"#
            + #"{"peer":"127.0.0.3:5555","transport":"udp","bytes":524288,"chunks":0,"bad_chunks":2}]}"#))
    }

    @Test("every status has its documented text", arguments: [
        (DownloadOutcome.Status.ok, "ok", true), (.notFound, "not_found", false), (.failed, "failed", false),
        (.refused, "refused", false), (.skipped, "skipped", true),
    ])
    func statuses(_ status: DownloadOutcome.Status, _ text: String, _ succeeded: Bool) {
        var outcome = Self.readmeExample
        outcome.status = status
        #expect(outcome.jsonLine.hasPrefix(#"{"name":"file1.txt","status":"\#(text)","#))
        #expect(outcome.succeeded == succeeded)
    }

    @Test("seconds are rounded to the millisecond; a non-finite time is null", arguments: [
        (0.0004, "0.0"), (0.0005, "0.001"), (1.23449, "1.234"), (2, "2.0"), (86_400.5, "86400.5"),
        (Double.infinity, "null"), (Double.nan, "null"),
    ])
    func seconds(_ seconds: Double, _ text: String) {
        var outcome = Self.readmeExample
        outcome.seconds = seconds
        #expect(outcome.jsonLine.contains(#","seconds":\#(text),"path":"#))
    }

    @Test("the largest byte counts are written in full")
    func largeNumbers() {
        var outcome = Self.readmeExample
        outcome.bytes = UInt64.max
        #expect(outcome.jsonLine.contains(#""bytes":18446744073709551615,"#))
    }
}

@testable import FerryPeer
import FerryWire
import Testing

@Suite("TransferReport: what a person reads")
struct TransferReportTests {
    static let hexA = String(repeating: "a", count: 64)
    static let hexB = String(repeating: "b", count: 64)

    @Test("lookupText: sizes, digests, versions, holders, not found and refused names")
    func lookupText() {
        let results = [
            LookupResult(name: "file1.txt", outcome: .found([
                HolderGroup(size: 18, digest: ContentDigest(hex: Self.hexA)!, holders: [
                    Holder(host: "127.0.0.2", tcpPort: 5555, udpPort: 0),
                    Holder(host: "::1", tcpPort: 6000, udpPort: 6001),
                ]),
            ])),
            LookupResult(name: "x \"y\"", outcome: .found([
                HolderGroup(size: 3, digest: ContentDigest(hex: Self.hexB)!, holders: [Holder(host: "10.0.0.3", tcpPort: 5555, udpPort: 0)]),
                HolderGroup(size: 4, digest: ContentDigest(hex: Self.hexA)!, holders: [Holder(host: "10.0.0.4", tcpPort: 5555, udpPort: 0)]),
            ])),
            LookupResult(name: "file3.txt", outcome: .notFound),
            LookupResult(name: "../\u{1B}x", outcome: .badName("name contains '/' or '\\'")),
        ]
        #expect(TransferReport.lookupText(results) == """
            "file1.txt": 18 bytes, sha256 \(Self.hexA)
                127.0.0.2:5555 tcp
                [::1]:6000 tcp, udp 6001
            "x \\"y\\"": 3 bytes, sha256 \(Self.hexB) (version 1 of 2)
                10.0.0.3:5555 tcp
            "x \\"y\\"": 4 bytes, sha256 \(Self.hexA) (version 2 of 2)
                10.0.0.4:5555 tcp
            "file3.txt": not found (404): no live peer shares it
            "../\u{FFFD}x": refused (403): name contains '/' or '\\'

            """)
    }

    @Test("lookupText of nothing is an empty line")
    func lookupTextEmpty() {
        #expect(TransferReport.lookupText([]) == "\n")
    }

    static func outcome(_ status: DownloadOutcome.Status, bytes: UInt64 = 18, seconds: Double = 0.0053, message: String? = nil,
                        attempts: [DownloadOutcome.AttemptRecord] = []) -> DownloadOutcome {
        DownloadOutcome(name: "file1.txt", status: status, bytes: bytes, sha256: nil,
                        peer: status == .ok ? "127.0.0.2:5555" : nil, transport: status == .ok ? .tcp : nil,
                        seconds: seconds, path: nil, message: message, attempts: attempts)
    }

    @Test("an ok line, as in the README: a quick transfer shows its time and no rate")
    func okLine() {
        #expect(TransferReport.resultText(Self.outcome(.ok), color: false)
                == "✔ \"file1.txt\" 18 B from 127.0.0.2:5555 (tcp) in 5 ms, sha256 verified")
    }

    @Test("an ok line in colour paints the mark green")
    func okLineColour() {
        #expect(TransferReport.resultText(Self.outcome(.ok, bytes: 3 << 20, seconds: 12.4), color: true)
                == "\u{1B}[32m✔\u{1B}[0m \"file1.txt\" 3.0 MiB from 127.0.0.2:5555 (tcp) in 12 s, 247.7 KiB/s, sha256 verified")
    }

    @Test("a resumed download's rate counts the bytes of this run only, and says what was already here")
    func resumedRate() {
        let attempt = DownloadOutcome.AttemptRecord(peer: "127.0.0.2:5555", transport: .tcp, bytes: 1 << 20, error: nil, message: nil)
        #expect(TransferReport.resultText(Self.outcome(.ok, bytes: 3 << 20, seconds: 1.0, attempts: [attempt]), color: false)
                == "✔ \"file1.txt\" 3.0 MiB from 127.0.0.2:5555 (tcp) in 1.0 s, 1.0 MiB/s, resumed with 2.0 MiB already here, sha256 verified")
    }

    @Test("one byte is a byte")
    func oneByte() {
        let results = [LookupResult(name: "a", outcome: .found([
            HolderGroup(size: 1, digest: ContentDigest(hex: Self.hexA)!, holders: [Holder(host: "127.0.0.2", tcpPort: 5555, udpPort: 0)]),
        ]))]
        #expect(TransferReport.lookupText(results).hasPrefix("\"a\": 1 byte, sha256"))
    }

    @Test("an instant download shows no rate")
    func okWithoutTime() {
        #expect(TransferReport.resultText(Self.outcome(.ok, seconds: 0), color: false)
                == "✔ \"file1.txt\" 18 B from 127.0.0.2:5555 (tcp) in 0 ms, sha256 verified")
    }

    @Test("other outcomes show their status and message", arguments: [
        (DownloadOutcome.Status.notFound, "✘", "33", "not_found"),
        (.refused, "✘", "33", "refused"),
        (.failed, "✘", "31", "failed"),
        (.skipped, "=", "36", "skipped"),
    ])
    func otherLines(_ status: DownloadOutcome.Status, _ mark: String, _ tint: String, _ text: String) {
        let outcome = Self.outcome(status, message: "what happened")
        #expect(TransferReport.resultText(outcome, color: false) == "\(mark) \"file1.txt\" \(text): what happened")
        #expect(TransferReport.resultText(outcome, color: true)
                == "\u{1B}[\(tint)m\(mark)\u{1B}[0m \"file1.txt\" \u{1B}[\(tint)m\(text)\u{1B}[0m: what happened")
    }

    @Test("each unsuccessful attempt gets an indented line; the successful one does not")
    func attemptLines() {
        let outcome = Self.outcome(.ok, attempts: [
            .init(peer: "127.0.0.3:5555", transport: .tcp, bytes: 0, error: .connectFailed, message: "connection refused"),
            .init(peer: "[::1]:5555", transport: .udp, bytes: 1536, error: .stalled, message: nil),
            .init(peer: "127.0.0.2:5555", transport: .tcp, bytes: 18, error: nil, message: nil),
        ])
        #expect(TransferReport.resultText(outcome, color: false) == """
            ✔ "file1.txt" 18 B from 127.0.0.2:5555 (tcp) in 5 ms, sha256 verified
                attempt 127.0.0.3:5555 (tcp): connect_failed after 0 B - connection refused
                attempt [::1]:5555 (udp): stalled after 1.5 KiB
            """)
    }

    @Test("names are shown quoted and printable")
    func printableName() {
        var outcome = Self.outcome(.failed, message: "m")
        outcome.name = "a\u{1B}[2J\"b\""
        #expect(TransferReport.resultText(outcome, color: false) == "✘ \"a\u{FFFD}[2J\\\"b\\\"\" failed: m")
    }

    @Test("durations: milliseconds below 1 s, tenths below 10 s, whole seconds from 10 s", arguments: [
        (0.0, "0 ms"), (0.0044, "4 ms"), (0.9994, "999 ms"), (1.0, "1.0 s"), (1.04, "1.0 s"), (1.05, "1.1 s"), (9.94, "9.9 s"),
        (9.96, "10.0 s"), (10.0, "10 s"), (10.4, "10 s"), (10.5, "11 s"), (3600.2, "3600 s"),
    ])
    func secondsFormat(_ seconds: Double, _ text: String) {
        #expect(TransferReport.format(seconds) == text)
    }
}

/// What a downloader tells the tracker about one holder after a download (`REPORT`): it served, with
/// how many bytes in how long, or it failed. The tracker ranks holders in `SEND` replies by these
/// reports (docs/PROTOCOL.md, "Holder health").
///
/// ```
/// REPORT <host> <tcp-port> OK <bytes> <milliseconds>
/// REPORT <host> <tcp-port> FAILED
/// ```
public struct HolderReport: Hashable, Sendable {
    public enum Verdict: Hashable, Sendable {
        /// The holder delivered `bytes` in `milliseconds` (over the whole download it took part in).
        case served(bytes: UInt64, milliseconds: UInt64)
        /// The holder could not be reached, or delivered nothing usable.
        case failed
    }

    /// The holder's address as the tracker gave it in `211` lines.
    public var host: String
    public var tcpPort: UInt16
    public var verdict: Verdict

    /// The longest host a report may name: an IPv6 literal with a zone fits.
    public static let maximumHostLength = 64

    public init(host: String, tcpPort: UInt16, verdict: Verdict) {
        self.host = host
        self.tcpPort = tcpPort
        self.verdict = verdict
    }

    /// Whether `host` looks like an address literal (IPv4, IPv6, an IPv6 zone): letters, digits, `.`,
    /// `:`, `%`, `-`, `_`, at most ``maximumHostLength`` bytes. Holders are found by exact address, so
    /// this only keeps junk out of logs and replies.
    public static func isPlausible(host: String) -> Bool {
        !host.isEmpty && host.utf8.count <= maximumHostLength && host.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || [UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "%"), UInt8(ascii: "-"), UInt8(ascii: "_")].contains(byte)
        }
    }

    /// The fields after `REPORT`.
    var fields: String {
        switch verdict {
        case .served(let bytes, let milliseconds): return "\(host) \(tcpPort) OK \(bytes) \(milliseconds)"
        case .failed: return "\(host) \(tcpPort) FAILED"
        }
    }

    /// Reads the fields after `REPORT`.
    static func parse(_ scanner: inout LineScanner) throws(SyntaxError) -> HolderReport {
        guard let host = scanner.word(), isPlausible(host: host) else {
            throw SyntaxError("host must be an address of at most \(maximumHostLength) letters, digits and . : % - _")
        }
        let port = try scanner.number("tcp port", maximum: 65535)
        guard port > 0 else { throw SyntaxError("tcp port must be from 1 to 65535") }
        let verdict: Verdict
        switch scanner.word()?.uppercased() {
        case "OK":
            let bytes = try scanner.number("bytes")
            let milliseconds = try scanner.number("milliseconds")
            verdict = .served(bytes: bytes, milliseconds: milliseconds)
        case "FAILED":
            verdict = .failed
        default:
            throw SyntaxError("expected OK <bytes> <milliseconds> or FAILED after the port")
        }
        guard scanner.isAtEnd else { throw SyntaxError("unexpected text at the end of the line") }
        return HolderReport(host: host, tcpPort: UInt16(port), verdict: verdict)
    }
}

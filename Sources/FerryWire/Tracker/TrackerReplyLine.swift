/// One line from the tracker: `<code><sep><text>`, where `<sep>` is `-` when more lines of the same
/// reply follow and a space on the reply's last line (as in FTP and SMTP).
///
/// ```
/// 210-FILE "a.txt" 12 9f86d0…0a08 2
/// 211-PEER 127.0.0.2 5555 5555
/// 200 SEND 1
/// ```
public struct TrackerReplyLine: Hashable, Sendable, CustomStringConvertible {
    public var status: TrackerStatus
    public var isFinal: Bool
    public var text: String

    public init(status: TrackerStatus, isFinal: Bool, text: String) {
        self.status = status
        self.isFinal = isFinal
        self.text = text
    }

    /// Parses a line; `nil` when it does not start with three digits and a separator.
    public init?(parsing line: String) {
        let utf8 = Array(line.utf8)
        guard utf8.count >= 4, utf8[0...2].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              utf8[3] == UInt8(ascii: " ") || utf8[3] == UInt8(ascii: "-")
        else { return nil }
        let code = utf8[0...2].reduce(UInt16(0)) { $0 * 10 + UInt16($1 - 0x30) }
        self.status = TrackerStatus(code: code)
        self.isFinal = utf8[3] == UInt8(ascii: " ")
        self.text = String(decoding: utf8[4...], as: UTF8.self)
    }

    /// The line as sent, without `\n`.
    public var line: String { "\(status.code)\(isFinal ? " " : "-")\(text)" }

    public var description: String { line }

    /// `text` with control characters replaced by U+FFFD, safe to echo in a reply or a terminal.
    public static func printable(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x00...0x1F, 0x7F...0x9F: out.append("\u{FFFD}")
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}

/// A whole reply: the continuation lines and the final line.
public struct TrackerReply: Hashable, Sendable {
    public var lines: [TrackerReplyLine]
    public var final: TrackerReplyLine

    public init(lines: [TrackerReplyLine], final: TrackerReplyLine) {
        self.lines = lines
        self.final = final
    }

    /// Throws the final line as an error unless it reports success.
    public func checked() throws(TrackerProtocolError) -> TrackerReply {
        guard final.status.isSuccess else { throw TrackerProtocolError(final.status, final.text) }
        return self
    }
}

/// Gathers reply lines into ``TrackerReply`` values on the client side.
public struct TrackerReplyAssembler: Sendable {
    private var pending: [TrackerReplyLine] = []

    public init() {}

    /// Adds a line; returns the reply when `line` was its last one.
    public mutating func push(_ line: String) throws(TrackerProtocolError) -> TrackerReply? {
        guard let parsed = TrackerReplyLine(parsing: line) else {
            throw .malformed("tracker sent a line without a status code: \(LineScanner.quote(TrackerReplyLine.printable(String(line.prefix(80)))))")
        }
        guard parsed.isFinal else {
            guard pending.count < TrackerLimits.maximumReplyLines else {
                throw .init(.tooMany, "tracker reply longer than \(TrackerLimits.maximumReplyLines) lines")
            }
            pending.append(parsed)
            return nil
        }
        defer { pending = [] }
        return TrackerReply(lines: pending, final: parsed)
    }
}

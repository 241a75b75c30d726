/// Reads the fields of one text line of Ferry's line protocols.
///
/// Fields are separated by spaces or tabs. A name is either a quoted string or, for a person typing
/// with `nc`, bare text:
///
/// ```
/// quoted = DQUOTE *( char / "\" DQUOTE / "\\" ) DQUOTE   ; any other "\x" is an error
/// bare   = text up to the end of the line (single names) or up to the next comma (name lists),
///          with surrounding spaces trimmed
/// ```
public struct LineScanner: Sendable {
    /// The line's UTF-8. Every delimiter (space, tab, `"`, `\\`, `,`) is ASCII, and no byte of a
    /// multi-byte UTF-8 sequence is: cutting at delimiters never splits a character, so scanning bytes
    /// reads exactly what scanning Unicode scalars would, several times faster (FILE lines are most of
    /// what a tracker parses).
    private let bytes: [UInt8]
    private var index = 0

    public init(_ line: Substring) {
        // A native string's UTF-8 is contiguous: one copy, not a walk of its view.
        self.bytes = line.utf8.withContiguousStorageIfAvailable { Array($0) } ?? Array(line.utf8)
    }

    public init(_ line: String) {
        self.init(line[...])
    }

    /// `true` when the next non-space character is `"`: a quoted name follows.
    public var startsWithQuote: Bool {
        var probe = index
        while probe < bytes.count, Self.isSpace(bytes[probe]) { probe += 1 }
        return probe < bytes.count && bytes[probe] == Self.quoteMark
    }

    /// `true` once only spaces remain.
    public var isAtEnd: Bool {
        var probe = index
        while probe < bytes.count, Self.isSpace(bytes[probe]) { probe += 1 }
        return probe == bytes.count
    }

    /// The next space-separated word, or `nil` at the end of the line.
    public mutating func word() -> String? {
        skipSpaces()
        guard index < bytes.count else { return nil }
        let start = index
        while index < bytes.count, !Self.isSpace(bytes[index]) { index += 1 }
        return text(start..<index)
    }

    /// The next word as a SHA-256 digest (64 hexadecimal digits, either case), read from the bytes
    /// without making a `String`; `nil` when no word is left or it is not a digest (the word is taken
    /// either way).
    public mutating func digest() -> ContentDigest? {
        skipSpaces()
        guard index < bytes.count else { return nil }
        let start = index
        while index < bytes.count, !Self.isSpace(bytes[index]) { index += 1 }
        let end = index
        return bytes.withUnsafeBytes { ContentDigest(hexDigits: UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
    }

    /// The next word as a number no larger than `maximum`.
    public mutating func number(_ field: String, maximum: UInt64 = UInt64(Int64.max)) throws(SyntaxError) -> UInt64 {
        guard let text = word() else { throw SyntaxError("missing \(field)") }
        guard text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = UInt64(text), value <= maximum
        else {
            throw SyntaxError("\(field) must be a whole number from 0 to \(maximum), not \(LineScanner.quote(text))")
        }
        return value
    }

    /// The rest of the line as a single name: a quoted string, or bare text trimmed of spaces.
    public mutating func name() throws(SyntaxError) -> String {
        skipSpaces()
        guard index < bytes.count else { throw SyntaxError("missing name") }
        if bytes[index] == Self.quoteMark {
            let name = try quoted()
            guard isAtEnd else { throw SyntaxError("unexpected text after the quoted name") }
            index = bytes.count
            return name
        }
        var end = bytes.count
        while end > index, Self.isSpace(bytes[end - 1]) { end -= 1 }
        let name = text(index..<end)
        index = bytes.count
        return name
    }

    /// The rest of the line as a comma-separated list of names, each quoted or bare (trimmed).
    public mutating func nameList() throws(SyntaxError) -> [String] {
        var names: [String] = []
        skipSpaces()
        guard index < bytes.count else { throw SyntaxError("missing name") }
        while true {
            skipSpaces()
            if index < bytes.count, bytes[index] == Self.quoteMark {
                names.append(try quoted())
                skipSpaces()
            } else {
                let start = index
                while index < bytes.count, bytes[index] != Self.comma { index += 1 }
                var end = index
                while end > start, Self.isSpace(bytes[end - 1]) { end -= 1 }
                names.append(text(start..<end))
            }
            if index == bytes.count { return names }
            guard bytes[index] == Self.comma else { throw SyntaxError("expected ',' between names") }
            index += 1
        }
    }

    /// The next field, which must be a quoted string.
    public mutating func quotedName() throws(SyntaxError) -> String {
        skipSpaces()
        guard index < bytes.count, bytes[index] == Self.quoteMark else { throw SyntaxError("expected a quoted name") }
        return try quoted()
    }

    /// The rest of the line, trimmed of spaces.
    public mutating func rest() -> String {
        skipSpaces()
        var end = bytes.count
        while end > index, Self.isSpace(bytes[end - 1]) { end -= 1 }
        let rest = text(index..<end)
        index = bytes.count
        return rest
    }

    private mutating func quoted() throws(SyntaxError) -> String {
        index += 1  // the opening quote
        var out: [UInt8] = []
        var segment = index
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case Self.quoteMark:
                let name: String
                if out.isEmpty {
                    name = text(segment..<index)
                } else {
                    out.append(contentsOf: bytes[segment..<index])
                    name = String(decoding: out, as: UTF8.self)
                }
                index += 1
                return name
            case Self.backslash:
                guard index + 1 < bytes.count, bytes[index + 1] == Self.quoteMark || bytes[index + 1] == Self.backslash else {
                    throw SyntaxError("only \\\" and \\\\ may follow a backslash in a quoted name")
                }
                out.append(contentsOf: bytes[segment..<index])
                out.append(bytes[index + 1])
                index += 2
                segment = index
            default:
                index += 1
            }
        }
        throw SyntaxError("unterminated quoted name")
    }

    private func text(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    private mutating func skipSpaces() {
        while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
    }

    private static let quoteMark = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let comma = UInt8(ascii: ",")

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// `text` as a quoted string that ``name()`` and ``nameList()`` read back unchanged.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar == "\"" || scalar == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        out += "\""
        return out
    }
}

/// A line that does not follow a protocol's grammar; `message` says where.
public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

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
    private let scalars: [Unicode.Scalar]
    private var index = 0

    public init(_ line: Substring) {
        self.scalars = Array(line.unicodeScalars)
    }

    public init(_ line: String) {
        self.init(line[...])
    }

    /// `true` when the next non-space character is `"`: a quoted name follows.
    public var startsWithQuote: Bool {
        var probe = index
        while probe < scalars.count, Self.isSpace(scalars[probe]) { probe += 1 }
        return probe < scalars.count && scalars[probe] == "\""
    }

    /// `true` once only spaces remain.
    public var isAtEnd: Bool {
        var probe = index
        while probe < scalars.count, Self.isSpace(scalars[probe]) { probe += 1 }
        return probe == scalars.count
    }

    /// The next space-separated word, or `nil` at the end of the line.
    public mutating func word() -> String? {
        skipSpaces()
        guard index < scalars.count else { return nil }
        var out = String.UnicodeScalarView()
        while index < scalars.count, !Self.isSpace(scalars[index]) {
            out.append(scalars[index])
            index += 1
        }
        return String(out)
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
        guard index < scalars.count else { throw SyntaxError("missing name") }
        if scalars[index] == "\"" {
            let name = try quoted()
            guard isAtEnd else { throw SyntaxError("unexpected text after the quoted name") }
            index = scalars.count
            return name
        }
        var end = scalars.count
        while end > index, Self.isSpace(scalars[end - 1]) { end -= 1 }
        let name = String(String.UnicodeScalarView(scalars[index..<end]))
        index = scalars.count
        return name
    }

    /// The rest of the line as a comma-separated list of names, each quoted or bare (trimmed).
    public mutating func nameList() throws(SyntaxError) -> [String] {
        var names: [String] = []
        skipSpaces()
        guard index < scalars.count else { throw SyntaxError("missing name") }
        while true {
            skipSpaces()
            if index < scalars.count, scalars[index] == "\"" {
                names.append(try quoted())
                skipSpaces()
            } else {
                var item = String.UnicodeScalarView()
                while index < scalars.count, scalars[index] != "," {
                    item.append(scalars[index])
                    index += 1
                }
                while let last = item.last, Self.isSpace(last) { item.removeLast() }
                names.append(String(item))
            }
            if index == scalars.count { return names }
            guard scalars[index] == "," else { throw SyntaxError("expected ',' between names") }
            index += 1
        }
    }

    /// The next field, which must be a quoted string.
    public mutating func quotedName() throws(SyntaxError) -> String {
        skipSpaces()
        guard index < scalars.count, scalars[index] == "\"" else { throw SyntaxError("expected a quoted name") }
        return try quoted()
    }

    /// The rest of the line, trimmed of spaces.
    public mutating func rest() -> String {
        skipSpaces()
        var end = scalars.count
        while end > index, Self.isSpace(scalars[end - 1]) { end -= 1 }
        defer { index = scalars.count }
        return String(String.UnicodeScalarView(scalars[index..<end]))
    }

    private mutating func quoted() throws(SyntaxError) -> String {
        index += 1  // the opening quote
        var out = String.UnicodeScalarView()
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            switch scalar {
            case "\"":
                return String(out)
            case "\\":
                guard index < scalars.count, scalars[index] == "\"" || scalars[index] == "\\" else {
                    throw SyntaxError("only \\\" and \\\\ may follow a backslash in a quoted name")
                }
                out.append(scalars[index])
                index += 1
            default:
                out.append(scalar)
            }
        }
        throw SyntaxError("unterminated quoted name")
    }

    private mutating func skipSpaces() {
        while index < scalars.count, Self.isSpace(scalars[index]) { index += 1 }
    }

    private static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t"
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

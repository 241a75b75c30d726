/// The name of a shared file: a single path component that is safe to use inside a shared or
/// download folder.
///
/// One rule for names, everywhere. A name is valid when it is
/// - not empty, not `.` and not `..`;
/// - free of `/`, `\`, NUL and every other control character (U+0000–U+001F, U+007F–U+009F);
/// - at most ``maximumByteCount`` bytes of UTF-8.
///
/// Unicode and spaces (also at the edges) are fine. The only way to make a `SharedFileName` is through
/// validation, so a value of this type is proof that the rule was checked.
public struct SharedFileName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The longest name accepted, in bytes of UTF-8 (the usual file-system limit).
    public static let maximumByteCount = 255

    /// The validated name.
    public let rawValue: String

    /// Validates `rawValue`, throwing a ``NameError`` that says what is wrong with it.
    public init(validating rawValue: String) throws(NameError) {
        if let problem = Self.problem(with: rawValue) {
            throw problem
        }
        self.rawValue = rawValue
    }

    /// Validates `rawValue`, returning `nil` when it breaks the rule.
    public init?(_ rawValue: String) {
        guard Self.problem(with: rawValue) == nil else { return nil }
        self.rawValue = rawValue
    }

    /// What is wrong with `candidate`, or `nil` when it is a valid name.
    public static func problem(with candidate: String) -> NameError? {
        if candidate.isEmpty { return .empty }
        if candidate == "." || candidate == ".." { return .dotName }
        let utf8 = candidate.utf8
        if utf8.count > maximumByteCount { return .tooLong }
        // ASCII, the common case, byte by byte; the rule's other control characters (U+0080–U+009F)
        // are not ASCII.
        if case .ascii(let problem)? = utf8.withContiguousStorageIfAvailable(asciiProblem) { return problem }
        for scalar in candidate.unicodeScalars {
            switch scalar.value {
            case 0x2F, 0x5C: return .separator
            case 0x00: return .nul
            case 0x01...0x1F, 0x7F...0x9F: return .controlCharacter
            default: continue
            }
        }
        return nil
    }

    private enum ASCIIVerdict {
        case notASCII
        case ascii(NameError?)
    }

    private static func asciiProblem(_ bytes: UnsafeBufferPointer<UInt8>) -> ASCIIVerdict {
        var problem: NameError?
        for byte in bytes {
            switch byte {
            case 0x80...: return .notASCII
            case 0x2F, 0x5C: problem = problem ?? .separator
            case 0x00: problem = problem ?? .nul
            case 0x01...0x1F, 0x7F: problem = problem ?? .controlCharacter
            default: continue
            }
        }
        return .ascii(problem)
    }

    public var description: String { rawValue }

    public static func < (lhs: SharedFileName, rhs: SharedFileName) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

extension SharedFileName {
    /// `text` in Unicode Normalization Form C: `e` + U+0301 becomes `é` (U+00E9).
    ///
    /// Names are compared as canonical equivalents everywhere (Swift `String` equality, which is what
    /// comparing NFC forms gives); where names are compared by bytes or scalars instead (the tracker's
    /// database and `LIST` patterns), both sides are put in NFC first. This is the standard library's
    /// own normalization (the one `==` uses), so the two can never disagree, and FerryWire needs no
    /// Foundation for it. ASCII is its own NFC and is returned as it is.
    public static func normalized(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        return String(decoding: text._nfcCodeUnits, as: UTF8.self)
    }

    /// The name in NFC (``normalized(_:)``); the name itself when its NFC form would break the rule
    /// (NFC is rarely longer, but can be: U+0958 becomes two scalars).
    public var normalized: SharedFileName {
        SharedFileName(Self.normalized(rawValue)) ?? self
    }
}

/// Why a name was refused. The raw values are the short texts used in replies and logs.
public enum NameError: String, Error, Sendable, Equatable, CustomStringConvertible {
    case empty = "name is empty"
    case dotName = "name is '.' or '..'"
    case tooLong = "name is longer than 255 bytes of UTF-8"
    case separator = "name contains '/' or '\\'"
    case nul = "name contains NUL"
    case controlCharacter = "name contains a control character"

    public var description: String { rawValue }
}

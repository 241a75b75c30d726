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
        if candidate.utf8.count > maximumByteCount { return .tooLong }
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

    public var description: String { rawValue }

    public static func < (lhs: SharedFileName, rhs: SharedFileName) -> Bool {
        lhs.rawValue < rhs.rawValue
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

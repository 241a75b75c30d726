import FerryWire

/// What `LIST` matches names against: a glob when the pattern has `*` or `?`, otherwise a substring.
/// Matching ignores ASCII case, as SQL `LIKE` does, and works on the NFC forms of the pattern and the
/// name (``SharedFileName/normalized(_:)``): `e` + U+0301 matches `é`, and `?` is one scalar of the NFC
/// form. The tracker's database holds names in NFC, so ``likePattern`` means the same there.
public struct ListPattern: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case everything
        case substring(String)
        case glob(String)
    }

    public var kind: Kind

    public init(_ pattern: String?) {
        guard let pattern, !pattern.isEmpty, pattern != "*" else {
            self.kind = .everything
            return
        }
        let canonical = SharedFileName.normalized(pattern)
        self.kind = canonical.contains(where: { $0 == "*" || $0 == "?" }) ? .glob(canonical) : .substring(canonical)
    }

    /// The pattern for SQL `LIKE … ESCAPE '\'`.
    public var likePattern: String {
        switch kind {
        case .everything: return "%"
        case .substring(let text): return "%" + Self.escapeLike(text) + "%"
        case .glob(let glob):
            var out = ""
            for scalar in glob.unicodeScalars {
                switch scalar {
                case "*": out.append("%")
                case "?": out.append("_")
                default: out += Self.escapeLike(String(scalar))
                }
            }
            return out
        }
    }

    /// Whether `name` matches, with the same meaning as ``likePattern`` on a name in NFC (which, like SQL
    /// `LIKE`, works on Unicode scalars, not on user-perceived characters).
    public func matches(_ name: String) -> Bool {
        let name = SharedFileName.normalized(name)
        switch kind {
        case .everything:
            return true
        case .substring(let text):
            let needle = Array(Self.folded(text).unicodeScalars)
            let haystack = Array(Self.folded(name).unicodeScalars)
            guard needle.count <= haystack.count else { return false }
            return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
        case .glob(let glob):
            return Self.globMatch(Array(Self.folded(glob).unicodeScalars), Array(Self.folded(name).unicodeScalars))
        }
    }

    private static func escapeLike(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "%" || scalar == "_" || scalar == "\\" { out.append("\\") }
            out.append(scalar)
        }
        return String(out)
    }

    private static func folded(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            (0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 0x20)! : scalar
        }))
    }

    /// Iterative glob matching with backtracking to the last `*`: linear in practice, never exponential.
    private static func globMatch(_ pattern: [Unicode.Scalar], _ text: [Unicode.Scalar]) -> Bool {
        var (p, t) = (0, 0)
        var star: Int?
        var starText = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                starText = t
                p += 1
            } else if let star {
                p = star + 1
                starText += 1
                t = starText
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

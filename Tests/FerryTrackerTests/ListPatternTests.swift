import FerryTracker
import Testing

@Suite("ListPattern: LIST globs and substrings")
struct ListPatternTests {
    static let kinds: [(String?, ListPattern.Kind)] = [
        (nil, .everything), ("", .everything), ("*", .everything),
        ("a", .substring("a")), ("report 2024", .substring("report 2024")), ("%_\\", .substring("%_\\")),
        ("*.txt", .glob("*.txt")), ("a?c", .glob("a?c")), ("**", .glob("**")), ("?", .glob("?")),
    ]

    @Test("the kind follows from the pattern", arguments: kinds)
    func kind(_ pattern: String?, _ kind: ListPattern.Kind) {
        #expect(ListPattern(pattern).kind == kind)
    }

    static let likePatterns: [(String?, String)] = [
        (nil, "%"),
        ("*", "%"),
        ("abc", "%abc%"),
        ("50%_off\\", "%50\\%\\_off\\\\%"),
        ("*.txt", "%.txt"),
        ("a?c*", "a_c%"),
        ("*100%*", "%100\\%%"),
        ("?_?", "_\\__"),
    ]

    @Test("likePattern escapes %, _ and \\ and turns * and ? into % and _", arguments: likePatterns)
    func likePattern(_ pattern: String?, _ like: String) {
        #expect(ListPattern(pattern).likePattern == like)
    }

    static let matching: [(String?, String, Bool)] = [
        (nil, "anything at all", true),
        ("*", "x", true),
        ("txt", "a.txt", true),
        ("TXT", "a.txt", true),                 // ASCII case ignored
        ("txt", "A.TXT", true),
        ("É", "é", false),                      // only ASCII case is folded, as in SQL LIKE
        ("b.t", "abxt", false),                 // a substring has no wildcards
        ("b.t", "ab.tx", true),
        ("%", "100%", true),
        ("%", "100", false),
        ("_", "a_b", true),
        ("_", "ab", false),
        ("*.txt", "a.txt", true),
        ("*.txt", "a.txt.bak", false),          // a glob is anchored at both ends
        ("*.TXT", "notes.txt", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("a?c", "abbc", false),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
        ("*a*", "banana", true),
        ("**", "", true),
        ("?", "", false),
        ("?", "日", true),
        ("*日本*", "ファイル日本語", true),
        ("a*a*a*a*a*b", String(repeating: "a", count: 200), false),
        ("*%*", "50% off", true),
        ("*_*", "a-b", false),
        // Pattern and name are compared in NFC: either form finds the other.
        ("e\u{301}", "caf\u{E9}.txt", true),
        ("\u{E9}", "cafe\u{301}.txt", true),
        ("caf?.txt", "cafe\u{301}.txt", true),  // ? is one scalar of the NFC form
        ("caf??.txt", "cafe\u{301}.txt", false),
        ("e", "caf\u{E9}", false),
        ("e", "cafe\u{301}", false),            // é is not e, in either form
        ("K", "\u{212A}elvin", true),           // the Kelvin sign's NFC is K
    ]

    @Test("matches() follows the same rules", arguments: matching)
    func matches(_ pattern: String?, _ name: String, _ expected: Bool) {
        #expect(ListPattern(pattern).matches(name) == expected)
    }

    @Test("a pathological glob is answered quickly rather than by exponential backtracking")
    func pathological() {
        let name = String(repeating: "a", count: 5000)
        #expect(!ListPattern(String(repeating: "*a", count: 50) + "b").matches(name))
        #expect(ListPattern(String(repeating: "*a", count: 50) + "*").matches(name))
    }
}

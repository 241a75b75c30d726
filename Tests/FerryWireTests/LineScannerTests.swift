import FerryTestSupport
import FerryWire
import Testing

@Suite("LineScanner: words, numbers, quoted and bare names")
struct LineScannerTests {
    // MARK: words and the end of the line

    @Test("words are separated by spaces and tabs")
    func words() {
        var scanner = LineScanner("  one\ttwo  \t three ")
        #expect(scanner.word() == "one")
        #expect(scanner.word() == "two")
        #expect(!scanner.isAtEnd)
        #expect(scanner.word() == "three")
        #expect(scanner.isAtEnd)
        #expect(scanner.word() == nil)
        #expect(scanner.word() == nil)
    }

    @Test("an empty or blank line is at its end", arguments: ["", " ", "\t", " \t  "])
    func blankLine(_ line: String) {
        var scanner = LineScanner(line)
        #expect(scanner.isAtEnd)
        #expect(scanner.word() == nil)
    }

    @Test("a word keeps every other scalar, including quotes and commas")
    func wordKeepsScalars() {
        var scanner = LineScanner("a\"b,c\u{301} é")
        #expect(scanner.word()?.scalarValues == "a\"b,c\u{301}".scalarValues)
        #expect(scanner.word() == "é")
    }

    @Test("a Substring is scanned like a String")
    func substring() throws {
        let line = "XXSEND \"a\""
        var scanner = LineScanner(line.dropFirst(2))
        #expect(scanner.word() == "SEND")
        #expect(try scanner.name() == "a")
    }

    // MARK: numbers

    static let goodNumbers: [(String, UInt64)] = [
        ("0", 0), ("7", 7), ("007", 7), ("65535", 65535),
        ("9223372036854775807", 9_223_372_036_854_775_807),          // Int64.max, 19 digits
        ("0000000000000000001", 1),                                  // 19 digits with zeros
    ]

    @Test("numbers are whole decimal numbers up to Int64.max", arguments: goodNumbers)
    func numbers(_ text: String, _ value: UInt64) throws {
        var scanner = LineScanner(text)
        #expect(try scanner.number("n") == value)
        #expect(scanner.isAtEnd)
    }

    static let badNumbers: [String] = [
        "-1", "+1", "1.0", "1e3", "0x10", "١", "１", "12a", "9223372036854775808", "18446744073709551615",
        "00000000000000000001", "99999999999999999999999", "∞",
    ]

    @Test("anything else is refused with the field's name", arguments: badNumbers)
    func refusesBadNumbers(_ text: String) {
        var scanner = LineScanner(text)
        let error = #expect(throws: SyntaxError.self) { try scanner.number("size") }
        #expect(error?.message.hasPrefix("size must be a whole number from 0 to 9223372036854775807") == true)
    }

    @Test("digest() reads 64 hex digits of either case, and takes the word even when it is not one")
    func digests() {
        let hex = String(repeating: "aB", count: 32)
        var scanner = LineScanner("  \(hex)\tnot-hex \(hex)0 \(hex)")
        #expect(scanner.digest()?.hex == hex.lowercased())
        #expect(scanner.digest() == nil)
        #expect(scanner.digest() == nil, "65 digits")
        #expect(scanner.digest()?.hex == hex.lowercased())
        #expect(scanner.digest() == nil, "no word left")
        #expect(scanner.isAtEnd)
    }

    @Test("a missing number names the field")
    func missingNumber() {
        var scanner = LineScanner("   ")
        #expect(throws: SyntaxError("missing offset")) { try scanner.number("offset") }
    }

    @Test("the maximum is inclusive")
    func numberMaximum() throws {
        var ok = LineScanner("65535")
        #expect(try ok.number("port", maximum: 65535) == 65535)
        var over = LineScanner("65536")
        #expect(throws: SyntaxError("port must be a whole number from 0 to 65535, not \"65536\"")) {
            try over.number("port", maximum: 65535)
        }
    }

    // MARK: single names

    static let names: [(String, String)] = [
        ("a.txt", "a.txt"),
        ("  my file.txt  ", "my file.txt"),
        ("\tx\t", "x"),
        ("\"  edge spaces  \"", "  edge spaces  "),
        ("\"a, b\"", "a, b"),
        ("\"say \\\"hi\\\"\"", "say \"hi\""),
        ("\"back\\\\slash\"", "back\\slash"),
        ("\"\"", ""),
        ("\"\"  ", ""),
        ("a \"b\" c", "a \"b\" c"),              // bare: quotes inside are text
        ("a\\b", "a\\b"),                        // bare: backslashes are text
        ("日本 語", "日本 語"),
        ("\"e\u{301}\"", "e\u{301}"),
    ]

    @Test("name() reads a quoted or bare name to the end of the line", arguments: names)
    func name(_ line: String, _ expected: String) throws {
        var scanner = LineScanner(line)
        #expect(try scanner.name().scalarValues == expected.scalarValues)
        #expect(scanner.isAtEnd)
        #expect(scanner.word() == nil)
    }

    static let badNames: [(String, String)] = [
        ("", "missing name"),
        ("   ", "missing name"),
        ("\"unterminated", "unterminated quoted name"),
        ("\"ends in backslash\\", "only \\\" and \\\\ may follow a backslash in a quoted name"),
        ("\"ends in backslash\\\"", "unterminated quoted name"),
        ("\"bad \\n escape\"", "only \\\" and \\\\ may follow a backslash in a quoted name"),
        ("\"a\" b", "unexpected text after the quoted name"),
        ("\"a\"\"b\"", "unexpected text after the quoted name"),
    ]

    @Test("name() refuses broken quoting", arguments: badNames)
    func badName(_ line: String, _ message: String) {
        var scanner = LineScanner(line)
        #expect(throws: SyntaxError(message)) { try scanner.name() }
    }

    // MARK: name lists

    static let lists: [(String, [String])] = [
        ("a", ["a"]),
        ("a,b", ["a", "b"]),
        ("  a ,  b  , c ", ["a", "b", "c"]),
        ("\"a, b\", c", ["a, b", "c"]),
        ("\"a\",\"b\"", ["a", "b"]),
        ("\" a \" , b", [" a ", "b"]),
        ("a,,b", ["a", "", "b"]),
        ("a,", ["a", ""]),
        (",a", ["", "a"]),
        ("\"\"", [""]),
        ("x \"y\" z, w", ["x \"y\" z", "w"]),   // bare item with quotes inside
        ("\"q\\\"uote\", back\\slash", ["q\"uote", "back\\slash"]),
    ]

    @Test("nameList() reads comma-separated quoted or bare names", arguments: lists)
    func nameList(_ line: String, _ expected: [String]) throws {
        var scanner = LineScanner(line)
        #expect(try scanner.nameList() == expected)
        #expect(scanner.isAtEnd)
    }

    static let badLists: [(String, String)] = [
        ("", "missing name"),
        ("  ", "missing name"),
        ("\"a\" b", "expected ',' between names"),
        ("\"a\" \"b\"", "expected ',' between names"),
        ("a, \"b", "unterminated quoted name"),
        ("\"a\\x\"", "only \\\" and \\\\ may follow a backslash in a quoted name"),
    ]

    @Test("nameList() refuses broken lists", arguments: badLists)
    func badNameList(_ line: String, _ message: String) {
        var scanner = LineScanner(line)
        #expect(throws: SyntaxError(message)) { try scanner.nameList() }
    }

    // MARK: quotedName and rest

    @Test("quotedName() reads one quoted field and leaves the rest")
    func quotedName() throws {
        var scanner = LineScanner(" \"a b\" 12 rest of it ")
        #expect(try scanner.quotedName() == "a b")
        #expect(try scanner.number("size") == 12)
        #expect(scanner.rest() == "rest of it")
        #expect(scanner.isAtEnd)
        #expect(scanner.rest() == "")
    }

    @Test("quotedName() refuses a bare field", arguments: ["bare", "", "  "])
    func quotedNameRefusesBare(_ line: String) {
        var scanner = LineScanner(line)
        #expect(throws: SyntaxError("expected a quoted name")) { try scanner.quotedName() }
    }

    // MARK: quoting

    @Test("quote() escapes only quotes and backslashes")
    func quoteEscapes() {
        #expect(LineScanner.quote("plain") == "\"plain\"")
        #expect(LineScanner.quote("") == "\"\"")
        #expect(LineScanner.quote("a\"b") == "\"a\\\"b\"")
        #expect(LineScanner.quote("a\\b") == "\"a\\\\b\"")
        #expect(LineScanner.quote("\\\"") == "\"\\\\\\\"\"")
        #expect(LineScanner.quote(" , ") == "\" , \"")
    }

    @Test("quote() round-trips through name() for seeded random text", arguments: [1, 2, 3, 4])
    func quoteRoundTripsThroughName(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<400 {
            let text = randomLineSafeText(using: &generator)
            var scanner = LineScanner(LineScanner.quote(text))
            #expect(try scanner.name().scalarValues == text.scalarValues, "seed \(seed): \(text.debugDescription)")
        }
    }

    @Test("quote() round-trips through nameList() for seeded random lists", arguments: [5, 6, 7, 8])
    func quoteRoundTripsThroughNameList(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<300 {
            let texts = (0..<Int.random(in: 1...6, using: &generator)).map { _ in randomLineSafeText(using: &generator) }
            let separator = [",", ", ", " ,", "\t,\t"].randomElement(using: &generator)!
            let line = texts.map(LineScanner.quote).joined(separator: separator)
            var scanner = LineScanner(line)
            let parsed = try scanner.nameList()
            #expect(parsed.map(\.scalarValues) == texts.map(\.scalarValues), "seed \(seed): \(line.debugDescription)")
        }
    }

    @Test("seeded random lines never crash the scanner")
    func randomLinesNeverCrash() {
        var generator = SeededGenerator(seed: 0x5CA9)
        for _ in 0..<2000 {
            let line = String(decoding: generator.bytes(Int.random(in: 0...40, using: &generator)), as: UTF8.self)
            var a = LineScanner(line)
            _ = a.word(); _ = try? a.number("n"); _ = try? a.quotedName(); _ = a.rest()
            var b = LineScanner(line)
            if (try? b.nameList()) != nil { #expect(b.isAtEnd) }
            var c = LineScanner(line)
            if (try? c.name()) != nil { #expect(c.isAtEnd) }
        }
    }

    @Test("SyntaxError describes itself by its message")
    func syntaxErrorDescription() {
        #expect(SyntaxError("missing name").description == "missing name")
        #expect(SyntaxError("a") == SyntaxError("a"))
        #expect(SyntaxError("a") != SyntaxError("b"))
    }
}

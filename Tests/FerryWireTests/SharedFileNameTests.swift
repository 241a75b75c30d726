import FerryWire
import Testing

@Suite("SharedFileName: one name rule everywhere")
struct SharedFileNameTests {
    static let accepted: [String] = [
        "a", "a.txt", "...", ".hidden", "a.", "..a", "a..", " ", "   ", " edge spaces ", " x",
        "名前.txt", "e\u{301}", "🚀", "👩‍👩‍👧 family", "🇫🇷", "quote\"inside", "comma, inside", "star*?", "percent%_",
        "\u{00A0}", "\u{2028}", "\u{FEFF}bom", "\u{A0}\u{10FFFF}",
        String(repeating: "a", count: 255),
        String(repeating: "é", count: 127) + "a",        // 255 bytes of two-byte scalars
        String(repeating: "日", count: 85),               // 255 bytes of three-byte scalars
        String(repeating: "🚀", count: 63) + "abc",       // 255 bytes of four-byte scalars
    ]

    @Test("valid names are accepted unchanged", arguments: accepted)
    func acceptsValidNames(_ raw: String) throws {
        let name = try SharedFileName(validating: raw)
        #expect(name.rawValue.scalarValues == raw.scalarValues)
        #expect(name.description == raw)
        #expect(SharedFileName(raw) == name)
        #expect(SharedFileName.problem(with: raw) == nil)
    }

    static let refused: [(String, NameError)] = [
        ("", .empty),
        (".", .dotName),
        ("..", .dotName),
        (String(repeating: "a", count: 256), .tooLong),
        (String(repeating: "é", count: 128), .tooLong),          // 256 bytes, 128 characters
        (String(repeating: "日", count: 85) + "a", .tooLong),     // 256 bytes
        (String(repeating: "🚀", count: 64), .tooLong),          // 256 bytes, 64 characters
        ("a/b", .separator),
        ("/", .separator),
        ("a\\b", .separator),
        ("\\", .separator),
        ("../etc", .separator),
        ("nul\u{0}byte", .nul),
        ("\u{0}", .nul),
        ("a\u{1}b", .controlCharacter),
        ("tab\there", .controlCharacter),
        ("line\nbreak", .controlCharacter),
        ("cr\r", .controlCharacter),
        ("\u{1F}", .controlCharacter),
        ("del\u{7F}", .controlCharacter),
        ("nel\u{85}", .controlCharacter),
        ("c1\u{80}", .controlCharacter),
        ("c1\u{9F}", .controlCharacter),
        ("\u{1B}[31mred", .controlCharacter),
    ]

    @Test("invalid names are refused with the reason", arguments: refused)
    func refusesInvalidNames(_ raw: String, _ reason: NameError) {
        #expect(SharedFileName.problem(with: raw) == reason)
        #expect(SharedFileName(raw) == nil)
        #expect(throws: reason) { try SharedFileName(validating: raw) }
    }

    @Test("the byte limit is counted in UTF-8 bytes, not characters")
    func limitIsInBytes() {
        let twoByte = String(repeating: "é", count: 127)   // 254 bytes
        #expect(SharedFileName(twoByte + "a") != nil)      // 255
        #expect(SharedFileName(twoByte + "é") == nil)      // 256
        #expect(SharedFileName.maximumByteCount == 255)
    }

    @Test("the error texts are the short reasons used in replies")
    func errorTexts() {
        #expect(NameError.empty.description == "name is empty")
        #expect(NameError.dotName.description == "name is '.' or '..'")
        #expect(NameError.tooLong.description == "name is longer than 255 bytes of UTF-8")
        #expect(NameError.separator.description == "name contains '/' or '\\'")
        #expect(NameError.nul.description == "name contains NUL")
        #expect(NameError.controlCharacter.description == "name contains a control character")
    }

    @Test("names order by their text")
    func ordering() throws {
        let names = try ["b", "a", "B", "ä"].map { try SharedFileName(validating: $0) }
        #expect(names.sorted().map(\.rawValue) == ["B", "a", "b", "ä"])
        #expect(try SharedFileName(validating: "a") < SharedFileName(validating: "b"))
        #expect(!(try SharedFileName(validating: "b") < SharedFileName(validating: "a")))
    }

    @Test("the first problem in a name is reported, whether the name is ASCII or not", arguments: [
        ("a/b\u{1}", NameError.separator), ("a\u{1}b/", .controlCharacter), ("é/\u{1}", .separator),
        ("a\u{1}é/", .controlCharacter), ("a\u{7F}é", .controlCharacter), ("a/\u{85}", .separator),
        ("a\u{85}/", .controlCharacter), ("\u{0}/", .nul),
    ])
    func firstProblem(_ name: String, _ expected: NameError) {
        #expect(SharedFileName.problem(with: name) == expected)
    }

    @Test("every scalar from U+0000 to U+00FF is judged by the rule")
    func everyLatin1Scalar() {
        for value in UInt32(0)...0xFF {
            let text = "x" + String(Unicode.Scalar(value)!) + "y"
            let expected: NameError? = switch value {
            case 0x00: .nul
            case 0x2F, 0x5C: .separator
            case 0x01...0x1F, 0x7F...0x9F: .controlCharacter
            default: nil
            }
            #expect(SharedFileName.problem(with: text) == expected, "U+\(String(value, radix: 16))")
        }
    }
}

import FerryTestSupport
import FerryWire
import Testing

@Suite("FileRequest: GET <offset> <end|*> <name>")
struct FileRequestTests {
    static func name(_ raw: String) -> SharedFileName { SharedFileName(raw)! }

    static let good: [(String, FileRequest)] = [
        ("GET 0 * \"a.txt\"", FileRequest(name: name("a.txt"))),
        ("GET 1048576 * \"a.txt\"", FileRequest(name: name("a.txt"), offset: 1_048_576)),
        ("GET 5 10 a.txt", FileRequest(name: name("a.txt"), offset: 5, end: 10)),
        ("GET 5 5 a", FileRequest(name: name("a"), offset: 5, end: 5)),
        ("get 0 * my file.txt  ", FileRequest(name: name("my file.txt"))),
        ("  GET\t0\t*\t\" spaced \"", FileRequest(name: name(" spaced "))),
        ("GET 0 * *", FileRequest(name: name("*"))),
        ("GET 0 * \"say \\\"hi\\\"\"", FileRequest(name: name("say \"hi\""))),
        ("GET 0 9223372036854775807 日本 🚀", FileRequest(name: name("日本 🚀"), end: 9_223_372_036_854_775_807)),
    ]

    @Test("good requests parse", arguments: good)
    func parses(_ line: String, _ expected: FileRequest) throws {
        #expect(try FileRequest(parsing: line) == expected)
    }

    static let bad: [(String, FileStatus, String)] = [
        ("", .malformed, "expected GET <offset> <end|*> <name>"),
        ("PUT 0 * a", .malformed, "expected GET <offset> <end|*> <name>"),
        ("GET", .malformed, "GET: missing offset"),
        ("GET x * a", .malformed, "GET: offset must be a whole number from 0 to 9223372036854775807, not \"x\""),
        ("GET -1 * a", .malformed, "GET: offset must be a whole number from 0 to 9223372036854775807, not \"-1\""),
        ("GET 0", .malformed, "GET: missing end"),
        ("GET 0 *", .malformed, "GET: missing name"),
        ("GET 0 5", .malformed, "GET: missing name"),
        ("GET 0 a.txt", .malformed, "GET: end must be a whole number from 0 to 9223372036854775807, not \"a.txt\""),
        ("GET 0 * \"a", .malformed, "GET: unterminated quoted name"),
        ("GET 0 * \"a\" b", .malformed, "GET: unexpected text after the quoted name"),
        ("GET 0 * ../etc/passwd", .badName, "bad name \"../etc/passwd\": name contains '/' or '\\'"),
        ("GET 0 * ..", .badName, "bad name \"..\": name is '.' or '..'"),
        ("GET 0 * \"\"", .badName, "bad name \"\": name is empty"),
        ("GET 0 * \"a\u{1B}\"", .badName, "bad name \"a\u{FFFD}\": name contains a control character"),
        ("GET 10 5 a", .badRange, "end 5 is before offset 10"),
    ]

    @Test("bad requests are refused with a status", arguments: bad)
    func refuses(_ line: String, _ status: FileStatus, _ message: String) {
        #expect(throws: FileProtocolError(status, message)) { try FileRequest(parsing: line) }
    }

    @Test("requests encode to one line", arguments: [
        (FileRequest(name: name("a.txt")), "GET 0 * \"a.txt\""),
        (FileRequest(name: name("a \"b\""), offset: 3, end: 9), "GET 3 9 \"a \\\"b\\\"\""),
    ])
    func encodes(_ request: FileRequest, _ line: String) throws {
        #expect(request.line == line)
        #expect(try FileRequest(parsing: line) == request)
    }

    @Test("seeded random requests round-trip")
    func roundTrip() throws {
        var generator = SeededGenerator(seed: 101)
        for _ in 0..<500 {
            let offset = UInt64.random(in: 0...UInt64(Int64.max), using: &generator)
            let end: UInt64? = Bool.random(using: &generator) ? nil : UInt64.random(in: offset...UInt64(Int64.max), using: &generator)
            let request = FileRequest(name: randomValidName(using: &generator), offset: offset, end: end)
            #expect(try FileRequest(parsing: request.line) == request, "\(request.line.debugDescription)")
            #expect(request.line.utf8.count <= FileProtocolLimits.maximumRequestLength)
        }
    }

    @Test("seeded random lines never crash the parser")
    func randomLines() {
        var generator = SeededGenerator(seed: 102)
        for _ in 0..<2000 {
            let tail = String(decoding: generator.bytes(Int.random(in: 0...30, using: &generator)), as: UTF8.self)
            let line = ["GET ", "GET 0 ", "GET 0 * ", "GET 1 2 ", ""].randomElement(using: &generator)! + tail
            do {
                let request = try FileRequest(parsing: line)
                #expect(try FileRequest(parsing: request.line) == request)
            } catch {
                #expect([FileStatus.malformed, .badName, .badRange].contains(error.status), "\(line.debugDescription)")
            }
        }
    }
}

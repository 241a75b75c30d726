import FerryWire
import Testing

@Suite("FileReplyHeader: 200 <size> <sha256> <offset> <length>, or an error")
struct FileReplyHeaderTests {
    static let hex = String(repeating: "d", count: 64)
    static let digest = ContentDigest(hex: hex)!

    static let good: [(String, FileReplyHeader)] = [
        ("200 12 \(hex) 0 12", .ok(size: 12, digest: digest, offset: 0, length: 12)),
        ("200 12 \(hex.uppercased()) 4 8", .ok(size: 12, digest: digest, offset: 4, length: 8)),
        ("200 12 \(hex) 12 0", .ok(size: 12, digest: digest, offset: 12, length: 0)),
        ("200 0 \(hex) 0 0", .ok(size: 0, digest: digest, offset: 0, length: 0)),
        ("200 12 \(hex) 3 2", .ok(size: 12, digest: digest, offset: 3, length: 2)),
        ("200 9223372036854775807 \(hex) 9223372036854775807 0",
         .ok(size: 9_223_372_036_854_775_807, digest: digest, offset: 9_223_372_036_854_775_807, length: 0)),
        ("404 not shared here", .refused(FileProtocolError(.notFound, "not shared here"))),
        ("503 busy; try later", .refused(FileProtocolError(.busy, "busy; try later"))),
        ("409 ", .refused(FileProtocolError(.changed, ""))),
        ("299 odd", .refused(FileProtocolError(FileStatus(code: 299), "odd"))),
    ]

    @Test("reply lines parse", arguments: good)
    func parses(_ line: String, _ expected: FileReplyHeader) throws {
        #expect(try FileReplyHeader(parsing: line) == expected)
    }

    static let bad: [String] = [
        "", "OK", "200", "200-12 \(hex) 0 12", "20 x",
        "200 12 \(hex) 0", "200 12 \(hex) 0 12 extra", "200 12 xyz 0 12", "200 x \(hex) 0 12",
        "200 12 \(hex) 13 0",            // offset past the end
        "200 12 \(hex) 5 8",             // length past the end
        "200 12 \(hex) 0 9223372036854775807",
        "200 18446744073709551615 \(hex) 0 0",
        "200 12 \(hex) -1 1",
    ]

    @Test("malformed reply lines are refused", arguments: bad)
    func refuses(_ line: String) {
        let error = #expect(throws: FileProtocolError.self) { try FileReplyHeader(parsing: line) }
        #expect(error?.status == .malformed)
    }

    @Test("headers encode to their line and back", arguments: [
        (FileReplyHeader.ok(size: 12, digest: digest, offset: 4, length: 8), "200 12 \(hex) 4 8"),
        (FileReplyHeader.refused(FileProtocolError(.badRange, "range outside the file")), "416 range outside the file"),
    ])
    func encodes(_ header: FileReplyHeader, _ line: String) throws {
        #expect(header.line == line)
        #expect(try FileReplyHeader(parsing: line) == header)
    }

    @Test("the longest ok header fits in a reply line")
    func longestFits() {
        let max = UInt64(Int64.max)
        #expect(FileReplyHeader.ok(size: max, digest: Self.digest, offset: max, length: max).line.utf8.count
                <= FileProtocolLimits.maximumReplyLength)
    }

    @Test("a refusal's text loses its control characters, so it is safe to show and encodes to one line (FuzzFileRequest)")
    func refusalTextIsPrintable() throws {
        let header = try FileReplyHeader(parsing: "404 not found: \"a\"0 * ../etc/pas\r\r\u{1B}[2J")
        guard case .refused(let error) = header else {
            Issue.record("read as \(header)")
            return
        }
        #expect(error.status == .notFound)
        #expect(header.line == "404 not found: \"a\"0 * ../etc/pas\u{FFFD}\u{FFFD}\u{FFFD}[2J")
        #expect(try FileReplyHeader(parsing: header.line) == header)
    }
}

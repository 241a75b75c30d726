import FerryWire
import Testing

@Suite("FileStatus and FileProtocolError: the file server's codes")
struct FileStatusTests {
    static let codes: [(FileStatus, UInt16)] = [
        (.ok, 200), (.malformed, 400), (.lineTooLong, 402), (.badName, 403), (.notFound, 404), (.timeout, 408),
        (.changed, 409), (.badRange, 416), (.internalError, 500), (.busy, 503),
    ]

    @Test("every named status has its documented code", arguments: codes)
    func code(_ status: FileStatus, _ code: UInt16) {
        #expect(status.code == code)
        #expect(status == FileStatus(code: code))
        #expect(status.description == String(code))
    }

    @Test("the named codes are distinct")
    func distinct() {
        #expect(Set(Self.codes.map(\.0)).count == Self.codes.count)
    }

    /// Found by the fuzzer (Fuzz/FuzzFileRequest): `GET 0 * <600 bytes>` was answered with a 669-byte
    /// `403 bad name "…"` line, which a client refuses as longer than its 512-byte reply limit.
    @Test("a refusal that echoes a long request still fits the client's reply limit")
    func longRefusalIsCut() throws {
        for name in [String(repeating: "x", count: 600), String(repeating: "\u{1}", count: 300), String(repeating: "日", count: 300)] {
            let request = "GET 0 * \"\(name)\""
            let refusal = try #require(throws: FileProtocolError.self) { try FileRequest(parsing: request) }
            #expect(refusal.line.utf8.count <= FileProtocolLimits.maximumReplyLength)
            #expect(try FileReplyHeader(parsing: refusal.line) == .refused(FileProtocolError(.badName, String(refusal.line.dropFirst(4)))))
        }
        let short = FileProtocolError(.notFound, "not found: \"a\"")
        #expect(short.line == "404 not found: \"a\"")
    }

    @Test("an error is its reply line")
    func errorLine() {
        let error = FileProtocolError(.busy, "busy")
        #expect(error.line == "503 busy")
        #expect(error.description == "503 busy")
        #expect(error == FileProtocolError(FileStatus(code: 503), "busy"))
        #expect(error != FileProtocolError(.busy, "other"))
    }

    @Test("the limits")
    func limits() {
        #expect(FileProtocolLimits.maximumRequestLength == 1024)
        #expect(FileProtocolLimits.maximumReplyLength == 512)
    }
}

import FerryTestSupport
import FerryWire
import Testing

@Suite("HAVE: chunk bitmaps, requests and reply headers")
struct HaveRequestTests {
    static let hex = String(repeating: "ab", count: 32)
    static let digest = ContentDigest(hex: hex)!

    @Test("a bitmap is one bit per chunk, chunk 0 the high bit of the first byte, spare bits zero")
    func bitmap() {
        let chunks = [true, false, false, false, false, false, false, true, true, false]
        #expect(ChunkBitmap.bytes(of: chunks) == [0x81, 0x80])
        #expect(ChunkBitmap.chunks(from: [0x81, 0x80], count: 10) == chunks)
        #expect(ChunkBitmap.chunks(from: [0x81, 0xA0], count: 10) == nil, "a spare bit is set")
        #expect(ChunkBitmap.chunks(from: [0x81], count: 10) == nil, "too short")
        #expect(ChunkBitmap.chunks(from: [0x81, 0x80, 0], count: 10) == nil, "too long")
        #expect(ChunkBitmap.bytes(of: []) == [])
        #expect(ChunkBitmap.chunks(from: [], count: 0) == [])
    }

    @Test("bitmaps round-trip seeded random chunk sets", arguments: [51, 52] as [UInt64])
    func bitmapRoundTrip(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<200 {
            let chunks = (0..<Int.random(in: 0...2048, using: &generator)).map { _ in Bool.random(using: &generator) }
            #expect(ChunkBitmap.chunks(from: ChunkBitmap.bytes(of: chunks), count: chunks.count) == chunks)
        }
    }

    @Test("HAVE <sha256> <name> parses, quoted or bare, and encodes with the name quoted")
    func parses() throws {
        let request = HaveRequest(name: SharedFileName("a b.txt")!, digest: Self.digest)
        #expect(request.line == "HAVE \(Self.hex) \"a b.txt\"")
        #expect(try FileServerRequest(parsing: request.line) == .have(request))
        #expect(try FileServerRequest(parsing: "have \(Self.hex)  a b.txt") == .have(request))
    }

    static let badRequests: [(String, FileStatus, String)] = [
        ("HAVE", .malformed, "HAVE: sha256 must be 64 hexadecimal digits"),
        ("HAVE \(hex)", .malformed, "HAVE: missing name"),
        ("HAVE \(hex) ../x", .badName, "bad name \"../x\": name contains '/' or '\\'"),
    ]

    @Test("bad HAVE lines are refused with the file server's codes", arguments: badRequests)
    func refuses(_ line: String, _ status: FileStatus, _ message: String) {
        #expect(throws: FileProtocolError(status, message)) { try FileServerRequest(parsing: line) }
    }

    static let goodReplies: [(String, HaveReplyHeader)] = [
        ("200 1048577 \(hex) 262144 1", .ok(size: 1_048_577, digest: digest, chunkSize: 262_144, length: 1)),
        ("200 \(2048 * 262_144) \(hex) 262144 256", .ok(size: 2048 * 262_144, digest: digest, chunkSize: 262_144, length: 256)),
        ("200 0 \(hex) 262144 0", .ok(size: 0, digest: digest, chunkSize: 262_144, length: 0)),
        ("404 not found: \"a\"", .refused(FileProtocolError(.notFound, "not found: \"a\""))),
    ]

    @Test("reply headers parse and encode", arguments: goodReplies)
    func replies(_ line: String, _ header: HaveReplyHeader) throws {
        #expect(try HaveReplyHeader(parsing: line) == header)
        #expect(header.line == line)
    }

    static let badReplies: [String] = [
        "200 1048577 \(hex) 262144 2",                 // the wrong length for the chunks
        "200 \(2049 * 262_144) \(hex) 262144 257",       // over the bound
        "200 1048577 \(hex) 1000 1",                   // not a power of two
        "200 1048577 \(hex) 262144 1 more",
        "200 1048577 \(hex)",
        "hello",
    ]

    @Test("hostile reply headers do not parse", arguments: badReplies)
    func hostileReplies(_ line: String) {
        #expect(throws: FileProtocolError.self) { try HaveReplyHeader(parsing: line) }
    }
}

import FerryTestSupport
import FerryWire
import Testing

@Suite("LAYER: piece-layer requests and reply headers")
struct PieceLayerRequestTests {
    static let hex = String(repeating: "ab", count: 32)
    static let digest = ContentDigest(hex: hex)!
    static let rootHex = String(repeating: "cd", count: 32)
    static let root = ContentDigest(hex: rootHex)!
    static let zeros = String(repeating: "0", count: 64)

    @Test("LAYER <sha256> <name> parses, quoted or bare, and encodes with the name quoted")
    func parses() throws {
        let request = PieceLayerRequest(name: SharedFileName("a b.txt")!, digest: Self.digest)
        #expect(request.line == "LAYER \(Self.hex) \"a b.txt\"")
        #expect(try PieceLayerRequest(parsing: request.line) == request)
        #expect(try PieceLayerRequest(parsing: "layer \(Self.hex.uppercased())   a b.txt  ") == request)
        #expect(try FileServerRequest(parsing: request.line) == .layer(request))
        #expect(try FileServerRequest(parsing: "GET 0 * \"a\"") == .get(FileRequest(name: SharedFileName("a")!)))
    }

    @Test("LAYER round-trips seeded random names", arguments: [41, 42] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<300 {
            let request = PieceLayerRequest(name: randomValidName(using: &generator), digest: randomDigest(using: &generator))
            #expect(try FileServerRequest(parsing: request.line) == .layer(request), "\(request.line.debugDescription)")
        }
    }

    static let badRequests: [(String, FileStatus, String)] = [
        ("LAYER", .malformed, "LAYER: sha256 must be 64 hexadecimal digits"),
        ("LAYER \(hex)", .malformed, "LAYER: missing name"),
        ("LAYER \(hex.dropLast()) a", .malformed, "LAYER: sha256 must be 64 hexadecimal digits"),
        ("LAYER \"a\" \(hex)", .malformed, "LAYER: sha256 must be 64 hexadecimal digits"),
        ("LAYER \(hex) \"a\" b", .malformed, "LAYER: unexpected text after the quoted name"),
        ("LAYER \(hex) ../x", .badName, "bad name \"../x\": name contains '/' or '\\'"),
        ("PUT 0 * a", .malformed, "expected GET <offset> <end|*> <name>"),
    ]

    @Test("bad LAYER lines are refused with the file server's codes", arguments: badRequests)
    func refuses(_ line: String, _ status: FileStatus, _ message: String) {
        #expect(throws: FileProtocolError(status, message)) { try FileServerRequest(parsing: line) }
    }

    // MARK: Reply headers

    static let goodReplies: [(String, PieceLayerReplyHeader)] = [
        ("200 1048577 \(hex) 262144 \(rootHex) 160", .ok(size: 1_048_577, digest: digest, chunkSize: 262_144, root: root, length: 160)),
        ("200 262144 \(hex) 262144 \(rootHex) 0", .ok(size: 262_144, digest: digest, chunkSize: 262_144, root: root, length: 0)),
        ("200 5 \(hex) 16384 \(rootHex) 0", .ok(size: 5, digest: digest, chunkSize: 16384, root: root, length: 0)),
        ("200 0 \(hex) 262144 \(zeros) 0", .ok(size: 0, digest: digest, chunkSize: 262_144, root: SharedFileEntry.zeroRoot, length: 0)),
        ("200 \(2048 * 262_144) \(hex) 262144 \(rootHex) 65536",
         .ok(size: 2048 * 262_144, digest: digest, chunkSize: 262_144, root: root, length: 65536)),
        ("404 not found: \"a\"", .refused(FileProtocolError(.notFound, "not found: \"a\""))),
        ("400 expected GET <offset> <end|*> <name>", .refused(FileProtocolError(.malformed, "expected GET <offset> <end|*> <name>"))),
    ]

    @Test("reply headers parse and encode", arguments: goodReplies)
    func replies(_ line: String, _ expected: PieceLayerReplyHeader) throws {
        #expect(try PieceLayerReplyHeader(parsing: line) == expected)
        #expect(expected.line == line)
    }

    static let hostileReplies: [(String, String)] = [
        ("no status", "hello"),
        ("continuation", "200-1 \(hex) 16384 \(rootHex) 0"),
        ("length not 32 per chunk", "200 1048577 \(hex) 262144 \(rootHex) 128"),
        ("a layer for one chunk", "200 262144 \(hex) 262144 \(rootHex) 32"),
        ("over 2048 chunks", "200 \(2049 * 262_144) \(hex) 262144 \(rootHex) \(2049 * 32)"),
        ("chunk size not a power of two", "200 1048577 \(hex) 262145 \(rootHex) 128"),
        ("chunk size below a block", "200 1048577 \(hex) 8192 \(rootHex) \(129 * 32)"),
        ("chunk size zero", "200 1048577 \(hex) 0 \(rootHex) 0"),
        ("zero root of a non-empty file", "200 5 \(hex) 16384 \(zeros) 0"),
        ("root of an empty file", "200 0 \(hex) 16384 \(rootHex) 0"),
        ("bad root", "200 5 \(hex) 16384 \(rootHex.dropLast()) 0"),
        ("bad sha", "200 5 \(hex.dropLast())x 16384 \(rootHex) 0"),
        ("trailing text", "200 5 \(hex) 16384 \(rootHex) 0 x"),
        ("no length", "200 5 \(hex) 16384 \(rootHex)"),
        ("huge size", "200 18446744073709551615 \(hex) 16384 \(rootHex) 0"),
    ]

    @Test("hostile reply headers do not parse", arguments: hostileReplies)
    func hostile(_ label: String, _ line: String) {
        let error = #expect(throws: FileProtocolError.self, "\(label)") { try PieceLayerReplyHeader(parsing: line) }
        #expect(error?.status == .malformed)
    }
}

import FerryTestSupport
import FerryWire
import Testing

/// The BEP 52 root on the tracker protocol: `FILE`/`ADD` after a quoted name, `SEND`'s `210-FILE`
/// lines, and the `ROOTS` feature word of `HELLO` replies.
@Suite("Roots on the tracker protocol")
struct RootWireTests {
    static let hex = String(repeating: "ab", count: 32)
    static let digest = ContentDigest(hex: hex)!
    static let rootHex = String(repeating: "cd", count: 32)
    static let root = ContentDigest(hex: rootHex)!
    static let zeros = String(repeating: "0", count: 64)

    static func entry(_ name: String, _ size: UInt64 = 12, root: ContentDigest? = RootWireTests.root) -> SharedFileEntry {
        SharedFileEntry(name: SharedFileName(name)!, size: size, digest: digest, root: root)
    }

    static let goodLines: [(String, TrackerRequest)] = [
        ("FILE 12 \(hex) \"a b\" \(rootHex)", .file(entry("a b"))),
        ("ADD 12 \(hex) \"a\" \(rootHex.uppercased())  ", .add(entry("a"))),
        ("add 12 \(hex)   \"a\"\t\(rootHex)", .add(entry("a"))),
        ("FILE 0 \(hex) \"e\" \(zeros)", .file(entry("e", 0, root: SharedFileEntry.zeroRoot))),
        ("FILE 12 \(hex) \"a\"", .file(entry("a", root: nil))),
        // A bare name is the rest of the line, as before roots: what looks like a root is part of it.
        ("FILE 12 \(hex) a \(rootHex)", .file(entry("a \(rootHex)", root: nil))),
    ]

    @Test("FILE and ADD take a root after a quoted name", arguments: goodLines)
    func parses(_ line: String, _ expected: TrackerRequest) throws {
        #expect(try TrackerRequest(parsing: line) == expected)
    }

    static let badLines: [(String, TrackerStatus, String)] = [
        ("FILE 12 \(hex) \"a\" \(rootHex.dropLast())", .malformed, "FILE: root must be 64 hexadecimal digits"),
        ("FILE 12 \(hex) \"a\" \(rootHex)0", .malformed, "FILE: root must be 64 hexadecimal digits"),
        ("ADD 12 \(hex) \"a\" \(rootHex.dropLast())g", .malformed, "ADD: root must be 64 hexadecimal digits"),
        ("FILE 12 \(hex) \"a\" \(rootHex) x", .malformed, "FILE: unexpected text at the end of the line"),
        ("FILE 12 \(hex) \"a\" \(zeros)", .malformed, "FILE: a zero root is only for an empty file"),
        ("ADD 0 \(hex) \"a\" \(rootHex)", .malformed, "ADD: the root of an empty file is 64 zeros"),
        ("FILE 12 \(hex) \"a/b\" \(rootHex)", .badName, "bad name \"a/b\": name contains '/' or '\\'"),
    ]

    @Test("bad roots are refused with 400, bad names still with 403", arguments: badLines)
    func refuses(_ line: String, _ status: TrackerStatus, _ message: String) {
        #expect(throws: TrackerProtocolError(status, message)) { try TrackerRequest(parsing: line) }
    }

    @Test("FILE and ADD with roots round-trip seeded random names and roots", arguments: [31, 32] as [UInt64])
    func roundTrip(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<300 {
            let size = UInt64.random(in: 1...UInt64(Int64.max), using: &generator)
            let entry = SharedFileEntry(name: randomValidName(using: &generator), size: size,
                                        digest: randomDigest(using: &generator), root: randomDigest(using: &generator))
            for request in [TrackerRequest.file(entry), .add(entry), .file(entry.withoutRoot)] {
                #expect(try TrackerRequest(parsing: request.line) == request, "\(request.line.debugDescription)")
            }
        }
    }

    @Test("a root only for an empty file is zero")
    func plausibleRoots() {
        #expect(SharedFileEntry.isPlausible(root: SharedFileEntry.zeroRoot, size: 0))
        #expect(!SharedFileEntry.isPlausible(root: SharedFileEntry.zeroRoot, size: 1))
        #expect(!SharedFileEntry.isPlausible(root: Self.root, size: 0))
        #expect(SharedFileEntry.isPlausible(root: Self.root, size: 1))
    }

    // MARK: SEND replies

    static func reply(_ lines: [String]) throws -> TrackerReply {
        var assembler = TrackerReplyAssembler()
        for line in lines { _ = try assembler.push(line) }
        return try #require(try assembler.push("200 SEND 1"))
    }

    @Test("a content group carries its root; one without is read as before")
    func sendReplyRoots() throws {
        let withRoot = LookupResult(name: "a", outcome: .found([
            HolderGroup(size: 12, digest: Self.digest, root: Self.root, holders: [Holder(host: "10.0.0.1", tcpPort: 5555, udpPort: 5555)]),
            HolderGroup(size: 12, digest: ContentDigest(hex: Self.rootHex)!, holders: [Holder(host: "10.0.0.2", tcpPort: 5555, udpPort: 0)]),
        ]))
        let lines = withRoot.replyLines.map(\.line)
        #expect(lines[0] == "210-FILE \"a\" 12 \(Self.hex) 1 \(Self.rootHex)")
        #expect(lines[2] == "210-FILE \"a\" 12 \(Self.rootHex) 1")
        #expect(try LookupResult.results(of: Self.reply(lines)) == [withRoot])
        // Words after the root are left for later versions.
        let later = try LookupResult.results(of: Self.reply(["210-FILE \"a\" 12 \(Self.hex) 0 \(Self.rootHex) more words"]))
        #expect(later == [LookupResult(name: "a", outcome: .found([HolderGroup(size: 12, digest: Self.digest, root: Self.root, holders: [])]))])
    }

    static let hostile: [(String, String)] = [
        ("root not hex", "210-FILE \"a\" 12 \(hex) 1 \(rootHex.dropLast())x"),
        ("root short", "210-FILE \"a\" 12 \(hex) 1 abcd"),
        ("zero root of a non-empty file", "210-FILE \"a\" 12 \(hex) 1 \(zeros)"),
        ("non-zero root of an empty file", "210-FILE \"a\" 0 \(hex) 1 \(rootHex)"),
    ]

    @Test("a bad root in a SEND reply is not trusted", arguments: hostile)
    func hostileRoots(_ label: String, _ line: String) throws {
        let error = #expect(throws: TrackerProtocolError.self, "\(label)") { try LookupResult.results(of: try Self.reply([line])) }
        #expect(error?.status == .malformed)
    }

    // MARK: HELLO features

    static let helloReplies: [(String, Set<String>)] = [
        ("HELLO 10.0.0.1 9", []),
        ("HELLO 10.0.0.1 9 ROOTS", ["ROOTS"]),
        ("HELLO ::1 9 roots LATER", ["ROOTS", "LATER"]),
        ("HELLO", []),
    ]

    @Test("the feature words of a HELLO reply", arguments: helloReplies)
    func features(_ text: String, _ expected: Set<String>) {
        #expect(TrackerFeature.features(ofHelloReply: text) == expected)
    }

    @Test("a HELLO reply's feature words are read up to a bound")
    func featureBound() {
        let words = (0..<1000).map { "F\($0)" }.joined(separator: " ")
        #expect(TrackerFeature.features(ofHelloReply: "HELLO 10.0.0.1 9 " + words).count == TrackerFeature.maximumFeatureCount)
    }
}

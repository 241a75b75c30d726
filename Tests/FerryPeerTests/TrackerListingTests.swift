import FerryPeer
import FerryWire
import Testing

@Suite("TrackerListing: what `ferry list` prints")
struct TrackerListingTests {
    static let digestA = ContentDigest(hex: "d06852060d5e970405dd30ba8ee070fa12f30f01a9b9b8a9db44afa067cd32ae")!
    static let digestB = ContentDigest(hex: "4ae65533904c9e2b555a74d3ac050223513025b4322fddbf424e5f8ab7d2bf2b")!

    static func reply(_ lines: [String], final: String) -> TrackerReply {
        TrackerReply(lines: lines.map { TrackerReplyLine(status: .listEntry, isFinal: false, text: $0) },
                     final: TrackerReplyLine(status: .ok, isFinal: true, text: final))
    }

    @Test("a LIST reply is read with its entries, and `more` on its last line marks it truncated")
    func reading() throws {
        let whole = try TrackerListing(reply: Self.reply(["\"a.txt\" 18 \(Self.digestA.hex) 2"], final: "LIST 1"))
        #expect(whole == TrackerListing(entries: [ListEntry(name: "a.txt", size: 18, digest: Self.digestA, holderCount: 2)],
                                        isTruncated: false))
        let cut = try TrackerListing(reply: Self.reply(["\"a.txt\" 18 \(Self.digestA.hex) 2"], final: "LIST 1 more"))
        #expect(cut.isTruncated)
    }

    @Test("a refusal is thrown with its code")
    func refusal() {
        let refused = TrackerReply(lines: [], final: TrackerReplyLine(status: .malformed, isFinal: true, text: "LIST: unexpected text"))
        #expect(throws: TrackerProtocolError.self) { try TrackerListing(reply: refused) }
    }

    @Test("the table: aligned columns, human sizes, holders, the start of the SHA-256, and a count line")
    func table() {
        let listing = TrackerListing(entries: [
            ListEntry(name: "file1.txt", size: 18, digest: Self.digestA, holderCount: 1),
            ListEntry(name: "big movie.mkv", size: 3 << 30, digest: Self.digestB, holderCount: 12),
        ], isTruncated: false)
        #expect(listing.table == """
            NAME              SIZE  HOLDERS  SHA-256
            file1.txt         18 B        1  d06852060d5e…
            big movie.mkv  3.0 GiB       12  4ae65533904c…
            2 files

            """)
    }

    @Test("count lines say 1 file, 0 files, and when the tracker listed only the first ones",
          arguments: [(0, false, "0 files"), (1, false, "1 file"), (2, false, "2 files"),
                      (2, true, "2 files (more match: only the first 2 are listed; narrow the pattern)")])
    func countLine(count: Int, truncated: Bool, expected: String) {
        let entries = (0..<count).map { ListEntry(name: "f\($0)", size: 1, digest: Self.digestA, holderCount: 1) }
        let listing = TrackerListing(entries: entries, isTruncated: truncated)
        #expect(listing.countLine == expected)
        if count == 0 { #expect(listing.table == expected + "\n") }
    }

    @Test("names that need it are quoted, control characters shown as U+FFFD", arguments: [
        ("plain name.txt", "plain name.txt"), (" edge", "\" edge\""), ("a, b", "\"a, b\""), ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("caf\u{E9}", "caf\u{E9}"),
    ])
    func names(raw: String, shown: String) {
        let listing = TrackerListing(entries: [ListEntry(name: raw, size: 1, digest: Self.digestA, holderCount: 1)], isTruncated: false)
        let row = listing.table.split(separator: "\n")[1]
        #expect(row.hasPrefix(shown + " "), "\(row)")
    }

    @Test("one JSON object per entry, keys in a fixed order")
    func json() {
        let entry = ListEntry(name: "a \"b\".txt", size: 18, digest: Self.digestA, holderCount: 2)
        #expect(TrackerListing.jsonLine(entry)
            == #"{"name":"a \"b\".txt","size":18,"sha256":"\#(Self.digestA.hex)","holders":2}"#)
    }
}

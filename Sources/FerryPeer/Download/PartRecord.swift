import FerryWire

/// The record beside a part file (``PartFile/recordName(for:digest:)``): which content its bytes are
/// of and, for a download fetched chunk by chunk, which chunks were verified.
///
/// ```
/// ferry-part 1 <size> <sha256>
/// chunks <chunk-size> <root> <bitmap>
/// ```
///
/// The first line is written (and flushed) before the first byte. The second line is there only for
/// a swarm download: its BEP 52 chunk size and root, and a bitmap with one bit per chunk (the first
/// chunk is the high bit of the first byte, as in BitTorrent's bitfield), in lowercase hex, spare
/// bits zero. It is rewritten in place after each verified chunk, once the chunk's bytes are
/// written, without a flush: after a crash it may lag behind, and it is only ever a hint, because a
/// resumed download hashes every chunk the bitmap claims again before keeping it.
public struct PartRecord: Equatable, Sendable {
    public static let magic = "ferry-part"
    public static let version = 1
    /// The most bytes a record can take: the first line, and a second one for 2048 chunks.
    public static let maximumLength = 2048

    public struct Chunks: Equatable, Sendable {
        public var chunkSize: UInt64
        public var root: ContentDigest
        public var verified: [Bool]

        public init(chunkSize: UInt64, root: ContentDigest, verified: [Bool]) {
            self.chunkSize = chunkSize
            self.root = root
            self.verified = verified
        }

        /// Bytes at the start of the file that are in verified chunks, in a row.
        public func prefixLength(fileSize: UInt64) -> UInt64 {
            let chunks = verified.firstIndex(of: false) ?? verified.count
            return min(UInt64(chunks) * chunkSize, fileSize)
        }
    }

    public var size: UInt64
    public var digest: ContentDigest
    public var chunks: Chunks?

    public init(size: UInt64, digest: ContentDigest, chunks: Chunks? = nil) {
        self.size = size
        self.digest = digest
        self.chunks = chunks
    }

    /// The first line: the content, as every record starts.
    public var contentLine: String {
        "\(Self.magic) \(Self.version) \(size) \(digest.hex)\n"
    }

    /// The record's text; the same length for the same content and chunk count.
    public var text: String {
        guard let chunks else { return contentLine }
        let bitmap = ChunkBitmap.bytes(of: chunks.verified)
        return contentLine + "chunks \(chunks.chunkSize) \(chunks.root.hex) \(Self.hex(bitmap))\n"
    }

    /// A record read back: the first line must be exact; a second line that does not parse, or that
    /// does not fit the size, is left out (the bytes are then treated as a plain in-order download).
    public init?(parsing text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 2, text.hasSuffix("\n") else { return nil }
        let first = lines[0].split(separator: " ", omittingEmptySubsequences: false)
        guard first.count == 4, first[0] == Self.magic, first[1] == "\(Self.version)",
              let size = UInt64(first[2]), first[2] == "\(size)",
              let digest = ContentDigest(hex: first[3]), first[3] == digest.hex
        else { return nil }
        self.size = size
        self.digest = digest
        if lines.count == 3 {
            chunks = Self.chunks(String(lines[1]), size: size)
        } else if lines.count != 2 {
            return nil
        }
    }

    private static func chunks(_ line: String, size: UInt64) -> Chunks? {
        let words = line.split(separator: " ", omittingEmptySubsequences: false)
        guard words.count == 4, words[0] == "chunks",
              let chunkSize = UInt64(words[1]), MerkleTree.isValidChunkSize(chunkSize), size > 0,
              let root = ContentDigest(hex: words[2]), words[2] == root.hex
        else { return nil }
        let count = Int((size - 1) / chunkSize + 1)
        let hex = Array(words[3].utf8)
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        for pair in stride(from: 0, to: hex.count, by: 2) {
            guard let high = hexValue(hex[pair]), let low = hexValue(hex[pair + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        guard let verified = ChunkBitmap.chunks(from: bytes, count: count) else { return nil }   // spare bits are zero
        return Chunks(chunkSize: chunkSize, root: root, verified: verified)
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0F)]] }, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

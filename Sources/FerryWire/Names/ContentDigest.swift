/// A SHA-256 digest of a file's content, written on the wire as 64 lowercase hexadecimal digits.
///
/// `FerryWire` computes no hashes (it depends on NIOCore only); this is the value that travels.
public struct ContentDigest: Hashable, Sendable, CustomStringConvertible {
    /// The number of bytes in a SHA-256 digest.
    public static let byteCount = 32

    /// The 32 bytes of the digest.
    ///
    /// (Held in an array, not inline: four inline words made structs that hold a digest large enough
    /// that Swift 6.3 at -Onone sized the swarm download's async frame too small, a heap overflow the
    /// address sanitizer found.)
    public let bytes: [UInt8]

    /// Wraps 32 digest bytes; returns `nil` for any other count.
    public init?(bytes: some Sequence<UInt8>) {
        let bytes = Array(bytes)
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Parses 64 hexadecimal digits (either case); returns `nil` for anything else.
    public init?(hex: some StringProtocol) {
        var hex = String(hex)
        guard let bytes = hex.withUTF8({ Self.parse(hexDigits: UnsafeRawBufferPointer($0)) }) else { return nil }
        self.bytes = bytes
    }

    /// Parses 64 hexadecimal digits (either case) from UTF-8 bytes, without making a `String` of
    /// them (a tracker parses one or two per `FILE` line); returns `nil` for anything else.
    public init?(hexDigits: UnsafeRawBufferPointer) {
        guard let bytes = Self.parse(hexDigits: hexDigits) else { return nil }
        self.bytes = bytes
    }

    private static func parse(hexDigits utf8: UnsafeRawBufferPointer) -> [UInt8]? {
        guard utf8.count == byteCount * 2 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(byteCount)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// The digest as 64 lowercase hexadecimal digits.
    public var hex: String {
        String(unsafeUninitializedCapacity: Self.byteCount * 2) { out in
            var index = 0
            for byte in bytes {
                out[index] = Self.digits[Int(byte >> 4)]
                out[index + 1] = Self.digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The first 12 hexadecimal digits, for display.
    public var shortHex: String { String(hex.prefix(12)) }

    public var description: String { hex }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return character - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

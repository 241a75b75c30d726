import FerryTestSupport
import FerryWire
import Testing

@Suite("ContentDigest: 32 bytes, 64 hex digits on the wire")
struct ContentDigestTests {
    static let sha256OfABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    @Test("parses lowercase hex and writes it back unchanged")
    func parsesLowercase() throws {
        let digest = try #require(ContentDigest(hex: Self.sha256OfABC))
        #expect(digest.hex == Self.sha256OfABC)
        #expect(digest.description == Self.sha256OfABC)
        #expect(digest.shortHex == "ba7816bf8f01")
        #expect(digest.bytes.count == 32)
        #expect(digest.bytes.first == 0xBA)
        #expect(digest.bytes.last == 0xAD)
    }

    @Test("parses uppercase and mixed case, always writes lowercase")
    func parsesAnyCase() throws {
        let upper = try #require(ContentDigest(hex: Self.sha256OfABC.uppercased()))
        let mixed = try #require(ContentDigest(hex: "BA7816bf8F01CFEA414140de5dae2223b00361a396177a9cb410ff61f20015AD"))
        #expect(upper.hex == Self.sha256OfABC)
        #expect(mixed == upper)
    }

    @Test("parses a Substring as well as a String")
    func parsesSubstring() {
        let line = "x \(Self.sha256OfABC) y"
        let field = line.split(separator: " ")[1]
        #expect(ContentDigest(hex: field)?.hex == Self.sha256OfABC)
    }

    static let badHex: [String] = [
        "",
        String(Self.sha256OfABC.dropLast()),                      // 63 digits
        Self.sha256OfABC + "0",                                   // 65 digits
        "g" + String(Self.sha256OfABC.dropFirst()),               // not hex
        String(Self.sha256OfABC.dropLast()) + " ",                // space
        "0x" + String(Self.sha256OfABC.dropFirst(2)),             // prefix
        "-" + String(Self.sha256OfABC.dropFirst()),
        String(repeating: "é", count: 32),                        // 64 bytes of UTF-8, no hex
        String(repeating: "０", count: 64),                       // full-width digits
        String(Self.sha256OfABC.dropLast()) + "\u{0}",
    ]

    @Test("refuses anything but exactly 64 hex digits", arguments: badHex)
    func refusesBadHex(_ text: String) {
        #expect(ContentDigest(hex: text) == nil)
    }

    @Test("wraps exactly 32 bytes", arguments: [0, 1, 31, 33, 64])
    func refusesOtherByteCounts(_ count: Int) {
        #expect(ContentDigest(bytes: [UInt8](repeating: 7, count: count)) == nil)
    }

    @Test("bytes and hex round-trip for seeded random digests")
    func roundTrip() throws {
        var generator = SeededGenerator(seed: 0xD16E57)
        for _ in 0..<500 {
            let bytes = generator.bytes(32)
            let digest = try #require(ContentDigest(bytes: bytes))
            #expect(digest.bytes == bytes)
            #expect(digest.hex.count == 64)
            #expect(digest.hex.allSatisfy { "0123456789abcdef".contains($0) })
            #expect(ContentDigest(hex: digest.hex) == digest)
            #expect(ContentDigest(hex: digest.hex.uppercased()) == digest)
        }
    }

    @Test("digests differing in any one byte differ; equal ones are one element of a set")
    func everyByteCounts() throws {
        let base = [UInt8](repeating: 0x5A, count: 32)
        let digest = try #require(ContentDigest(bytes: base))
        #expect(Set([digest, try #require(ContentDigest(hex: digest.hex))]).count == 1)
        for position in 0..<32 {
            var other = base
            other[position] ^= 0x01
            #expect(try #require(ContentDigest(bytes: other)) != digest, "byte \(position)")
        }
    }

    @Test("every byte value has its two digits")
    func everyByte() throws {
        for value in 0...255 {
            let digest = try #require(ContentDigest(bytes: [UInt8](repeating: UInt8(value), count: 32)))
            let pair = String(value, radix: 16).count == 1 ? "0" + String(value, radix: 16) : String(value, radix: 16)
            #expect(digest.hex == String(repeating: pair, count: 32))
        }
    }

    @Test("equal digests hash alike; different ones differ")
    func hashable() {
        let a = digest(repeating: 1), b = digest(repeating: 1), c = digest(repeating: 2)
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }
}

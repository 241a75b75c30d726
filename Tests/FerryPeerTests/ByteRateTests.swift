@testable import FerryPeer
import Testing

@Suite("ByteRate: --rate-limit values")
struct ByteRateTests {
    static let good: [(String, UInt64)] = [
        ("500000", 500_000),
        ("1", 1),
        ("1B", 1),
        ("800K", 800_000),
        ("800k", 800_000),
        ("800KB", 800_000),
        ("8M", 8_000_000),
        ("8mb", 8_000_000),
        ("1.5G", 1_500_000_000),
        ("2GB", 2_000_000_000),
        ("8KiB", 8192),
        ("8kib", 8192),
        ("8MiB", 8_388_608),
        ("8MIB", 8_388_608),
        ("1GiB", 1_073_741_824),
        ("1.5KiB", 1536),
        ("10MB/s", 10_000_000),
        ("10mb/S", 10_000_000),
        ("100/s", 100),
        ("100B/s", 100),
        (" 64K ", 64_000),
        ("0.5K", 500),
        (".5K", 500),
        ("2.9", 2),                    // whole bytes per second, rounded down
        ("999999G", 999_999_000_000_000),
        ("20 MiB", 20_971_520),           // as `--rate-limit 20 MiB` comes
        ("5 K", 5000),
        ("5\tK", 5000),
        ("5 /s", 5),
    ]

    @Test("numbers with K/M/G (powers of 1000) or KiB/MiB/GiB (powers of 1024)", arguments: good)
    func parses(_ text: String, _ bytes: UInt64) throws {
        #expect(try ByteRate(parsing: text).bytesPerSecond == bytes)
    }

    static let notRates: [String] = [
        "", " ", "K", "/s", "abc", "-5", "+5", "5X", "1e3", "5KK", "5Ki", "5kbit", "5kbps", "5 X",
        "1.5.5", "..", ".", "inf", "nan", "٥", "５", "0x10", "5KiB/s/s",
    ]

    @Test("anything else is not a rate", arguments: notRates)
    func refuses(_ text: String) {
        let error = #expect(throws: PeerError.self) { try ByteRate(parsing: text) }
        #expect(error?.code == .badConfiguration)
        #expect(error?.message == "\(text) is not a rate; use bytes per second with K, M, G, KiB, MiB or GiB, e.g. 8MiB")
    }

    static let outOfRange: [String] = ["0.5", "0.9B", "1000000G", "1000000000000000", "99999999999999999999", "1000000GiB"]

    @Test("rates below 1 B/s or from 1 PB/s up are out of range", arguments: outOfRange)
    func refusesOutOfRange(_ text: String) {
        let error = #expect(throws: PeerError.self) { try ByteRate(parsing: text) }
        #expect(error?.code == .badConfiguration)
        #expect(error?.message == "\(text) is out of range: from 1 B/s up to 1 PB/s")
    }

    @Test("zero is not a rate", arguments: ["0", "0K", "0.0", "000"])
    func zero(_ text: String) {
        let error = #expect(throws: PeerError.self) { try ByteRate(parsing: text) }
        #expect(error?.message.hasSuffix("is not a rate; use bytes per second with K, M, G, KiB, MiB or GiB, e.g. 8MiB") == true)
    }

    @Test("a rate prints in binary units", arguments: [
        (UInt64(500), "500 B/s"), (8_388_608, "8.0 MiB/s"), (1536, "1.5 KiB/s"), (1_000_000, "976.6 KiB/s"),
    ])
    func description(_ bytes: UInt64, _ text: String) {
        #expect(ByteRate(bytesPerSecond: bytes).description == text)
    }
}

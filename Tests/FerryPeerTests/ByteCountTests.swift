@testable import FerryPeer
import Testing

@Suite("ByteCount: human-readable sizes")
struct ByteCountTests {
    @Test("binary units with one decimal", arguments: [
        (UInt64(0), "0 B"), (1, "1 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (1_048_576, "1.0 MiB"),
        (3 << 20, "3.0 MiB"), (1 << 30, "1.0 GiB"), (1 << 40, "1.0 TiB"), (1 << 50, "1024.0 TiB"),
        (UInt64.max, "16777216.0 TiB"),
    ])
    func format(_ bytes: UInt64, _ text: String) {
        #expect(ByteCount.format(bytes) == text)
    }

    @Test("Duration.seconds", arguments: [
        (Duration.seconds(2), 2.0), (.milliseconds(1500), 1.5), (.zero, 0.0), (.nanoseconds(1), 1e-9),
    ])
    func durationSeconds(_ duration: Duration, _ seconds: Double) {
        #expect(duration.seconds == seconds)
    }
}

@Suite("counted: a count with its noun")
struct CountedTests {
    @Test("singular for exactly one, plural otherwise")
    func plurals() {
        #expect(counted(1, "file") == "1 file")
        #expect(counted(0, "file") == "0 files")
        #expect(counted(UInt64(2), "byte") == "2 bytes")
        #expect(counted(1, "peer") == "1 peer")
        #expect(counted(3, "entry", plural: "entries") == "3 entries")
    }
}

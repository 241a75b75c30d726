import FerryPeer
import FerryTestSupport
import Foundation
import Testing

extension EndToEndTests {
    /// `ferry list` (the binary) against a real tracker with real peers.
    @Suite("ferry list", .enabled(if: ProcessSignalTests.binary != nil))
    struct ListCommandEndToEndTests {
        static func list(_ arguments: [String], tracker: TestTracker) throws -> (status: Int32, output: String, errors: String) {
            try CommandLineTests.run(["list"] + arguments + ["--server", "127.0.0.1:\(tracker.port)", "--host", "127.0.0.1"])
        }

        @Test("a table of name, size, holders and digest, a count line; patterns, JSON lines, and nothing matching")
        func listing() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let one = try await TestPeer.start(host: host(123), tracker: tracker.endpoint, in: temporary, files: [
                "file1.txt": Array("hello from peer 2\n".utf8), "big.bin": sampleBytes(count: 3 << 20, seed: 7),
            ])
            let two = try await TestPeer.start(host: host(124), tracker: tracker.endpoint, in: temporary, files: [
                "file1.txt": Array("hello from peer 2\n".utf8),
            ])

            let all = try Self.list([], tracker: tracker)
            #expect(all.status == 0, "\(all.errors)")
            #expect(all.output == """
                NAME          SIZE  HOLDERS  SHA-256
                big.bin    3.0 MiB        1  \(String(try #require(Self.digest(of: one, "big.bin")).prefix(12)))…
                file1.txt     18 B        2  d06852060d5e…
                2 files

                """)

            let one1 = try Self.list(["FILE1", "--json"], tracker: tracker)
            #expect(one1.status == 0, "\(one1.errors)")
            #expect(one1.output == #"{"name":"file1.txt","size":18,"sha256":"d06852060d5e970405dd30ba8ee070fa12f30f01a9b9b8a9db44afa067cd32ae","holders":2}"# + "\n")

            let glob = try Self.list(["*.bin"], tracker: tracker)
            #expect(glob.output.hasSuffix("\n1 file\n"), "\(glob.output)")

            let none = try Self.list(["nothing-like-this"], tracker: tracker)
            #expect(none.status == 0)
            #expect(none.output == "0 files\n")
            let noneJSON = try Self.list(["nothing-like-this", "--json"], tracker: tracker)
            #expect(noneJSON.status == 0)
            #expect(noneJSON.output.isEmpty)

            await one.kill()
            await two.kill()
            await tracker.stop()
        }

        @Test("a name typed decomposed lists the file shared composed")
        func canonical() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let peer = try await TestPeer.start(host: host(125), tracker: tracker.endpoint, in: temporary, files: ["caf\u{E9}.txt": [1, 2, 3]])
            let result = try Self.list(["cafe\u{301}", "--json"], tracker: tracker)
            #expect(result.status == 0, "\(result.errors)")
            #expect(result.output.hasPrefix(#"{"name":"caf\#u{E9}.txt","size":3,"#), "\(result.output)")
            await peer.kill()
            await tracker.stop()
        }

        @Test("exit status 1 when the tracker cannot be reached, 64 for bad usage")
        func exitStatuses() throws {
            // Port 9 (discard) on an address nobody listens on: refused at once.
            let unreachable = try CommandLineTests.run(["list", "--server", "\(host(126)):9"])
            #expect(unreachable.status == 1)
            #expect(unreachable.errors.contains("cannot reach the tracker at \(host(126)):9"), "\(unreachable.errors)")
            #expect(unreachable.output.isEmpty)
            let twoPatterns = try CommandLineTests.run(["list", "a", "b"])
            #expect(twoPatterns.status == 64)
            let control = try CommandLineTests.run(["list", "a\nb"])
            #expect(control.status == 64)
            #expect(control.errors.contains("control character"), "\(control.errors)")
        }

        static func digest(of peer: TestPeer, _ name: String) -> String? {
            peer.node.share.snapshot.files.values.first { $0.name.rawValue == name }?.digest.hex
        }
    }
}

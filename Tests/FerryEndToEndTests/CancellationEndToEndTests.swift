import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EndToEndTests {
    /// Issue 11: a download stopped by its user ends `cancelled`, says what it kept, and blames no
    /// holder. Hosts 100 and 101.
    @Suite("Cancelled downloads", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct CancellationTests {
        static let size = 3 << 20

        @Test("a download cancelled part-way ends `cancelled` with what it kept, and no holder failed",
              arguments: [1, 8])
        func cancelled(maximumSources: Int) async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: Self.size, seed: 1001)
            var peers: [TestPeer] = []
            for index in 0..<2 {
                peers.append(try await TestPeer.start(host: host(100 + index), tracker: tracker.endpoint, in: temporary,
                                                      files: ["big.bin": bytes], rateLimit: ByteRate(bytesPerSecond: 512 << 10)))
            }
            let into = try temporary.subfolder("into")
            let progressed = AsyncStream.makeStream(of: Void.self)
            let run = Task {
                try await download(["big.bin"], from: tracker, into: into, maximumSources: maximumSources) { event in
                    if case .progress(_, let received, _) = event, received >= 256 << 10 { progressed.continuation.yield() }
                }
            }
            var iterator = progressed.stream.makeAsyncIterator()
            await iterator.next()
            run.cancel()
            let outcome = try #require(try await run.value.first)
            #expect(outcome.status == .cancelled, "\(outcome.status): \(outcome.message ?? "")")
            let message = outcome.message ?? ""
            #expect(message.hasPrefix("cancelled; ") && message.hasSuffix("big.bin.part; run the same command to resume"), "\(message)")
            #expect(outcome.attempts.allSatisfy { $0.error == nil }, "\(outcome.attempts)")
            #expect(FileManager.default.fileExists(atPath: into + "/big.bin.part"))
            #expect(outcome.jsonLine.contains(#""status":"cancelled""#))
            // What this run received counts, though no holder failed.
            let bytesField = #""bytes":\#(outcome.bytes)"#
            #expect(outcome.bytes > 0 && (outcome.jsonLine.contains(bytesField + ",") || outcome.jsonLine.contains(bytesField + "}")),
                    "\(outcome.jsonLine)")
            #expect(TransferReport.resultText(outcome, color: false).hasPrefix("◼ \"big.bin\" cancelled; "))
            for peer in peers { await peer.kill() }
            await tracker.stop()
        }
    }
}

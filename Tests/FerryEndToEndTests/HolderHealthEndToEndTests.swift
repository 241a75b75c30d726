import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import Testing

extension EndToEndTests {
    /// Downloaders tell the tracker what worked (`REPORT`), and the tracker ranks holders by it
    /// (issue 10). Hosts 122 and 123 are this suite's own.
    @Suite("Holder health over loopback", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct HolderHealthEndToEndTests {
        @Test("a holder whose file server is down sinks below one that serves, after one download")
        func deadFileServerSinks() async throws {
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let bytes = sampleBytes(count: 200_000, seed: 122)
            // Registered first, so without reports it would be offered first.
            let dead = try await TestPeer.start(host: host(122), tracker: tracker.endpoint, in: temporary,
                                                files: ["ranked.bin": bytes], serveFiles: false)
            let live = try await TestPeer.start(host: host(123), tracker: tracker.endpoint, in: temporary,
                                                files: ["ranked.bin": bytes])
            let lookups = try await tracker.connect()
            #expect(try await lookups.lookup(["ranked.bin"]).first?.holderHosts == [host(122), host(123)])

            let downloads = try temporary.subfolder("downloads")
            let outcomes = try await download(["ranked.bin"], from: tracker, into: downloads)
            #expect(outcomes.map(\.status) == [.ok], "\(outcomes)")
            expectFile(downloads + "/ranked.bin", holds: bytes)
            #expect(outcomes.first?.holderReports.map(\.host).sorted() == [host(122), host(123)], "\(outcomes)")

            // The reports went on the downloader's connection before it closed: the next lookup sees them.
            #expect(try await lookups.lookup(["ranked.bin"]).first?.holderHosts == [host(123), host(122)])
            let reply = try await lookups.send([TrackerRequest.report(
                HolderReport(host: host(124), tcpPort: 5555, verdict: .failed)).line])
            #expect(reply.final.status == .notFound && reply.final.text == "NOHOLDER \(host(124)) 5555", "\(reply.final)")
            await lookups.close()
            await dead.kill()
            await live.kill()
            await tracker.stop()
        }
    }
}

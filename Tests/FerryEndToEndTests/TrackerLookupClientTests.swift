import FerryPeer
import FerryTestSupport
import FerryWire
import Testing

extension EndToEndTests {
    @Suite("TrackerLookupClient: a one-shot downloader's lookups outlive its connection")
    struct TrackerLookupClientTests {
        @Test("a lookup after the tracker closed the connection is made again on a new one")
        func lookupAfterClose() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let database = temporary.path + "/tracker.sqlite"
            let first = try await TestTracker.start(database: database)
            let client = try await TrackerLookupClient.connect(to: first.endpoint, localHost: "127.0.0.1")
            #expect(try await client.lookup(["nothing.txt"]).map(\.name) == ["nothing.txt"])
            // The tracker goes away and comes back on the same port: the client's connection is closed.
            await first.stop()
            let second = try await TestTracker.start(port: first.port, database: database)
            let peer = try await TestPeer.start(host: host(2), tracker: second.endpoint, in: temporary,
                                                files: ["back.txt": sampleBytes(count: 5, seed: 9)])
            let results = try await client.lookup(["back.txt"])
            guard case .found(let groups) = try #require(results.first).outcome else {
                Issue.record("back.txt not found: \(results)")
                return
            }
            #expect(groups.flatMap(\.holders).map(\.host) == [host(2)])
            await client.close()
            await peer.kill()
            await second.stop()
        }
    }
}

import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import Testing

extension EndToEndTests {
    /// `--server a:4444,b:4444`: a peer holds one session, to the first tracker that answers, and moves
    /// to the next when that one goes away; a one-shot client asks the first that answers (issue 10).
    /// Hosts 120 and 121 are this suite's own.
    @Suite("Several trackers: a peer fails over", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct TrackerFailoverEndToEndTests {
        @Test("a peer given two trackers registers with the first, and with the second once the first is gone")
        func peerMovesToTheSecondTracker() async throws {
            let first = try await TestTracker.start()
            let second = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let share = try temporary.subfolder("share")
            try write(Array("moved".utf8), to: share + "/moved.txt")
            let events = EventLog<TrackerSession.Event>()
            var configuration = EndToEndTests.PeerLifecycleTests.configuration(
                first.endpoint, host: host(120), share: share, downloads: try temporary.subfolder("downloads"), events: events)
            configuration.servers = [first.endpoint, second.endpoint]
            let node = try PeerNode(configuration: configuration, logger: quietLogger)
            let task = Task { try await node.run() }

            #expect(await events.wait { $0 == .registered(seenAs: host(120), tracker: first.endpoint) })
            #expect(await events.wait { $0 == .announced(files: 1) })
            #expect(node.session.connectedTracker == first.endpoint)
            let before = try await second.connect()
            #expect(try await before.lookup(["moved.txt"]).first?.outcome == .notFound, "only the first tracker knows it")
            await before.close()

            await first.stop()
            #expect(await events.wait { $0 == .registered(seenAs: host(120), tracker: second.endpoint) })
            #expect(await events.wait(for: 2) { $0 == .announced(files: 1) })
            let after = try await second.connect()
            let found = try await after.lookup(["moved.txt"])
            #expect(found.first?.holderHosts == [host(120)], "\(found)")
            await after.close()
            #expect(node.session.connectedTracker == second.endpoint)

            task.cancel()
            _ = await withinWatchdog(.seconds(10)) { try await task.value }
            await second.stop()
        }

        @Test("a one-shot client skips a tracker that does not answer")
        func lookupClientSkipsADeadTracker() async throws {
            let live = try await TestTracker.start()
            // A port that was just free: nothing listens there.
            let gone = try await TestTracker.start()
            let dead = gone.endpoint
            await gone.stop()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let peer = try await TestPeer.start(host: host(121), tracker: live.endpoint, in: temporary,
                                                files: ["here.txt": Array("here".utf8)])
            let client = try await TrackerLookupClient.connect(to: [dead, live.endpoint], localHost: "127.0.0.1")
            let found = try await client.lookup(["here.txt"])
            #expect(found.first?.holderHosts == [host(121)], "\(found)")
            await client.close()

            await #expect(throws: PeerError.self) {
                _ = try await TrackerLookupClient.connect(to: [dead], localHost: "127.0.0.1")
            }
            await peer.kill()
            await live.stop()
        }
    }
}

extension LookupResult {
    /// The hosts of every holder found, in the order the tracker gave them (empty when none).
    var holderHosts: [String] {
        guard case .found(let groups) = outcome else { return [] }
        return groups.flatMap { $0.holders.map(\.host) }
    }
}

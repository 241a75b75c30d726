import FerryPeer
import FerryTestSupport
import FerryWire
import NIOConcurrencyHelpers
import NIOPosix
import Testing

extension EndToEndTests {
    /// Issue 9: a peer announces each file's BEP 52 root to a tracker that takes roots, and `SEND`
    /// gives it back; to an older tracker (no `ROOTS` in its `HELLO` reply) it announces as before.
    /// Hosts 80 and up.
    @Suite("Roots announced over loopback", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct RootAnnouncementTests {
        @Test("a peer's roots reach SEND replies, the same as hashing the file gives")
        func rootsThroughTheTracker() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let files = ["big.bin": sampleBytes(count: 700_000, seed: 91), "small.bin": sampleBytes(count: 5, seed: 92),
                         "empty.bin": []]
            let peer = try await TestPeer.start(host: host(80), tracker: tracker.endpoint, in: temporary, files: files)
            let client = try await TrackerLookupClient.connect(to: tracker.endpoint, localHost: "127.0.0.1")
            let results = try await client.lookup(files.keys.sorted())
            for result in results {
                guard case .found(let groups) = result.outcome, let group = groups.first else {
                    Issue.record("\(result.name) not found: \(result)")
                    continue
                }
                let hashes = try ContentHasher.hashes(ofFileAt: peer.folder + "/" + result.name)
                #expect(group.digest == hashes.digest, "\(result.name)")
                #expect(group.root == hashes.tree.root.digest, "\(result.name)")
                #expect(group.holders.map(\.host) == [peer.host], "\(result.name)")
            }
            #expect(results.count == 3)
            await client.close()
            await peer.kill()
            await tracker.stop()
        }

        @Test("a download into the share is shared with its tree from the read-back, without hashing it again")
        func downloadIntoShare() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 700_000, seed: 94)
            let source = try await TestPeer.start(host: host(82), tracker: tracker.endpoint, in: temporary, files: ["big.bin": bytes])
            let share = try temporary.subfolder("share-83")
            let hashed = NIOLockedValueBox<[String]>([])
            let hasher: Share.FileHasher = { path throws(PeerError) in
                hashed.withLockedValue { $0.append(path) }
                return try Share.sha256(path)
            }
            let events = EventLog<TrackerSession.Event>()
            let node = try PeerNode(configuration: PeerLifecycleTests.configuration(
                tracker.endpoint, host: host(83), share: share, downloads: share, cache: temporary.path + "/hashes.sqlite",
                events: events, hasher: hasher), logger: quietLogger)
            let task = Task { try await node.run() }
            #expect(await events.wait { $0 == .announced(files: 0) })
            let outcome = try #require(await node.downloader().download(["big.bin"]).first)
            #expect(outcome.status == .ok, "\(outcome.message ?? "")")
            try await node.share.rescan(on: NIOThreadPool.singleton)
            let file = try #require(node.share.file(named: SharedFileName("big.bin")!))
            #expect(file.hashes == (try ContentHasher.hashes(ofFileAt: share + "/big.bin")))
            #expect(file.tree.pieceLayer.count == 3)
            #expect(hashed.withLockedValue { $0 }.isEmpty, "the downloaded file was hashed again")
            task.cancel()
            _ = await withinWatchdog(.seconds(10)) { try await task.value }
            await source.kill()
            await tracker.stop()
        }

        @Test("to a tracker that does not list ROOTS, a peer announces without roots")
        func olderTracker() async throws {
            let tracker = try await ScriptedTracker.start(.answer)
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let share = try temporary.subfolder("share")
            try write(sampleBytes(count: 300_000, seed: 93), to: share + "/a.bin")
            let events = EventLog<TrackerSession.Event>()
            let node = try PeerNode(configuration: PeerLifecycleTests.configuration(
                tracker.endpoint, host: host(81), share: share, downloads: try temporary.subfolder("downloads"), events: events),
                logger: quietLogger)
            let task = Task { try await node.run() }
            #expect(await events.wait { $0 == .announced(files: 1) })
            task.cancel()
            _ = await withinWatchdog(.seconds(10)) { try await task.value }
            await tracker.stop()
            let lines = try #require(tracker.connections.first).lines
            let fileLines = lines.filter { $0.hasPrefix("FILE ") }
            #expect(fileLines.count == 1, "\(lines)")
            #expect(fileLines.allSatisfy { $0.hasSuffix("\"a.bin\"") }, "\(fileLines)")
        }
    }
}

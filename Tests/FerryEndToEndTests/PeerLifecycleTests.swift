import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

extension EndToEndTests {
    /// A peer's life with its tracker: it registers only once it can serve, reconnects and announces its
    /// whole share again when told `421`, says `QUIT` and closes its hash cache on graceful shutdown, and
    /// keeps its heartbeat while it hashes. Issue 8, failures 3 and 4 and the graceful-shutdown section.
    /// Each test uses hosts of its own (60 and up) so that they run beside the serialized suites.
    @Suite("Peer lifecycle over loopback", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct PeerLifecycleTests {
        static func configuration(_ tracker: Endpoint, host: String, share: String, downloads: String,
                                  cache: String? = nil, events: EventLog<TrackerSession.Event>,
                                  hasher: @escaping Share.FileHasher = Share.sha256) -> PeerNode.Configuration {
            .init(server: tracker, host: host, port: 5555, shareFolder: share, downloadFolder: downloads, cachePath: cache,
                  rescanInterval: .milliseconds(100), heartbeatInterval: .milliseconds(100), replyTimeout: .seconds(5),
                  hasher: hasher, sessionEvents: events.append)
        }

        @Test("a peer told 421 reconnects and announces its whole share again")
        func reconnectsAfter421() async throws {
            let tracker = try await ScriptedTracker.start(.answer)
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let share = try temporary.subfolder("share")
            for name in ["a.txt", "b.txt", "c.txt"] { try write(Array(name.utf8), to: share + "/" + name) }
            let events = EventLog<TrackerSession.Event>()
            let node = try PeerNode(configuration: Self.configuration(
                tracker.endpoint, host: host(60), share: share, downloads: try temporary.subfolder("downloads"), events: events),
                logger: quietLogger)
            let task = Task { try await node.run() }
            #expect(await events.wait { $0 == .announced(files: 3) })
            try await tracker.supersede(0)
            #expect(await events.wait(for: 2) { $0 == .announced(files: 3) })
            task.cancel()
            _ = await withinWatchdog(.seconds(10)) { try await task.value }
            await tracker.stop()

            #expect(events.all.contains { if case .lost(let reason) = $0 { reason.contains("421 superseded") } else { false } },
                    "\(events.all)")
            let second = try #require(tracker.connections.dropFirst().first)
            #expect(Array(second.lines.prefix(2)) == ["HELLO 5555 5555", "UPDATE 3"], "\(second.lines)")
            let files = second.lines.dropFirst(2).prefix(3)
            for name in ["a.txt", "b.txt", "c.txt"] {
                #expect(files.contains { $0.hasPrefix("FILE ") && $0.contains(name) }, "\(second.lines)")
            }
        }

        @Test("a second peer on an address already served fails to bind and never says HELLO")
        func secondPeerOnServedAddressNeverRegisters() async throws {
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let first = try await TestPeer.start(host: host(61), tracker: tracker.endpoint, in: temporary,
                                                 files: ["kept.txt": Array("still here".utf8)])
            let events = EventLog<TrackerSession.Event>()
            let second = try PeerNode(configuration: Self.configuration(
                tracker.endpoint, host: host(61), share: try temporary.subfolder("second-share"),
                downloads: try temporary.subfolder("second-downloads"), events: events), logger: quietLogger)
            let ran = await withinWatchdog(.seconds(10)) { try await second.run() }
            let ended = try #require(ran, "the second peer did not stop")
            let error = try #require(ended.failure as? PeerError, "\(ended)")
            #expect(error.code == .badConfiguration)
            #expect(error.message.contains("already in use"), "\(error.message)")
            #expect(!events.all.contains { if case .registered = $0 { true } else { false } }, "\(events.all)")

            // The running peer is still listed, and still the one the tracker sends people to.
            let client = try await tracker.connect()
            #expect(try await client.list(nil).map(\.name) == ["kept.txt"])
            await client.close()
            await first.kill()
            await tracker.stop()
        }

        @Test("graceful shutdown says QUIT, closes the hash cache and ends without error")
        func gracefulShutdownLeavesTheTracker() async throws {
            let tracker = try await ScriptedTracker.start(.answer)
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let share = try temporary.subfolder("share")
            try write(Array("cached".utf8), to: share + "/a.txt")
            let cachePath = try temporary.subfolder("cache") + "/hashes.sqlite"
            let events = EventLog<TrackerSession.Event>()
            let node = try PeerNode(configuration: Self.configuration(
                tracker.endpoint, host: host(62), share: share, downloads: try temporary.subfolder("downloads"),
                cache: cachePath, events: events), logger: quietLogger)
            // The same path as `ferry peer`: the node's group, stopped as a signal would stop it.
            let group = ServiceGroup(configuration: node.serviceGroupConfiguration())
            let task = Task { try await node.run(group) }
            #expect(await events.wait { $0 == .announced(files: 1) })
            await group.triggerGracefulShutdown()
            let ran = await withinWatchdog(.seconds(15)) { try await task.value }
            await tracker.stop()

            let finished = try #require(ran, "the peer did not stop")
            #expect(finished.failure == nil, "\(finished)")
            #expect(events.all.last == .left)
            #expect(tracker.connections.first?.lines.last == "QUIT", "\(tracker.connections.first?.lines ?? [])")
            // Closed: the write-ahead log was folded into the file (gone or truncated), and the digest is there for next time.
            #expect(walIsEmpty(cachePath))
            let cache = try HashCache(path: cachePath)
            let file = try #require(node.share.file(named: SharedFileName("a.txt")!))
            #expect(try cache.digest(path: file.path, size: file.size, modified: file.modified) == file.digest)
            try cache.close()
        }

        @Test("heartbeats go on while every scan is stuck hashing a large file")
        func heartbeatWhileHashing() async throws {
            // As many peers as the concurrency pool has threads, each hashing a file that takes until
            // the test lets it go: hashing on the pool (as before) would stop every heartbeat.
            let peers = ProcessInfo.processInfo.activeProcessorCount
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let events = EventLog<TrackerSession.Event>()
            let gate = HashGate(expected: peers, heartbeats: { events.all.count { $0 == .heartbeat } })
            let hasher: Share.FileHasher = { path throws(PeerError) in
                if path.hasSuffix("/large.bin") { gate.hold() }
                return try Share.sha256(path)
            }
            var nodes: [(PeerNode, Task<Void, any Error>, String)] = []
            for index in 0..<peers {
                let share = try temporary.subfolder("share-\(index)")
                let node = try PeerNode(configuration: Self.configuration(
                    tracker.endpoint, host: host(63 + index), share: share, downloads: try temporary.subfolder("downloads-\(index)"),
                    events: index == 0 ? events : EventLog(), hasher: hasher), logger: quietLogger)
                nodes.append((node, Task { try await node.run() }, share))
            }
            for (node, _, _) in nodes { _ = try await node.session.waitUntilConnected() }
            for (_, _, share) in nodes { try write(sampleBytes(count: 1 << 20, seed: 7), to: share + "/large.bin") }

            #expect(await gate.allHeld(), "not every scan reached the large file")
            let during = await events.wait(for: events.all.count { $0 == .heartbeat } + 3) { $0 == .heartbeat }
            let (heldAt, releasedAt) = gate.release()
            #expect(during)
            #expect(releasedAt - heldAt >= 3, "heartbeats while hashing: \(releasedAt - heldAt)")

            // Once hashed, the file is announced.
            let client = try await tracker.connect()
            #expect(await eventually { (try? await client.list("large.bin").first?.holderCount) == peers })
            await client.close()
            for (_, task, _) in nodes { task.cancel(); _ = await withinWatchdog(.seconds(10)) { try await task.value } }
            await tracker.stop()
        }
    }
}

/// Holds hashing threads until the test releases them (or a deadline passes, so that a blocked
/// concurrency pool cannot hang the run), and counts heartbeats seen while they were held.
final class HashGate: Sendable {
    /// The longest a hash is held: past it the test has failed anyway.
    static let deadline: TimeInterval = 10

    private let condition = NSCondition()
    private let state = NIOLockedValueBox<(held: Int, released: Bool, heldAt: Int, releasedAt: Int?)>((0, false, 0, nil))
    private let expected: Int
    private let heartbeats: @Sendable () -> Int
    private let allHeldPromise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Bool.self)

    init(expected: Int, heartbeats: @escaping @Sendable () -> Int) {
        self.expected = expected
        self.heartbeats = heartbeats
    }

    /// Called by a hashing thread: blocks until released.
    func hold() {
        let heartbeats = self.heartbeats()
        condition.lock()
        state.withLockedValue { state in
            state.held += 1
            if state.held == expected { state.heldAt = heartbeats }
        }
        if state.withLockedValue({ $0.held == expected }) { allHeldPromise.succeed(true) }
        let deadline = Date(timeIntervalSinceNow: Self.deadline)
        while !state.withLockedValue({ $0.released }), condition.wait(until: deadline) {}
        condition.unlock()
        if !state.withLockedValue({ $0.released }) { _ = release() }
    }

    /// Returns once every expected thread holds (`false` if that did not happen by the deadline).
    func allHeld() async -> Bool {
        let deadline = allHeldPromise.futureResult.eventLoop.scheduleTask(in: .seconds(Int64(Self.deadline))) {
            self.allHeldPromise.succeed(false)
        }
        defer { deadline.cancel() }
        return (try? await allHeldPromise.futureResult.get()) ?? false
    }

    /// Lets every held thread go; returns the heartbeat counts when all were held and now.
    @discardableResult
    func release() -> (Int, Int) {
        let now = heartbeats()
        condition.lock()
        let result = state.withLockedValue { state -> (Int, Int) in
            state.released = true
            if state.releasedAt == nil { state.releasedAt = now }
            return (state.heldAt, state.releasedAt!)
        }
        condition.broadcast()
        condition.unlock()
        return result
    }
}

/// Whether the SQLite database at `path` has no write-ahead log left: no `-wal` file, or an empty one.
func walIsEmpty(_ path: String) -> Bool {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: path + "-wal") else { return true }
    return (attributes[.size] as? Int) == 0
}

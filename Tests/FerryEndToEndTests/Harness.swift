import FerryTestSupport
import FerryPeer
import FerryTracker
import FerryWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// Loggers that print nothing: the tests assert, they do not narrate.
let quietLogger = Logger(label: "ferry.test") { _ in SwiftLogNoOpLogHandler() }

/// The loopback network this test run puts its peers on: `127.A.B.0/24` with `A` and `B` drawn once
/// per process, so that a running `ferry demo` (on 127.0.0.2, 127.0.0.3, …) or another test run on
/// the same machine does not collide with this one. Linux routes all of 127.0.0.0/8 to `lo`.
let loopbackPrefix: String = {
    var generator = SystemRandomNumberGenerator()
    return "127.\(Int.random(in: 16...254, using: &generator)).\(Int.random(in: 0...254, using: &generator))."
}()

/// The address of test peer `number` (2, 3, …) in this run's loopback network.
func host(_ number: Int) -> String { loopbackPrefix + String(number) }

/// Deterministic pseudo-random bytes (xorshift), so that files differ and can be checked.
func sampleBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        if index % 8 == 0 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
        }
        bytes[index] = UInt8(truncatingIfNeeded: state >> ((index % 8) * 8))
    }
    return bytes
}

func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func contents(of path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

/// A tracker on 127.0.0.1, run in a task of the test.
final class TestTracker: Sendable {
    let port: Int
    private let task: Task<Void, Never>

    private init(port: Int, task: Task<Void, Never>) {
        self.port = port
        self.task = task
    }

    var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: port) }

    /// The tracker's own timeouts, longer under a sanitizer (``Sanitizers/patience(_:)``): a late
    /// heartbeat there is not what the end-to-end tests watch.
    static let patientHeartbeatTimeout = TimeAmount(Sanitizers.patience(.seconds(TrackerLimits.heartbeatTimeout)))
    static let patientIdleTimeout = TimeAmount(Sanitizers.patience(.seconds(TrackerLimits.idleTimeout)))

    /// Starts a tracker and waits until it listens. `port` 0 picks a free port. Its timeouts are the
    /// tracker's own (9 s without a heartbeat, 10 s without a message), longer under a sanitizer.
    /// It runs on `group`'s event loops, one listening socket on each.
    static func start(port: Int = 0, database: String = ":memory:",
                      heartbeatTimeout: TimeAmount = patientHeartbeatTimeout,
                      idleTimeout: TimeAmount = patientIdleTimeout,
                      group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TestTracker {
        let store = try SQLiteTrackerStore(path: database)
        let listening = group.next().makePromise(of: Int.self)
        let server = TrackerServer(
            configuration: .init(host: "127.0.0.1", port: port, heartbeatTimeout: heartbeatTimeout,
                                 idleTimeout: idleTimeout),
            store: store, logger: quietLogger, group: group
        ) { address in
            listening.succeed(address.port ?? 0)
        }
        let task = Task {
            do {
                try await server.run()
            } catch {
                listening.fail(error)
            }
        }
        return TestTracker(port: try await listening.futureResult.get(), task: task)
    }

    func stop() async {
        task.cancel()
        await task.value
    }

    /// A one-shot client connection, as `ferry get` makes.
    func connect() async throws -> TrackerConnection {
        try await TrackerConnection.connect(to: endpoint, localHost: "127.0.0.1",
                                            replyTimeout: Sanitizers.patience(TrackerConnection.replyTimeout),
                                            connectTimeout: Sanitizers.patience(TrackerConnection.connectTimeout))
    }
}

/// A whole peer (file server, share watcher, tracker session) on `host`:5555, run in a task.
final class TestPeer: Sendable {
    let host: String
    let node: PeerNode
    let folder: String
    private let task: Task<Void, Never>

    private init(host: String, node: PeerNode, folder: String, task: Task<Void, Never>) {
        self.host = host
        self.node = node
        self.folder = folder
        self.task = task
    }

    var holder: Holder { Holder(host: host, tcpPort: 5555, udpPort: 0) }

    /// Starts a peer sharing `files` (name → bytes) from a folder of its own; waits until it serves
    /// and has announced its share. With `serveFiles: false` it announces but serves nothing, as if
    /// its file server had crashed.
    static func start(host: String, tracker: Endpoint, in temporary: TemporaryFolder, files: [String: [UInt8]] = [:],
                      rateLimit: ByteRate? = nil, udpDatagramSize: Int? = nil, serveFiles: Bool = true) async throws -> TestPeer {
        // A test that threw left its peers running; end-to-end tests run one at a time, so a peer
        // still on this host belongs to a test that is over.
        if let leftover = running.withLockedValue({ $0.removeValue(forKey: host) }) { await leftover.kill() }
        let folder = try temporary.subfolder("peer-\(host)")
        let downloads = try temporary.subfolder("downloads-\(host)")
        for (name, bytes) in files { try write(bytes, to: folder + "/" + name) }
        let node = try PeerNode(
            configuration: .init(server: tracker, host: host, port: 5555, shareFolder: folder, downloadFolder: downloads,
                                 rateLimit: rateLimit, cachePath: nil, udpDatagramSize: udpDatagramSize,
                                 rescanInterval: .milliseconds(300)),
            logger: quietLogger)
        let listening = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let task = Task {
            do {
                try await node.run(serveFiles: serveFiles) { _ in listening.succeed() }
            } catch {
                listening.fail(error)
            }
        }
        do {
            if serveFiles {
                try await listening.futureResult.get()
            } else {
                listening.succeed()
            }
            // Far past a quiet machine's few milliseconds: the suite runs beside others, sanitized.
            _ = try await node.session.waitUntilConnected(timeout: .seconds(60))
        } catch {
            task.cancel()
            await task.value
            throw error
        }
        let peer = TestPeer(host: host, node: node, folder: folder, task: task)
        running.withLockedValue { $0[host] = peer }
        return peer
    }

    /// Peers started and not killed yet, by host.
    private static let running = NIOLockedValueBox<[String: TestPeer]>([:])

    /// Stops the peer at once: its sockets close, as when a process is killed.
    func kill() async {
        Self.running.withLockedValue { if $0[host] === self { $0[host] = nil } }
        task.cancel()
        await task.value
    }
}

/// A downloader into `folder` that asks `tracker`, as `ferry get` does.
func download(_ names: [String], from tracker: TestTracker, into folder: String, overwrite: Bool = false,
              transports: [Transport] = [.tcp], maximumSources: Int = 8,
              stallTimeout: TimeAmount = TimeAmount(Sanitizers.patience(.seconds(10))),
              localHost: String = "127.0.0.1",
              events: @escaping @Sendable (DownloadEvent) -> Void = { _ in }) async throws -> [DownloadOutcome] {
    let connection = try await tracker.connect()
    var configuration = Downloader.Configuration(folder: folder, overwrite: overwrite, maximumSources: maximumSources,
                                                 transports: transports, localHost: localHost, stallTimeout: stallTimeout)
    configuration.connectTimeout = configuration.connectTimeout * Int64(Sanitizers.patienceFactor)
    let downloader = Downloader(configuration: configuration, holders: connection, logger: quietLogger)
    let outcomes = await downloader.download(names, events: events)
    await connection.close()
    return outcomes
}

/// Records an issue at the caller unless the file at `path` holds exactly `expected` (`nil`: the file
/// must not exist). The issue says how the file differs; `#expect` would describe both arrays, which
/// for 64 MiB takes minutes (and longer under the thread sanitizer).
func expectFile(
    _ path: String, holds expected: [UInt8]?, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    let actual = contents(of: path)
    guard actual != expected else { return }
    let describe = { (bytes: [UInt8]?) in bytes.map { "\($0.count) bytes" } ?? "no file" }
    let (a, e) = (actual ?? [], expected ?? [])
    let firstDifference = (0..<min(a.count, e.count)).first { a[$0] != e[$0] }
    let where_ = firstDifference.map { "; first difference at byte \($0)" } ?? ""
    let what = "\(path): \(describe(actual)), expected \(describe(expected))\(where_)"
    Issue.record(Comment(rawValue: [comment?.rawValue, what].compactMap { $0 }.joined(separator: ": ")), sourceLocation: sourceLocation)
}

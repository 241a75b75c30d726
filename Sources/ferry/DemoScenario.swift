import FerryPeer
import FerryTracker
import FerryWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The story `ferry demo` tells, step by step.
struct DemoScenario {
    struct SampleFile {
        var name: String
        var size: Int
    }

    let folder: String
    let trackerPort: Int
    let peerPort: Int
    let logger: Logger
    let terminal: Terminal

    static let files = [
        SampleFile(name: "report.pdf", size: 24 << 20),
        SampleFile(name: "movie.mkv", size: 48 << 20),
        SampleFile(name: "song.mp3", size: 12 << 20),
        SampleFile(name: "notes from the trip.txt", size: 300_000),
    ]

    init(folder: String, trackerPort: Int, peerPort: Int, logger: Logger, terminal: Terminal) throws {
        self.folder = folder
        self.trackerPort = trackerPort
        self.peerPort = peerPort
        self.logger = logger
        self.terminal = terminal
    }

    private func say(_ text: String) { terminal.write(text + "\n") }

    private func bold(_ text: String) -> String {
        terminal.color ? "\u{1B}[1m\(text)\u{1B}[0m" : text
    }

    /// Who shares what. Peer .2 announces but its file server is down; peer .4 is slow and will be
    /// stopped in the middle of an upload.
    private static let shares: [(host: String, files: [String])] = [
        ("127.0.0.2", ["report.pdf", "notes from the trip.txt"]),
        ("127.0.0.4", ["movie.mkv"]),
        ("127.0.0.3", ["report.pdf", "movie.mkv", "song.mp3", "notes from the trip.txt"]),
    ]

    func run() async throws -> Bool {
        say(bold("Ferry demo") + ": a tracker and three peers in this process, talking over loopback.")
        say("Sample files are made in \(folder).\n")
        for (host, names) in Self.shares {
            try FileManager.default.createDirectory(atPath: "\(folder)/\(host)", withIntermediateDirectories: true)
            for name in names {
                let sample = Self.files.first { $0.name == name }!
                try SampleData.write(to: "\(folder)/\(host)/\(name)", size: sample.size, seed: UInt64(sample.size))
            }
        }
        let downloads = "\(folder)/downloads"
        try FileManager.default.createDirectory(atPath: downloads, withIntermediateDirectories: true)

        let store = try SQLiteTrackerStore(path: ":memory:")
        let server = Endpoint(host: "127.0.0.1", port: trackerPort)

        let trackerReady = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let tracker = TrackerServer(configuration: .init(host: "127.0.0.1", port: trackerPort), store: store, logger: logger) { _ in
            trackerReady.succeed()
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await tracker.run()
                } catch {
                    let reason = (error as? TrackerServer.ListenError).map { "\($0.reason) (another `ferry server`?)" } ?? "\(error)"
                    trackerReady.fail(CommandFailure("cannot start the demo tracker on 127.0.0.1:\(trackerPort): \(reason); pass --tracker-port"))
                }
            }
            try await trackerReady.futureResult.get()
            say("  tracker   127.0.0.1:\(trackerPort)   keeps the index: who shares which file (name, size, SHA-256)")

            var nodes: [String: PeerNode] = [:]
            var peerTasks: [String: Task<Void, Never>] = [:]
            for (host, names) in Self.shares {
                let node = try PeerNode(
                    configuration: .init(server: server, host: host, port: peerPort, shareFolder: "\(folder)/\(host)",
                                         downloadFolder: downloads,
                                         rateLimit: host == "127.0.0.4" ? ByteRate(bytesPerSecond: 12 << 20) : nil),
                    logger: logger)
                nodes[host] = node
                let serveFiles = host != "127.0.0.2"
                let ready = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
                peerTasks[host] = Task {
                    do {
                        try await node.run(serveFiles: serveFiles) { _ in ready.succeed() }
                    } catch {
                        ready.fail(error)
                    }
                }
                if serveFiles {
                    try await ready.futureResult.get()
                } else {
                    ready.succeed()
                }
                _ = try await node.session.waitUntilConnected()
                let note = switch host {
                case "127.0.0.2": "its file server is down, as if it had just crashed"
                case "127.0.0.4": "slow (12 MiB/s) and will be stopped mid-upload"
                default: "healthy"
                }
                say("  peer      \(host):\(peerPort)   shares \(names.joined(separator: ", ")) - \(note)")
            }

            let names = Self.files.map(\.name)
            let holders = try await TrackerLookupClient.connect(to: server, localHost: "127.0.0.1")
            say("\n" + bold("1. Asking the tracker") + " (like typing Send \(names.joined(separator: ", ")) at a peer):")
            let lookups = try await holders.lookup(names)
            say(TransferReport.lookupText(lookups).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))

            say("\n" + bold("2. Downloading all four in parallel") + " into \(downloads):")
            let display = ProgressDisplay(terminal: terminal)
            let stopped = NIOLockedValueBox(false)
            let slowPeer = peerTasks["127.0.0.4"]!
            let downloader = Downloader(configuration: .init(folder: downloads, localHost: "127.0.0.1"), holders: holders, logger: logger)
            let outcomes = await downloader.download(names, lookups: lookups) { event in
                display.handle(event)
                // Stop the slow peer once a third of movie.mkv has come from it.
                if case .progress("movie.mkv", let received, let size) = event, received > size / 3,
                   stopped.withLockedValue({ let first = !$0; $0 = true; return first }) {
                    slowPeer.cancel()
                }
            }

            say("\n" + bold("3. What happened"))
            tell(outcomes)

            // The same engine over UDP: peer .2 heads the holder list of the notes and its UDP port is
            // closed too, so the first attempt fails at once and the next holder sends the file.
            let udpNames = ["notes from the trip.txt", "report.pdf"]
            let udpFolder = "\(downloads)/over-udp"
            try FileManager.default.createDirectory(atPath: udpFolder, withIntermediateDirectories: true)
            say("\n" + bold("4. The same over UDP") + " (like Send \(udpNames.joined(separator: ", ")) via udp), into \(udpFolder):")
            let udpDownloader = Downloader(
                configuration: .init(folder: udpFolder, transports: Transport.preferring(.udp), localHost: "127.0.0.1"),
                holders: holders, logger: logger)
            let udpOutcomes = await udpDownloader.download(udpNames) { event in display.handle(event) }
            await holders.close()
            tell(udpOutcomes)

            let allGood = (outcomes + udpOutcomes).allSatisfy(\.succeeded)
            say("\n" + (allGood
                ? "All \(outcomes.count + udpOutcomes.count) downloads arrived and match their SHA-256. Next: run `ferry server` and `ferry peer` yourself (see README.md)."
                : "Some files did not arrive; run with --log-level info to see why."))

            for task in peerTasks.values { task.cancel() }
            group.cancelAll()
            return allGood
        }
    }
}

extension DemoScenario {
    /// One line per download: straight from a peer, or which attempts failed and who took over.
    fileprivate func tell(_ outcomes: [DownloadOutcome]) {
        for outcome in outcomes {
            let failures = outcome.attempts.filter { $0.error != nil }
            let via = outcome.transport.map { " over \($0.rawValue)" } ?? ""
            if outcome.status != .ok {
                say("  \(outcome.name): \(outcome.status.rawValue) - \(outcome.message ?? "")")
            } else if failures.isEmpty {
                say("  \(outcome.name): straight from \(outcome.peer ?? "?")\(via), SHA-256 checked before it took its name")
            } else {
                // A swarm source has two connections (lanes): the same failure twice is told once.
                var story: [(text: String, count: Int)] = []
                for failure in failures {
                    let text = "\(failure.peer) (\(failure.transport.rawValue)) failed (\(failure.error!.rawValue)) after \(ByteCount.format(failure.bytes))"
                    if story.last?.text == text { story[story.count - 1].count += 1 } else { story.append((text, 1)) }
                }
                let resumed = failures.reduce(UInt64(0)) { $0 + $1.bytes }
                let told = story.map { $0.count == 1 ? $0.text : "\($0.text) on \($0.count) connections" }
                say("  \(outcome.name): \(told.joined(separator: "; ")); then \(outcome.peer ?? "?")\(via) "
                    + (resumed > 0 ? "resumed at \(ByteCount.format(resumed)) instead of starting over" : "sent it all")
                    + "; SHA-256 verified")
            }
        }
    }
}

/// Deterministic pseudo-random sample content, written in chunks (never all in memory).
enum SampleData {
    static func write(to path: String, size: Int, seed: UInt64) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw CommandFailure("cannot create \(path)")
        }
        defer { try? handle.close() }
        var state = seed | 1
        var remaining = size
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while remaining > 0 {
            let count = min(remaining, chunk.count)
            chunk.withUnsafeMutableBytes { raw in
                let words = raw.bindMemory(to: UInt64.self)
                for index in 0..<(count + 7) / 8 where index < words.count {
                    state ^= state << 13
                    state ^= state >> 7
                    state ^= state << 17
                    words[index] = state
                }
            }
            try handle.write(contentsOf: chunk[0..<count])
            remaining -= count
        }
    }
}

import ArgumentParser
import FerryHTTP
import FerryPeer
import Foundation
import Logging
import ServiceLifecycle

/// `ferry peer`: shares a folder, serves it, stays connected to the tracker and takes commands on stdin.
struct PeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "Share a folder, serve it to other peers, and download with Send.",
        discussion: """
            Commands at the prompt (type help there for more):

              Send a.txt, b.md [via tcp|udp]
              list [PATTERN]
              transport tcp|udp
              status, version, help, quit

            At the end of stdin the peer keeps serving until SIGINT or SIGTERM.
            """
    )

    @OptionGroup var tracker: TrackerOptions

    @Option(help: "Address to serve on; tracker connections leave from it too.")
    var host = "0.0.0.0"

    @Option(help: "Port to serve files on, over TCP and UDP (the same number for both).")
    var port = 5555

    @Option(help: "Folder to share.")
    var share = "./files"

    @Option(help: "Folder to download into.")
    var downloads = "./downloads"

    @Option(help: "Local port for the tracker connection (the seed uses 5556).")
    var sourcePort: Int?

    @Option(parsing: .upToNextOption, help: ArgumentHelp(
        "Cap on the total upload rate, e.g. 8MiB, 500K, 1G or 20 MiB (bytes per second).", valueName: "rate"))
    var rateLimit: [String] = []

    /// The rate as typed: `--rate-limit 20 MiB` comes as two words.
    private var rate: String? { rateLimit.isEmpty ? nil : rateLimit.joined(separator: " ") }

    @Option(help: "Default transport for Send.")
    var transport: Transport = .tcp

    @Option(help: "Hash cache database (default: $XDG_CACHE_HOME/ferry/hashes.sqlite or ~/.cache/ferry/hashes.sqlite; \":memory:\" keeps it for this run only).")
    var cache: String?

    @Option(help: ArgumentHelp(
        "Fix the UDP datagram size in bytes (1200-65507).",
        discussion: "Default: each transfer starts at 1200 and probes 1452, 1472 and 8192 (path MTU discovery). A fixed size turns discovery off."))
    var udpDatagramSize: Int?

    @Flag(help: "Let downloads replace existing files with other content.")
    var overwrite = false

    @Option(help: ArgumentHelp("Holders one file is fetched from at once (1-64; 1: one at a time).",
                               discussion: "Files of two chunks or more (512 KiB and up) with two or more holders are fetched chunk by chunk from up to this many."))
    var maxSources = 8

    @OptionGroup var http: HTTPOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535") }
        guard (1...64).contains(maxSources) else { throw ValidationError("--max-sources must be from 1 to 64") }
        if let sourcePort, !(1...65535).contains(sourcePort) {
            throw ValidationError("--source-port must be from 1 to 65535")
        }
        if let udpDatagramSize, !UDPFileServer.Configuration.datagramSizes.contains(udpDatagramSize) {
            throw ValidationError("--udp-datagram-size must be from 1200 to 65507")
        }
        if let rate {
            do { _ = try ByteRate(parsing: rate) } catch { throw ValidationError("--rate-limit: \(error.message)") }
        }
    }

    func run() async throws {
        ProcessLimits.raiseDescriptorLimit()
        let logger = logging.makeLogger(label: "ferry.peer")
        try ensureFolder(downloads, flag: "--downloads")
        let node: PeerNode
        do {
            let servers = try tracker.endpoints()
            var configuration = PeerNode.Configuration(
                    server: servers[0], host: host, port: port, shareFolder: share, downloadFolder: downloads,
                    sourcePort: sourcePort, rateLimit: try rate.map { try ByteRate(parsing: $0) },
                    cachePath: cache ?? Self.defaultCachePath(), udpDatagramSize: udpDatagramSize)
            configuration.servers = servers
            node = try PeerNode(configuration: configuration, logger: logger)
        } catch let error as PeerError {
            throw CommandFailure(error.message)
        }
        let console = PeerConsole(node: node, transport: transport, overwrite: overwrite, maximumSources: maxSources)
        // SIGINT/SIGTERM: leave the tracker, let the servers drain, close the hash cache, exit 0.
        // A second signal ends the process at once.
        let signals = ShutdownSignals.watch()
        var extra: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: console, successTerminationBehavior: .gracefullyShutdownGroup)]
        if let address = try http.address() {
            extra.append(.init(service: ObservabilityServer(address: address, source: PeerObservability(node: node), logger: logger)))
        }
        var configuration = node.serviceGroupConfiguration(also: extra)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        try await node.run(ServiceGroup(configuration: configuration))
        withExtendedLifetime(signals) {}
    }

    /// `$XDG_CACHE_HOME/ferry/hashes.sqlite`, else `~/.cache/ferry/hashes.sqlite`; `nil` if it cannot be made.
    static func defaultCachePath() -> String? {
        let environment = ProcessInfo.processInfo.environment
        guard let base = environment["XDG_CACHE_HOME"] ?? environment["HOME"].map({ $0 + "/.cache" }) else { return nil }
        let folder = base + "/ferry"
        guard (try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)) != nil else {
            return nil
        }
        return folder + "/hashes.sqlite"
    }
}

import ArgumentParser
import FerryPeer
import Foundation
import Logging
import ServiceLifecycle

/// `ferry get`: downloads names once, for scripts; exit status 0 if and only if every name is in place
/// and verified.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Download files once and exit: 0 if every file was downloaded and verified (or already there).",
        discussion: """
            With --json, one JSON object per name is printed on its own line as each name finishes, \
            with the keys name, status (ok, not_found, failed, refused, skipped or cancelled), bytes, \
            sha256, peer, transport, seconds, path, message, attempts (each with peer, transport, \
            bytes, error, message) and sources (each with peer, transport, bytes, chunks, \
            bad_chunks). README.md describes them.

            Exit status: 0 every name ok or skipped; 1 any other outcome (the tracker unreachable, \
            closing the connection or silent for 10 s included); 64 bad usage; 130 stopped by SIGINT, \
            143 by SIGTERM (each name still running ends cancelled, its .part file kept for a later \
            resume; a second signal exits at once).
            """
    )

    @Argument(help: "Names of shared files.")
    var names: [String]

    @OptionGroup var tracker: TrackerOptions

    @Option(help: "Address that connections leave from.")
    var host: String?

    @Option(help: "Folder to download into (created if missing).")
    var downloads = "./downloads"

    @Option(help: "Transport: tcp or udp.")
    var transport: Transport = .tcp

    @Flag(help: "Replace existing files that have other content.")
    var overwrite = false

    @Flag(help: "Print one JSON object per name, as each finishes.")
    var json = false

    @Option(help: ArgumentHelp("Holders one file is fetched from at once (1-64; 1: one at a time).",
                               discussion: "Files of two chunks or more (512 KiB and up) with two or more holders are fetched chunk by chunk from up to this many."))
    var maxSources = 8

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name at least one file") }
        guard (1...64).contains(maxSources) else { throw ValidationError("--max-sources must be from 1 to 64") }
    }

    func run() async throws {
        var logging = self.logging
        if json, logging.logLevel < .warning { logging.logLevel = .warning }
        let logger = logging.makeLogger(label: "ferry.get")
        try ensureFolder(downloads, flag: "--downloads")
        let servers = try tracker.endpoints()
        let terminal = Terminal.standardOutput

        let display = ProgressDisplay(terminal: terminal)
        let download = OneShotDownload(
            names: names,
            configuration: .init(
                servers: servers, localHost: host,
                downloader: .init(folder: downloads, overwrite: overwrite, maximumSources: maxSources,
                                   transports: Transport.preferring(transport), localHost: host)),
            logger: logger
        ) { event in
            guard json else { return display.handle(event) }
            if case .finished(let outcome) = event {
                terminal.write(outcome.jsonLine + "\n")
            }
        }
        // SIGINT/SIGTERM stop the downloads (graceful shutdown of the group); a second one exits at once.
        let signals = ShutdownSignals.watch()
        try await ServiceGroup(configuration: .init(
            services: [.init(service: download, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)).run()
        switch download.result {
        case .finished(let outcomes):
            if !outcomes.allSatisfy(\.succeeded) { throw ExitCode(1) }
        case .trackerUnavailable(let error):
            throw CommandFailure("\(error). Start one with `ferry server` or pass --server HOST[:PORT].")
        case .interrupted(let outcomes):
            // Each name that was running has said "cancelled; … kept in NAME.part" itself.
            if !json, outcomes.count < Set(names).count {
                terminal.write("stopped by a signal; partial downloads are kept as .part files for a later resume\n")
            }
            throw ExitCode(signals.exitStatus ?? 130)
        case nil:
            throw ExitCode(signals.exitStatus ?? 130)
        }
    }
}

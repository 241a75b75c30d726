import ArgumentParser
import FerryPeer
import Foundation
import Logging

/// `ferry get`: downloads names once, for scripts; exit status 0 if and only if every name is in place
/// and verified.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Download files once and exit: 0 if every file was downloaded and verified (or already there).",
        discussion: """
            With --json, one JSON object per name is printed, on its own line, as each name finishes:
            {"name","status":"ok|not_found|failed|refused|skipped","bytes","sha256","peer","transport",
            "seconds","path","message","attempts":[{"peer","transport","bytes","error","message"}]}
            Exit status: 0 all names ok or skipped; 1 any other outcome; 64 bad usage.
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

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name at least one file") }
    }

    func run() async throws {
        var logging = self.logging
        if json, logging.logLevel < .warning { logging.logLevel = .warning }
        let logger = logging.makeLogger(label: "ferry.get")
        try ensureFolder(downloads, flag: "--downloads")
        let endpoint = try tracker.endpoint()
        let terminal = Terminal.standardOutput

        let connection: TrackerConnection
        do {
            connection = try await TrackerConnection.connect(to: endpoint, localHost: host)
        } catch {
            throw CommandFailure("\(error). Start one with `ferry server` or pass --server HOST[:PORT].")
        }
        let downloader = Downloader(
            configuration: .init(folder: downloads, overwrite: overwrite, transports: Transport.preferring(transport), localHost: host),
            holders: connection, logger: logger)
        let display = ProgressDisplay(terminal: terminal)
        let outcomes = await downloader.download(names) { event in
            guard json else { return display.handle(event) }
            if case .finished(let outcome) = event {
                terminal.write(outcome.jsonLine + "\n")
            }
        }
        await connection.close()
        if !outcomes.allSatisfy(\.succeeded) {
            throw ExitCode(1)
        }
    }
}

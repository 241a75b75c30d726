import ArgumentParser
import FerryPeer
import FerryTracker
import FerryWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// `ferry demo`: a tracker and three peers in one process on loopback, sample files, parallel
/// downloads with a failover and a resume to watch. Exits 0 when every file arrived verified.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Watch Ferry work: a tracker and three peers on 127.0.0.1–4, parallel downloads over TCP and UDP, failover and resume.",
        discussion: "Uses 127.0.0.1:--tracker-port for the tracker and 127.0.0.2–127.0.0.4:--port for the peers; files go to a temporary folder."
    )

    @Option(help: "Port of the demo's tracker on 127.0.0.1.")
    var trackerPort = 4444

    @Option(help: "Port of the demo's peers on 127.0.0.2–127.0.0.4.")
    var port = 5555

    @Flag(help: "Keep the temporary folder afterwards.")
    var keep = false

    @Option(name: .long, help: "Log level for the tracker and peers (their logs go to stderr).")
    var logLevel: Logger.Level = .error

    func run() async throws {
        ProcessLimits.raiseDescriptorLimit()
        let logger = LoggingOptions.makeLogger(label: "ferry.demo", level: logLevel, file: nil)
        let terminal = Terminal.standardOutput
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-demo-\(getpid())").path
        defer { if !keep { try? FileManager.default.removeItem(atPath: folder) } }

        let scenario = try DemoScenario(folder: folder, trackerPort: trackerPort, peerPort: port, logger: logger, terminal: terminal)
        let ok = try await scenario.run()
        if keep { terminal.write("The files stay in \(folder).\n") }
        if !ok { throw ExitCode(1) }
    }
}

import ArgumentParser
import FerryTracker
import Logging

/// `ferry server`: runs the tracker until SIGINT or SIGTERM.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the tracker: the index of who shares which file."
    )

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "TCP port to listen on.")
    var port = 4444

    @Option(help: "SQLite record of the index; lookups are answered from memory (\":memory:\" keeps it in memory).")
    var db = "ferry-tracker.sqlite"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
    }

    func run() async throws {
        let logger = logging.makeLogger(label: "ferry.tracker")
        let store: SQLiteTrackerStore
        do {
            store = try SQLiteTrackerStore(path: db)
        } catch {
            throw CommandFailure("cannot open the tracker database \(db): \(error)")
        }
        let descriptors = ProcessLimits.raiseDescriptorLimit()
        let configuration = TrackerServer.Configuration(
            host: host, port: port,
            maximumConnections: TrackerServer.Configuration.maximumConnections(descriptorLimit: descriptors))
        let server = TrackerServer(configuration: configuration, store: store, logger: logger)
        try await ServiceRunner.run(services: [server], logger: logger)
    }
}

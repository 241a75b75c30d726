import ArgumentParser
import FerryHTTP
import FerryTracker
import Logging
import ServiceLifecycle

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

    @Option(help: ArgumentHelp(
        "SQLite record of the index; lookups are answered from memory (\":memory:\" keeps it in memory). Or a postgres:// URL: the index lives in PostgreSQL, shared by every tracker given the same URL.",
        valueName: "path-or-url"))
    var db = "ferry-tracker.sqlite"

    @OptionGroup var http: HTTPOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        if PostgresLocation.isURL(db) {
            do {
                _ = try PostgresLocation(url: db)
            } catch {
                throw ValidationError("--db: \(error)")
            }
        }
    }

    func run() async throws {
        let logger = logging.makeLogger(label: "ferry.tracker")
        let descriptors = ProcessLimits.raiseDescriptorLimit()
        let configuration = TrackerServer.Configuration(
            host: host, port: port,
            maximumConnections: TrackerServer.Configuration.maximumConnections(descriptorLimit: descriptors))
        // The store before the server: a group shuts down in reverse order, so a PostgreSQL store
        // gives its lease back after the server has closed its connections.
        var services: [any Service]
        let server: TrackerServer
        let index: (any TrackerIndexSummary)?
        if PostgresLocation.isURL(db) {
            // Validated above.
            let location = try PostgresLocation(url: db)
            logger.notice("index in PostgreSQL, shared with every tracker on it", metadata: ["database": "\(location.redacted)"])
            let store = PostgresTrackerStore(location: location, logger: logger)
            server = TrackerServer(
                configuration: configuration, store: store, indexMode: .shared(sessionsLost: store.sessionsLost), logger: logger)
            services = [store, server]
            index = store  // the status page shows the shared index
        } else {
            let store: SQLiteTrackerStore
            do {
                store = try SQLiteTrackerStore(path: db)
            } catch {
                throw CommandFailure("cannot open the tracker database \(db): \(error)")
            }
            server = TrackerServer(configuration: configuration, store: store, logger: logger)
            services = [server]
            index = nil  // the server's memory index
        }
        if let address = try http.address() {
            services.append(ObservabilityServer(address: address, source: TrackerObservability(server: server, index: index), logger: logger))
        }
        try await ServiceRunner.run(services: services, logger: logger)
    }
}

import FerryTestSupport
import FerryTracker
import Logging

/// PostgreSQL stores for tests, each in a schema of its own unless one is shared on purpose.
enum PostgresTestStore {
    /// A running store (its pool and lease loop in a task) that has started its tracker: a database
    /// that cannot be reached fails here, within the store's timeout. That timeout races the query
    /// against a sleep; while the CPU-bound simulation suites hold the cooperative pool (about two
    /// minutes of a loaded run), the sleep can win though the database answered, so the tests' bound
    /// is long. The timeout itself is tested with a short one (`PostgresTrackerStoreTests`).
    static func make(schema: String = PostgresTestEnvironment.freshSchema(),
                     lease: PostgresTrackerStore.Lease = .init(),
                     operationTimeout: Duration = .seconds(300)) async throws -> PostgresTrackerStore {
        var location = try PostgresLocation(url: try PostgresTestEnvironment.requireURL())
        location.schema = schema
        // A few connections, closed soon when idle: many tests each make a store.
        let store = PostgresTrackerStore(
            location: location, lease: lease, operationTimeout: operationTimeout, maximumConnections: 4,
            connectionIdleTimeout: .seconds(5), logger: quietLogger)
        Task { await store.run() }
        try await store.markAllPeersOffline()
        return store
    }
}

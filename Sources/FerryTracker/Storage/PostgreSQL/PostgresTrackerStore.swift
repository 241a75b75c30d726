import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle

/// The tracker's index in PostgreSQL, shared by every tracker that names the same database: the one
/// place where all of their peers are, so that N trackers answer as one.
///
/// - **Tables** (created if missing, see ``createSchema(on:)``): `ferry_tracker` (one row per running
///   tracker, with the lease it renews), `ferry_peer_session` (one row per registered connection, owned by
///   a tracker; its id, from a sequence, is the global connection order) and `ferry_shared_file`.
/// - **Liveness by lease.** Each store is one tracker: it takes a fresh tracker id as it starts and
///   renews the lease every ``Lease/renewal`` while it runs (``run()``). Lookups return only sessions of
///   trackers whose lease has not run out, by the database's clock (`now()`), so the peers of a tracker
///   that died leave every tracker's lookups within ``Lease/duration`` of its last renewal. A live tracker
///   deletes the rows of trackers whose lease ran out more than ``Lease/collectedAfter`` ago.
/// - **No cache.** Every request reads or writes the database; a write has been committed when the call
///   returns, so a `SEND` on any tracker sees it at once.
/// - **Failures are errors, never crashes.** A database that does not answer within
///   ``operationTimeout`` fails the call (the tracker replies `500`), and a statement that runs longer
///   is ended by the server (`statement_timeout`); the client reconnects by itself when the database
///   is back.
public final class PostgresTrackerStore: TrackerStore, Service {
    /// How a tracker holds its place among the trackers sharing the database.
    public struct Lease: Sendable, Equatable {
        /// How long a renewal keeps the tracker's sessions in lookups.
        public var duration: Duration
        /// How often the lease is renewed: well under ``duration``, so that one slow renewal does not lose it.
        public var renewal: Duration
        /// How long after its lease ran out a tracker's rows are deleted by the others. Longer than the
        /// lease: a tracker cut off from the database for a moment finds its sessions again when it comes back.
        public var collectedAfter: Duration

        public init(duration: Duration = .seconds(10), renewal: Duration = .seconds(3), collectedAfter: Duration = .seconds(60)) {
            self.duration = duration
            self.renewal = renewal
            self.collectedAfter = collectedAfter
        }
    }

    public let location: PostgresLocation
    public let lease: Lease
    /// How long one call may wait for the database before it fails.
    public let operationTimeout: Duration
    let client: PostgresClient
    let logger: Logger
    private let identity = TrackerIdentity()
    private let knownTracker = NIOLockedValueBox<Int64?>(nil)
    private let lostSessions: AsyncStream<Void>.Continuation

    /// Yields when this tracker's lease was lost and its sessions deleted by another tracker (it was cut
    /// off from the database for longer than ``Lease/collectedAfter``): the server then closes its
    /// connections, so that their peers register again.
    public let sessionsLost: AsyncStream<Void>

    /// - Parameters:
    ///   - maximumConnections: the pool's size: requests beyond it wait for a connection.
    public init(location: PostgresLocation, lease: Lease = Lease(), operationTimeout: Duration = .seconds(5),
                maximumConnections: Int = 16, connectionIdleTimeout: Duration = .seconds(60), logger: Logger) {
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database,
            tls: location.requiresTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectionIdleTimeout = connectionIdleTimeout
        configuration.options.connectTimeout = operationTimeout
        // PostgresNIO does not cancel a query once it is sent, so the client-side timeout of
        // ``database(_:)`` cannot end one that hangs (a lock wait, a stalled server): the server ends
        // it instead, at the same bound.
        configuration.options.additionalStartupParameters = [("statement_timeout", "\(Int(operationTimeout.milliseconds))")]
        if let schema = location.schema {
            configuration.options.additionalStartupParameters.append(("search_path", schema))
        }
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.location = location
        self.lease = lease
        self.operationTimeout = operationTimeout
        self.logger = logger
        (sessionsLost, lostSessions) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// This tracker's id among those sharing the database, once it has started.
    public var trackerID: Int64? { knownTracker.withLockedValue { $0 } }

    // MARK: Running: the client's connections and the lease

    /// Runs the connection pool and renews the lease until cancelled or told to shut down; then gives the
    /// lease back (this tracker's sessions leave lookups at once) and closes the connections.
    public func run() async {
        // Not a child task: the client must outlive the graceful shutdown to give the lease back.
        let client = self.client
        let running = Task.detached { await client.run() }
        await cancelWhenGracefulShutdown { await self.renewUntilCancelled() }
        // Not cancelled with the caller either: the row goes even when the store is cancelled.
        await Task.detached { await self.retire() }.value
        running.cancel()
        await running.value
    }

    private func renewUntilCancelled() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: lease.renewal)
            } catch {
                return
            }
            await renewAndCollect()
        }
    }

    /// Renews this tracker's lease and deletes trackers whose lease ran out long ago. Public for tests,
    /// which drive it instead of waiting for the timer.
    public func renewAndCollect() async {
        guard let tracker = trackerID else { return }
        do {
            let renewed = try await database { [lease] client in
                try await client.query("""
                    UPDATE ferry_tracker SET lease_until = now() + \(lease.duration.milliseconds) * interval '1 millisecond'
                    WHERE id = \(tracker) RETURNING id
                    """).collect().count == 1
            }
            if !renewed {
                logger.error("this tracker's lease ran out and its sessions were deleted; closing every connection so that peers register again",
                             metadata: ["tracker": "\(tracker)"])
                let fresh = try await startTracker()
                knownTracker.withLockedValue { $0 = fresh }
                await identity.replace(with: fresh)
                lostSessions.yield()
            }
            try await database { [lease] client in
                _ = try await client.query("""
                    DELETE FROM ferry_tracker WHERE lease_until < now() - \(lease.collectedAfter.milliseconds) * interval '1 millisecond'
                    """)
            }
        } catch {
            logger.error("could not renew the tracker's lease in the index database", metadata: ["error": "\(error)"])
        }
    }

    /// Deletes this tracker's row (and so its sessions): its peers leave every tracker's lookups now.
    private func retire() async {
        guard let tracker = trackerID else { return }
        do {
            try await database { client in _ = try await client.query("DELETE FROM ferry_tracker WHERE id = \(tracker)") }
        } catch {
            logger.warning("could not give the tracker's lease back; it runs out by itself", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Starting: the schema and this tracker's row

    /// Takes this tracker's id (creating the tables) once, however many calls ask at the same moment.
    func startOnce() async throws -> Int64 {
        try await identity.id { [self] in
            let tracker = try await startTracker()
            knownTracker.withLockedValue { $0 = tracker }
            return tracker
        }
    }

    /// Creates the tables if missing and inserts a new tracker row with a fresh lease.
    private func startTracker() async throws -> Int64 {
        try await database { [lease, location, logger] client in
            try await client.withTransaction(logger: logger) { connection in
                try await Self.createSchema(on: connection, schema: location.schema, logger: logger)
            }
            let rows = try await client.query("""
                INSERT INTO ferry_tracker (lease_until) VALUES (now() + \(lease.duration.milliseconds) * interval '1 millisecond')
                RETURNING id
                """)
            for try await id in rows.decode(Int64.self) { return id }
            throw PostgresIndexError("the database returned no tracker id")
        }
    }

    /// Runs `body` against the database, failing with ``PostgresIndexError`` when it takes longer than
    /// ``operationTimeout`` (the database is down or unreachable). The race ends a wait for a
    /// connection, which is cancelled; a statement already sent is ended by the server's
    /// `statement_timeout` (set to the same bound on every connection).
    func database<Result: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> Result) async throws -> Result {
        let client = self.client
        let timeout = operationTimeout
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await body(client) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next()
            group.cancelAll()
            guard let first, let result = first else {
                throw PostgresIndexError("the index database did not answer within \(timeout)")
            }
            return result
        }
    }
}

/// The PostgreSQL index failed: the database is unreachable or answered something unexpected.
public struct PostgresIndexError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Takes the tracker's id once, however many calls need it at the same moment.
private actor TrackerIdentity {
    private var current: Int64?
    private var starting: Task<Int64, any Error>?

    func id(start: @escaping @Sendable () async throws -> Int64) async throws -> Int64 {
        if let current { return current }
        if let starting { return try await starting.value }
        let task = Task { try await start() }
        starting = task
        do {
            let id = try await task.value
            current = id
            starting = nil
            return id
        } catch {
            starting = nil
            throw error
        }
    }

    func replace(with id: Int64) { current = id }
}

extension Duration {
    /// Whole milliseconds, for SQL intervals (`float8 * interval`).
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}

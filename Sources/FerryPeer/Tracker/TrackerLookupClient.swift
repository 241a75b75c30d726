import FerryWire
import NIOConcurrencyHelpers

/// The tracker as a one-shot downloader sees it: one connection that does not say `HELLO`, opened
/// again when it has closed.
///
/// The tracker closes a connection that has not registered after a short silence (docs/PROTOCOL.md,
/// tracker limits), and a download may ask again long after its first lookup, when every holder it
/// knew has failed. So a lookup on a connection that has closed, or that fails because it closed,
/// is made once more on a new connection.
///
/// Given several trackers, it connects to the first that answers, trying them in order.
public final class TrackerLookupClient: HolderSource {
    private let servers: [Endpoint]
    private let localHost: String?
    private let replyTimeout: Duration
    private let current: NIOLockedValueBox<TrackerConnection?>

    private init(servers: [Endpoint], localHost: String?, replyTimeout: Duration, connection: TrackerConnection) {
        self.servers = servers
        self.localHost = localHost
        self.replyTimeout = replyTimeout
        self.current = NIOLockedValueBox(connection)
    }

    /// Connects to `server` at once, so that an unreachable tracker is reported before any download.
    public static func connect(to server: Endpoint, localHost: String? = nil,
                               replyTimeout: Duration = TrackerConnection.replyTimeout) async throws -> TrackerLookupClient {
        try await connect(to: [server], localHost: localHost, replyTimeout: replyTimeout)
    }

    /// Connects to the first of `servers` that answers; when none does, throws the first one's error.
    public static func connect(to servers: [Endpoint], localHost: String? = nil,
                               replyTimeout: Duration = TrackerConnection.replyTimeout) async throws -> TrackerLookupClient {
        let connection = try await TrackerConnection.connectToFirst(of: servers, localHost: localHost, replyTimeout: replyTimeout)
        return TrackerLookupClient(servers: servers, localHost: localHost, replyTimeout: replyTimeout, connection: connection)
    }


    public func lookup(_ names: [String]) async throws -> [LookupResult] {
        let connection = try await liveConnection()
        do {
            return try await connection.lookup(names)
        } catch let error as PeerError where error.code == .trackerUnavailable && !connection.isActive {
            // The connection ended under this request (the tracker's idle close, a restart): once more.
            return try await liveConnection().lookup(names)
        }
    }

    /// Reports on the open connection; a closed one is not reopened for a report.
    public func report(_ reports: [HolderReport]) async {
        guard let connection = current.withLockedValue({ $0 }), connection.isActive else { return }
        await connection.report(reports)
    }

    /// Says `QUIT` on the open connection, if any.
    public func close() async {
        let connection = current.withLockedValue { connection in
            defer { connection = nil }
            return connection
        }
        await connection?.close()
    }

    private func liveConnection() async throws -> TrackerConnection {
        if let connection = current.withLockedValue({ $0 }), connection.isActive { return connection }
        let fresh = try await TrackerConnection.connectToFirst(of: servers, localHost: localHost, replyTimeout: replyTimeout)
        let replaced = current.withLockedValue { connection in
            defer { connection = fresh }
            return connection
        }
        await replaced?.close()
        return fresh
    }
}

extension TrackerConnection {
    /// Connects to the first of `servers` that answers, trying them in order; when none does, throws
    /// the first one's error.
    public static func connectToFirst(of servers: [Endpoint], localHost: String? = nil,
                                      replyTimeout: Duration = TrackerConnection.replyTimeout) async throws -> TrackerConnection {
        var firstError: (any Error)?
        for server in servers {
            do {
                return try await TrackerConnection.connect(to: server, localHost: localHost, replyTimeout: replyTimeout)
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        throw firstError ?? PeerError(.trackerUnavailable, "no tracker to ask")
    }
}

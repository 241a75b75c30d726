/// The live peers, newest first, and the most-held names: what the status page lists.
public typealias TrackerStatusSummary = (
    peers: [(host: String, tcpPort: UInt16, udpPort: UInt16, files: Int)],
    files: [(name: String, holders: Int)]
)

/// What `ferry server --http` shows of the index: its size, for the metrics, and the status page's
/// lists. A lone tracker's ``MemoryTrackerIndex`` answers from memory; with several trackers on one
/// PostgreSQL index, ``PostgresTrackerStore`` answers for all of them, from the database.
public protocol TrackerIndexSummary: Sendable {
    /// Live sessions, and the (file, holder) pairs they share.
    func liveCounts() async throws -> (peers: Int, entries: Int)

    /// The newest `peerLimit` live sessions (host, ports, files shared) and the `fileLimit` names with
    /// the most holders (ties by name).
    func statusSummary(peerLimit: Int, fileLimit: Int) async throws -> TrackerStatusSummary

    /// How long a status page made from this summary is shown before it is made again: the summary
    /// visits every name (under the index's lock, or as a query over every live row).
    var summaryLifetime: Duration { get }
}

extension MemoryTrackerIndex: TrackerIndexSummary {
    public func liveCounts() -> (peers: Int, entries: Int) { counts }

    /// Lookups per second on the page stay current.
    public var summaryLifetime: Duration { .milliseconds(900) }
}

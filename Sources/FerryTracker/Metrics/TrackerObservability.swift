import FerryHTTP
import FerryWire
import NIOConcurrencyHelpers
import NIOCore

/// What `ferry server --http` serves about a running ``TrackerServer``: its metrics, the status page's
/// document (live peers, most-held files, lookups per second) and its health (listening or not).
public struct TrackerObservability: ObservabilitySource {
    let server: TrackerServer
    /// Where the index's figures come from: the server's memory index, or the PostgreSQL store that
    /// is the index of several trackers.
    let index: any TrackerIndexSummary
    /// The last figures read, shown again while the index cannot be read (a database that is down).
    private let lastCounts = NIOLockedValueBox<(peers: Int, entries: Int)>((0, 0))
    /// The last status document and when it was made: the summary visits the whole index, so viewers
    /// share one per ``TrackerIndexSummary/summaryLifetime``.
    private let cache = NIOLockedValueBox<(made: ContinuousClock.Instant, document: StatusDocument)?>(nil)

    static let peerRows = 100
    static let fileRows = 20

    /// - Parameter index: what the figures are read from; the server's memory index when `nil`.
    public init(server: TrackerServer, index: (any TrackerIndexSummary)? = nil) {
        self.server = server
        self.index = index ?? server.journal.index
    }

    public var title: String { "Ferry tracker" }

    public func metricsText() async -> String {
        let counts = await liveCounts()
        return await server.metrics.collect(connections: server.statistics.connections, peers: counts.peers, entries: counts.entries)
    }

    private func liveCounts() async -> (peers: Int, entries: Int) {
        do {
            let counts = try await index.liveCounts()
            lastCounts.withLockedValue { $0 = counts }
            return counts
        } catch {
            return lastCounts.withLockedValue { $0 }
        }
    }

    public func health() async -> HealthReport {
        guard let address = server.listeningAddress else { return HealthReport(healthy: false, text: "not listening") }
        return HealthReport(healthy: true, text: "listening on \(address.displayString)")
    }

    public func status() async -> StatusDocument {
        let now = ContinuousClock.now
        if let cached = cache.withLockedValue({ $0 }), now - cached.made < index.summaryLifetime { return cached.document }
        // Folds the loops' counts so that lookups per second is current.
        _ = await metricsText()
        let health = await health()
        let counts = lastCounts.withLockedValue { $0 }
        let summary: TrackerStatusSummary?
        do {
            summary = try await index.statusSummary(peerLimit: Self.peerRows, fileLimit: Self.fileRows)
        } catch {
            summary = nil
        }
        let document = makeDocument(health: health, counts: counts, summary: summary)
        cache.withLockedValue { $0 = (now, document) }
        return document
    }

    /// The document; without a `summary` (the index could not be read), its tables say so.
    func makeDocument(health: HealthReport, counts: (peers: Int, entries: Int), summary: TrackerStatusSummary?) -> StatusDocument {
        let unread = "the index could not be read; see the tracker's log"
        let statistics = server.statistics
        return StatusDocument(
            kind: "tracker", healthy: health.healthy, health: health.text,
            figures: [
                .init("live peers", "\(counts.peers)"),
                .init("shared entries", "\(counts.entries)"),
                .init("connections", "\(statistics.connections)"),
                .init("lookups per second", String(Int(server.metrics.lookupsPerSecond.rounded()))),
            ],
            tables: [
                .init(title: "Live peers (newest \(Self.peerRows))", columns: ["peer", "TCP", "UDP", "files"],
                      rows: (summary?.peers ?? []).map { .init([$0.host, "\($0.tcpPort)", $0.udpPort == 0 ? "-" : "\($0.udpPort)", "\($0.files)"]) },
                      empty: summary == nil ? unread : "no peer registered"),
                .init(title: "Most-held files", columns: ["file", "holders"],
                      rows: (summary?.files ?? []).map { .init([$0.name, "\($0.holders)"]) },
                      empty: summary == nil ? unread : "nothing shared"),
            ])
    }
}

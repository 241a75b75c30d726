import FerryHTTP
import NIOConcurrencyHelpers
import NIOCore

/// What `ferry peer --http` serves about a running ``PeerNode``: its metrics, the status page's
/// document (its running downloads with rate and progress, its share, its tracker session) and its
/// health: serving files and registered with the tracker.
public struct PeerObservability: ObservabilitySource {
    let node: PeerNode
    static let sharedRows = 50

    public init(node: PeerNode) {
        self.node = node
    }

    public var title: String { "Ferry peer" }

    public func metricsText() async -> String {
        node.metrics.activeDownloads.record(node.transfers.snapshot.count)
        node.metrics.activeUploads.record(node.fileServer.activeUploads)
        return node.metrics.registry.emitToString()
    }

    public func health() async -> HealthReport {
        let state = node.sessionState.state
        guard node.readiness.listening else { return HealthReport(healthy: false, text: "not serving files yet") }
        switch state {
        case .registered(let seenAs, let tracker):
            return HealthReport(healthy: true, text: "serving, registered with the tracker \(tracker) as \(seenAs)")
        case .connecting:
            return HealthReport(healthy: false, text: "serving, not registered with the tracker \(Endpoint.describe(node.configuration.servers)) yet")
        case .lost(let reason):
            return HealthReport(healthy: false, text: "serving, lost the tracker (\(Endpoint.describe(node.configuration.servers))): \(reason); reconnecting")
        case .left:
            return HealthReport(healthy: false, text: "left the tracker (shutting down)")
        }
    }

    public func status() async -> StatusDocument {
        let health = await health()
        let now = ContinuousClock.now
        let transfers = node.transfers.snapshot
        let files = node.share.snapshot.files.values.sorted { $0.name.rawValue < $1.name.rawValue }
        return StatusDocument(
            kind: "peer", healthy: health.healthy, health: health.text,
            figures: [
                .init("tracker", node.session.connectedTracker?.description ?? Endpoint.describe(node.configuration.servers)),
                .init("files shared", "\(files.count)"),
                .init("downloads running", "\(transfers.count)"),
                .init("uploads running", "\(node.fileServer.activeUploads)"),
            ],
            tables: [
                .init(title: "Downloads", columns: ["file", "from", "transport", "received", "rate", "progress"],
                      rows: transfers.map { transfer in
                          .init([transfer.name, transfer.from, transfer.transport.rawValue,
                                 "\(ByteCount.format(transfer.received)) of \(ByteCount.format(transfer.size))",
                                 "\(ByteCount.format(UInt64(transfer.rate(at: now))))/s"],
                                progress: transfer.progress)
                      },
                      empty: "no download running"),
                .init(title: "Shared files (first \(Self.sharedRows) by name)", columns: ["file", "size"],
                      rows: files.prefix(Self.sharedRows).map { .init([$0.name.rawValue, ByteCount.format($0.size)]) },
                      empty: "nothing shared"),
            ])
    }
}

/// The tracker session as the health check sees it, kept from the session's events.
final class PeerSessionState: Sendable {
    enum State: Sendable, Equatable {
        case connecting
        case registered(seenAs: String, tracker: Endpoint)
        case lost(String)
        case left
    }

    private let box = NIOLockedValueBox(State.connecting)

    var state: State { box.withLockedValue { $0 } }

    func observe(_ event: TrackerSession.Event) {
        box.withLockedValue { state in
            switch event {
            case .registered(let seenAs, let tracker): state = .registered(seenAs: seenAs, tracker: tracker)
            case .announced, .heartbeat: break
            case .lost(let reason): state = .lost(reason)
            case .left: state = .left
            }
        }
    }
}

import NIOConcurrencyHelpers

/// The downloads running now, as the peer's status page shows them, fed by ``DownloadEvent``s (every
/// downloader a ``PeerNode`` makes reports here too), and the metrics those events count.
public final class PeerTransfers: Sendable {
    /// One running download.
    public struct Transfer: Sendable, Equatable {
        public var name: String
        /// The holder (`IP:PORT`) or, for a swarm, the sources fetching now.
        public var from: String
        public var transport: Transport
        public var received: UInt64
        public var size: UInt64
        /// Bytes received since ``started`` (resumed bytes excluded), for the rate.
        var receivedHere: UInt64 = 0
        /// A swarm download (several sources): its bytes are counted by transport when it ends,
        /// from the outcome's per-source records.
        var swarm = false
        var started: ContinuousClock.Instant

        /// Bytes per second since the attempt started.
        public func rate(at now: ContinuousClock.Instant) -> Double {
            let elapsed = now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return seconds > 0.05 ? Double(receivedHere) / seconds : 0
        }

        public var progress: Double { size == 0 ? 1 : min(1, Double(received) / Double(size)) }
    }

    private let running = NIOLockedValueBox<[String: Transfer]>([:])
    let metrics: PeerMetrics

    init(metrics: PeerMetrics) {
        self.metrics = metrics
    }

    /// The running downloads, by name.
    public var snapshot: [Transfer] {
        running.withLockedValue { Array($0.values) }.sorted { $0.name < $1.name }
    }

    /// Records one event of a download.
    func observe(_ event: DownloadEvent) {
        let now = ContinuousClock.now
        var receivedDelta: (UInt64, Transport)?
        var failed = false
        var finishedSwarm: DownloadOutcome?
        running.withLockedValue { running in
            switch event {
            case .attemptStarted(let name, let peer, let transport, let offset, let size):
                running[name] = Transfer(name: name, from: peer, transport: transport, received: offset, size: size, started: now)
            case .progress(let name, let received, let size):
                // Progress without an attempt first: a swarm download (its sources follow).
                var transfer = running[name] ?? Transfer(name: name, from: "", transport: .tcp, received: 0, size: size, swarm: true, started: now)
                if received > transfer.received {
                    let delta = received - transfer.received
                    transfer.receivedHere += delta
                    if !transfer.swarm { receivedDelta = (delta, transfer.transport) }
                }
                transfer.received = max(transfer.received, received)
                transfer.size = size
                running[name] = transfer
            case .sources(let name, let active, let received, let size):
                var transfer = running[name] ?? Transfer(name: name, from: "", transport: .tcp, received: received, size: size, swarm: true, started: now)
                transfer.from = active.joined(separator: ", ")
                transfer.swarm = true
                // Shown as UDP only when every source fetching now is UDP.
                transfer.transport = !active.isEmpty && active.allSatisfy { $0.hasSuffix("(udp)") } ? .udp : .tcp
                transfer.size = size
                running[name] = transfer
            case .attemptFailed:
                failed = true
            case .finished(let outcome):
                if running.removeValue(forKey: outcome.name)?.swarm == true { finishedSwarm = outcome }
            }
        }
        if let (bytes, transport) = receivedDelta { metrics.received(bytes, transport: transport) }
        if failed { metrics.failedAttempts.increment() }
        if let outcome = finishedSwarm {
            for source in outcome.sourceRecords {
                metrics.received(source.bytes, transport: source.transport)
                if source.badChunks > 0 { metrics.chunkFailures.increment(by: Int64(source.badChunks)) }
            }
        }
    }
}

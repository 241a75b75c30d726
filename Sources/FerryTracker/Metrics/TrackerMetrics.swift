import CoreMetrics
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import Prometheus

/// One tracker's metrics, in a registry of its own (tests run many trackers in one process; nothing
/// goes through the global `MetricsSystem`).
///
/// The hot path costs almost nothing: lookups are counted in plain per-loop integers
/// (``TrackerLoopCounters``) that are folded into the Prometheus counters when `/metrics` is read, and
/// the lookup latency goes to a histogram of the connection's event loop (label `loop`), whose lock no
/// other thread takes but a scrape. Gauges (connections, peers, entries) are read from the tracker
/// at scrape time.
public final class TrackerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    /// Upper bounds of the lookup latency buckets: lookups are answered from memory in microseconds.
    static let latencyBuckets: [Duration] = [
        .microseconds(5), .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100),
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(25),
    ]

    static let lookupLatencyLabel = "ferry_tracker_lookup_duration_seconds"

    private struct State {
        var loops: [ObjectIdentifier: (counters: TrackerLoopCounters, timer: CoreMetrics.Timer)] = [:]
        /// What has been added to each Prometheus counter so far.
        var folded: [TrackerLoopCounters.Key: Int] = [:]
        var counters: [TrackerLoopCounters.Key: (requests: CoreMetrics.Counter, errors: CoreMetrics.Counter?)] = [:]
        /// For lookups per second on the status page: the SEND total at the last fold and when.
        var lastLookups = 0
        var lastFold = ContinuousClock.now
        var lookupsPerSecond = 0.0
    }

    private let state = NIOLockedValueBox(State())
    private let connections: CoreMetrics.Gauge
    private let peers: CoreMetrics.Gauge
    private let entries: CoreMetrics.Gauge

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [Self.lookupLatencyLabel: Self.latencyBuckets]
        self.factory = factory
        connections = CoreMetrics.Gauge(label: "ferry_tracker_connections", factory: factory)
        peers = CoreMetrics.Gauge(label: "ferry_tracker_registered_peers", factory: factory)
        entries = CoreMetrics.Gauge(label: "ferry_tracker_shared_entries", factory: factory)
    }

    /// The counters of `loop`'s connections and its latency histogram (made on first use).
    func loopCounters(for loop: any EventLoop) -> (counters: TrackerLoopCounters, timer: CoreMetrics.Timer) {
        state.withLockedValue { state in
            if let existing = state.loops[ObjectIdentifier(loop)] { return existing }
            let made = (TrackerLoopCounters(loop: loop),
                        CoreMetrics.Timer(label: Self.lookupLatencyLabel, dimensions: [("loop", "\(state.loops.count)")], factory: factory))
            state.loops[ObjectIdentifier(loop)] = made
            return made
        }
    }

    /// Folds every loop's counts into the Prometheus counters, sets the gauges, and returns the text.
    func collect(connections: Int, peers: Int, entries: Int) async -> String {
        let loops = state.withLockedValue { $0.loops.values.map(\.counters) }
        var totals: [TrackerLoopCounters.Key: Int] = [:]
        for counters in loops {
            // On the loop: its counts are never read from another thread.
            let snapshot = try? await counters.loop.submit { counters.snapshot() }.get()
            for (key, count) in snapshot ?? [:] { totals[key, default: 0] += count }
        }
        let factory = self.factory
        state.withLockedValue { state in
            for (key, total) in totals {
                let delta = total - state.folded[key, default: 0]
                guard delta > 0 else { continue }
                state.folded[key] = total
                let pair: (requests: CoreMetrics.Counter, errors: CoreMetrics.Counter?)
                if let existing = state.counters[key] {
                    pair = existing
                } else {
                    let dimensions = [("verb", key.verb.label), ("code", key.code == 0 ? "none" : "\(key.code)")]
                    pair = (CoreMetrics.Counter(label: "ferry_tracker_requests_total", dimensions: dimensions, factory: factory),
                            key.code >= 400 ? CoreMetrics.Counter(label: "ferry_tracker_errors_total", dimensions: dimensions, factory: factory) : nil)
                    state.counters[key] = pair
                }
                pair.requests.increment(by: Int64(delta))
                pair.errors?.increment(by: Int64(delta))
            }
            let lookups = totals[TrackerLoopCounters.Key(verb: .send, code: 200)] ?? 0
            let now = ContinuousClock.now
            let elapsed = now - state.lastFold
            if elapsed >= .milliseconds(500) {
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                state.lookupsPerSecond = Double(lookups - state.lastLookups) / seconds
                state.lastLookups = lookups
                state.lastFold = now
            }
        }
        self.connections.record(connections)
        self.peers.record(peers)
        self.entries.record(entries)
        return registry.emitToString()
    }

    /// `SEND` lookups per second between the last two folds at least half a second apart.
    var lookupsPerSecond: Double { state.withLockedValue { $0.lookupsPerSecond } }
}

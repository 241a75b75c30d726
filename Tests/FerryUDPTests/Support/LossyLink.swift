import FerryTestSupport
import NIOCore

/// One direction of a simulated network path: a bottleneck with a finite queue, propagation delay,
/// jitter, random loss, duplication, reordering and forged copies, all drawn from a seeded generator.
struct LossyLink {
    struct Configuration {
        /// One-way propagation delay.
        var delay: Duration = .milliseconds(10)
        /// Extra delay drawn uniformly from `0..<jitter` per datagram.
        var jitter: Duration = .zero
        /// Probability that a datagram is lost (after the bottleneck, like a lossy last hop).
        var lossRate: Double = 0
        /// Probability that a datagram arrives twice.
        var duplicateRate: Double = 0
        /// Probability that a datagram is held back by ``reorderDelay``, letting later ones overtake it.
        var reorderRate: Double = 0
        var reorderDelay: Duration = .milliseconds(3)
        /// Bottleneck rate in bytes per second; `nil` for an infinitely fast link.
        var bandwidth: Double? = nil
        /// Probability that a forged copy of a datagram, with a few bytes changed, arrives later too
        /// (an on-path attacker or a broken middlebox).
        var corruptionRate: Double = 0
        /// Bytes that may wait for the bottleneck; more are tail-dropped.
        var queueLimit: Int = 512 * 1200
        /// The largest datagram the path carries (its MTU less the IP and UDP headers); larger ones
        /// are dropped, as a router drops a packet with the don't-fragment bit. `nil` carries any.
        var maximumDatagramSize: Int? = nil
    }

    struct Counters {
        var sent = 0
        var delivered = 0
        var randomLosses = 0
        var queueDrops = 0
        var duplicates = 0
        var corrupted = 0
        var blackholed = 0
        var tooLarge = 0
    }

    let configuration: Configuration
    private var generator: SeededGenerator
    private var busyUntil = TestInstant.zero
    private(set) var counters = Counters()
    /// From this instant on every datagram vanishes (the peer "disappears").
    var blackholeFrom: TestInstant?
    /// From this instant on the path carries datagrams of at most this size (a route change).
    var shrink: (from: TestInstant, maximumDatagramSize: Int)?

    init(_ configuration: Configuration, seed: UInt64) {
        self.configuration = configuration
        self.generator = SeededGenerator(seed: seed)
    }

    /// The arrivals of `datagram` sent at `now`: none, one, or more (duplicates, forged copies).
    mutating func transmit(
        _ datagram: ByteBuffer,
        at now: TestInstant
    ) -> [(arrival: TestInstant, datagram: ByteBuffer)] {
        self.counters.sent += 1
        let size = datagram.readableBytes
        if let blackholeFrom, now >= blackholeFrom {
            self.counters.blackholed += 1
            return []
        }
        let limit = self.shrink.flatMap { now >= $0.from ? $0.maximumDatagramSize : nil }
            ?? self.configuration.maximumDatagramSize
        if let limit, size > limit {
            self.counters.tooLarge += 1
            return []
        }
        var departure = now
        if let bandwidth = self.configuration.bandwidth {
            let start = max(now, self.busyUntil)
            let queued = now.duration(to: start)
            if queued.inSeconds * bandwidth + Double(size) > Double(self.configuration.queueLimit) {
                self.counters.queueDrops += 1
                return []
            }
            self.busyUntil = start.advanced(by: .nanoseconds(Int64(Double(size) / bandwidth * 1e9)))
            departure = self.busyUntil
        }
        var arrivals: [(arrival: TestInstant, datagram: ByteBuffer)] = []
        if self.generator.chance(self.configuration.corruptionRate), size > 0 {
            self.counters.corrupted += 1
            var forged = datagram
            for _ in 0..<Int.random(in: 1...3, using: &self.generator) {
                let index = forged.readerIndex + Int.random(in: 0..<size, using: &self.generator)
                forged.setInteger(UInt8.random(in: 0...255, using: &self.generator), at: index)
            }
            arrivals.append((self.arrival(after: departure).advanced(by: self.configuration.reorderDelay), forged))
        }
        if self.generator.chance(self.configuration.lossRate) {
            self.counters.randomLosses += 1
            return arrivals
        }
        arrivals.append((self.arrival(after: departure), datagram))
        if self.generator.chance(self.configuration.duplicateRate) {
            self.counters.duplicates += 1
            arrivals.append((self.arrival(after: departure), datagram))
        }
        self.counters.delivered += arrivals.count
        return arrivals
    }

    private mutating func arrival(after departure: TestInstant) -> TestInstant {
        var arrival = departure.advanced(by: self.configuration.delay)
        let jitter = self.configuration.jitter.inSeconds
        if jitter > 0 {
            arrival = arrival.advanced(
                by: .nanoseconds(Int64(Double.random(in: 0..<jitter, using: &self.generator) * 1e9))
            )
        }
        if self.generator.chance(self.configuration.reorderRate) {
            arrival = arrival.advanced(by: self.configuration.reorderDelay)
        }
        return arrival
    }
}

extension Duration {
    var inSeconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

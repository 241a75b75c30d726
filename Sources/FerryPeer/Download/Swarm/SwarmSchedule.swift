/// The decisions of one file's swarm download, apart from any I/O: which chunks each source fetches,
/// when an idle source takes over part of another's work, when the last chunks are asked of two
/// sources, and when a source is dropped.
///
/// The file is cut into chunks (its BEP 52 piece layer's). A source works on one *range* of chunks
/// at a time: a single request streams the whole range, so a source pays one round trip per range,
/// not per chunk. The range's first chunk is the one being received.
///
/// - **Assignment.** An idle source takes the first chunks that no one has and no one is fetching,
///   at most as many as the caller allows (the downloader sizes that to about a quarter second of the
///   source's measured rate). Lowest first, so that the verified prefix, which the whole-file SHA-256
///   follows, grows as fast as the download: with a few large ranges, most of the file would be
///   hashed after the last byte arrived. When no chunk is free, a source takes the upper half of the
///   largest range still in flight elsewhere (aria2's way: the owner's range ends where the thief's
///   starts; the owner stops there), so faster sources take work from slower ones until only chunks
///   being received are left.
/// - **Endgame.** When every range in flight is down to the chunk being received, an idle source
///   asks for one of those chunks too. Whichever source delivers it first wins; the other is
///   cancelled (``Delivery/cancel``). A chunk is never asked of more than two sources.
/// - **Bad chunks.** A chunk that fails its hash is thrown away; the source goes on with its range
///   and the chunk is free for anyone again. A peer whose sources deliver ``badChunkLimit`` bad
///   chunks in all is dropped for this download, every source of it at once.
/// - **Peers and lanes.** Several sources may be one peer (``addSource(peer:)``): the downloader
///   gives each peer two *lanes*, so that the next range's request is on its way while the last
///   chunk of the current one arrives. Bad chunks count per peer.
/// - **Failures.** A source whose request fails (connection refused, stalled, closed early) is
///   dropped: it costs the chunks it had in flight, which are free again.
///
/// Sources are numbered in the order they were added (``addSource()``).
public struct SwarmSchedule: Sendable, Equatable {
    /// Bad chunks after which a source is dropped.
    public static let badChunkLimit = 2

    public struct Source: Sendable, Equatable {
        /// The peer this source is a lane of.
        public internal(set) var peer: Int
        /// The chunks this source is fetching: `lowerBound` is being received. `nil`: idle.
        public internal(set) var range: Range<Int>?
        /// Verified chunks this source delivered first.
        public internal(set) var chunks = 0
        /// Chunks it delivered that failed their hash.
        public internal(set) var badChunks = 0
        /// Chunks it delivered after another source had (endgame).
        public internal(set) var wasted = 0
        /// Dropped for this download: no more work.
        public internal(set) var isDropped = false

        init(peer: Int) {
            self.peer = peer
        }
    }

    /// What an idle source does next.
    public enum Assignment: Equatable, Sendable {
        /// Fetch these chunks, in one request.
        case fetch(Range<Int>)
        /// Everything left is in flight elsewhere: ask again after the next change.
        case wait
        /// Nothing is left for this source: every chunk is verified, or it was dropped.
        case finished
    }

    /// What a source does after delivering a chunk.
    public struct Delivery: Equatable, Sendable {
        public enum Next: Equatable, Sendable {
            /// Go on receiving the range.
            case proceed
            /// The range is done (or was cut short by a thief): end the request, ask for work.
            case rangeDone
            /// The source is dropped (too many bad chunks): end the request, stop.
            case dropped
        }
        public var next: Next
        /// Sources to cancel: those fetching the same chunk that lost the race, or the other lanes of
        /// a peer just dropped for bad chunks.
        public var cancel: [Int] = []
    }

    public let chunkCount: Int
    public private(set) var verified: [Bool]
    public private(set) var verifiedCount: Int
    public private(set) var sources: [Source] = []

    /// - Parameter verified: chunks already on disk and checked (a resumed download).
    public init(chunkCount: Int, verified: [Bool]? = nil) {
        precondition(chunkCount > 0)
        self.chunkCount = chunkCount
        self.verified = verified ?? Array(repeating: false, count: chunkCount)
        precondition(self.verified.count == chunkCount)
        self.verifiedCount = self.verified.lazy.filter { $0 }.count
    }

    public var isComplete: Bool { verifiedCount == chunkCount }

    /// Sources that are not dropped.
    public var liveSourceCount: Int { sources.lazy.filter { !$0.isDropped }.count }

    /// Sources with a range in flight.
    public var activeSourceCount: Int { sources.lazy.filter { $0.range != nil }.count }

    /// A new source, idle, a lane of `peer` (by default a peer of its own, numbered as the source);
    /// returns its number.
    public mutating func addSource(peer: Int? = nil) -> Int {
        sources.append(Source(peer: peer ?? sources.count))
        return sources.count - 1
    }

    /// Bad chunks delivered by every lane of `peer`.
    public func badChunks(ofPeer peer: Int) -> Int {
        sources.lazy.filter { $0.peer == peer }.map(\.badChunks).reduce(0, +)
    }

    /// Work for an idle source: at most `maximumChunks` free chunks, or part of another's range.
    public mutating func assign(_ source: Int, maximumChunks: Int = .max) -> Assignment {
        precondition(sources[source].range == nil, "source \(source) already has a range")
        precondition(maximumChunks > 0)
        if sources[source].isDropped || isComplete { return .finished }
        if let free = firstFreeRun() {
            let range = free.lowerBound..<free.lowerBound + min(free.count, maximumChunks)
            sources[source].range = range
            return .fetch(range)
        }
        // The largest range with chunks not yet started: take its upper half.
        let candidates = sources.indices.filter { $0 != source && (sources[$0].range?.count ?? 0) >= 2 }
        if let owner = candidates.max(by: { sources[$0].range!.count < sources[$1].range!.count }) {
            let range = sources[owner].range!
            let notStarted = range.count - 1
            let split = range.upperBound - (notStarted + 1) / 2
            sources[owner].range = range.lowerBound..<split
            sources[source].range = split..<range.upperBound
            return .fetch(split..<range.upperBound)
        }
        // Endgame: a chunk being received by exactly one other source.
        for owner in sources.indices where owner != source {
            guard let range = sources[owner].range, range.count == 1 else { continue }
            let chunk = range.lowerBound
            if !verified[chunk], fetchers(of: chunk) == 1 {
                sources[source].range = chunk..<chunk + 1
                return .fetch(chunk..<chunk + 1)
            }
        }
        return .wait
    }

    /// `source` delivered `chunk`, its range's first; `valid` says whether it matched its hash. A
    /// source that lost the chunk's race meanwhile (its range was taken away) gets `rangeDone`.
    public mutating func delivered(_ source: Int, chunk: Int, valid: Bool) -> Delivery {
        guard let range = sources[source].range, range.lowerBound == chunk else {
            if valid { sources[source].wasted += 1 }
            return Delivery(next: sources[source].isDropped ? .dropped : .rangeDone)
        }
        var delivery = Delivery(next: .proceed)
        if valid {
            if verified[chunk] {
                sources[source].wasted += 1
            } else {
                verified[chunk] = true
                verifiedCount += 1
                sources[source].chunks += 1
            }
            // The other source fetching this chunk (endgame) lost.
            for other in sources.indices where other != source && sources[other].range?.lowerBound == chunk {
                delivery.cancel.append(other)
                sources[other].range = nil
            }
        } else {
            sources[source].badChunks += 1
            let peer = sources[source].peer
            if badChunks(ofPeer: peer) >= Self.badChunkLimit {
                for lane in sources.indices where sources[lane].peer == peer {
                    if lane != source, sources[lane].range != nil { delivery.cancel.append(lane) }
                    sources[lane].isDropped = true
                    sources[lane].range = nil
                }
                delivery.next = .dropped
                return delivery
            }
        }
        let rest = chunk + 1..<range.upperBound
        if rest.isEmpty {
            sources[source].range = nil
            delivery.next = .rangeDone
        } else {
            sources[source].range = rest
        }
        return delivery
    }

    /// `source`'s request ended before its range was done (or it was cancelled): the chunks it had
    /// in flight are free again. A `failed` source is dropped.
    public mutating func ended(_ source: Int, failed: Bool) {
        sources[source].range = nil
        if failed { sources[source].isDropped = true }
    }

    /// Drops an idle source (for instance when it has no more to offer).
    public mutating func drop(_ source: Int) {
        ended(source, failed: true)
    }

    /// How many sources are fetching `chunk`.
    func fetchers(of chunk: Int) -> Int {
        sources.lazy.filter { $0.range?.contains(chunk) == true }.count
    }

    /// The first run of chunks neither verified nor in anyone's range.
    func firstFreeRun() -> Range<Int>? {
        var taken = verified
        for source in sources {
            if let range = source.range { for chunk in range { taken[chunk] = true } }
        }
        guard let start = taken.firstIndex(of: false) else { return nil }
        let end = taken[start...].firstIndex(of: true) ?? chunkCount
        return start..<end
    }
}

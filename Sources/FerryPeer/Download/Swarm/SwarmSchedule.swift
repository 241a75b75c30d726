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
    /// The chunks of each partial peer (by peer number); a peer not here has every chunk.
    public private(set) var availability: [Int: [Bool]] = [:]
    /// Picks among the rarest chunks (see the type's documentation).
    private var random: SplitMix64
    /// With a single live peer, assign as rarest first too (at random): for a download that serves
    /// what it fetches, since others who start from the same seeder at the same time then fetch
    /// different chunks, which they trade once they see each other.
    public var spreadsWhenAlone = false

    /// - Parameters:
    ///   - verified: chunks already on disk and checked (a resumed download).
    ///   - seed: for the random picks among the rarest chunks; a downloader uses a random one.
    public init(chunkCount: Int, verified: [Bool]? = nil, seed: UInt64 = 0) {
        precondition(chunkCount > 0)
        self.chunkCount = chunkCount
        self.random = SplitMix64(state: seed)
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

    /// Sets the chunks `peer` has (`nil`: all of them). Its sources keep their ranges.
    public mutating func setAvailability(ofPeer peer: Int, _ chunks: [Bool]?) {
        precondition(chunks == nil || chunks!.count == chunkCount)
        availability[peer] = chunks
    }

    /// Whether `peer` has `chunk`.
    public func peer(_ peer: Int, has chunk: Int) -> Bool {
        availability[peer]?[chunk] ?? true
    }

    /// Whether assignment goes rarest first: a live partial peer is known, or a single live peer
    /// is left and ``spreadsWhenAlone``.
    public var isRarestFirst: Bool {
        let live = sources.lazy.filter { !$0.isDropped }
        if live.contains(where: { availability[$0.peer] != nil }) { return true }
        guard spreadsWhenAlone, let first = live.first?.peer else { return false }
        return live.allSatisfy { $0.peer == first }
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
        let peer = sources[source].peer
        if let range = isRarestFirst ? rarestFreeRun(for: peer, maximumChunks: maximumChunks)
            : firstFreeRun().map({ $0.lowerBound..<$0.lowerBound + min($0.count, maximumChunks) }) {
            sources[source].range = range
            return .fetch(range)
        }
        // The largest range with chunks not yet started: take its upper half (of it, for a partial
        // peer, the end it has).
        func stealable(_ range: Range<Int>) -> Range<Int> {
            let half = range.upperBound - range.count / 2
            var start = range.upperBound
            while start > half, self.peer(peer, has: start - 1) { start -= 1 }
            return start..<range.upperBound
        }
        let thefts = sources.indices.compactMap { owner -> (owner: Int, range: Range<Int>)? in
            guard owner != source, let range = sources[owner].range, range.count >= 2 else { return nil }
            let taken = stealable(range)
            return taken.isEmpty ? nil : (owner, taken)
        }
        if let theft = thefts.max(by: { ($0.range.count, sources[$0.owner].range!.count) < ($1.range.count, sources[$1.owner].range!.count) }) {
            sources[theft.owner].range = sources[theft.owner].range!.lowerBound..<theft.range.lowerBound
            sources[source].range = theft.range
            return .fetch(theft.range)
        }
        // Endgame: a chunk being received by exactly one other source.
        for owner in sources.indices where owner != source {
            guard let range = sources[owner].range, range.count == 1 else { continue }
            let chunk = range.lowerBound
            if !verified[chunk], fetchers(of: chunk) == 1, self.peer(peer, has: chunk) {
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

    /// Chunks verified or in someone's range.
    private func takenChunks() -> [Bool] {
        var taken = verified
        for source in sources {
            if let range = source.range { for chunk in range { taken[chunk] = true } }
        }
        return taken
    }

    /// The first run of chunks neither verified nor in anyone's range.
    func firstFreeRun() -> Range<Int>? {
        let taken = takenChunks()
        guard let start = taken.firstIndex(of: false) else { return nil }
        let end = taken[start...].firstIndex(of: true) ?? chunkCount
        return start..<end
    }

    /// Rarest first: among the free chunks `peer` has, one of those the fewest live peers have, at
    /// random, and the ones after it that are as rare, at most `maximumChunks`.
    mutating func rarestFreeRun(for peer: Int, maximumChunks: Int) -> Range<Int>? {
        let taken = takenChunks()
        let livePeers = Set(sources.lazy.filter { !$0.isDropped }.map(\.peer))
        let partial = livePeers.compactMap { availability[$0] }
        let complete = livePeers.count - partial.count
        var rarity = [Int](repeating: complete, count: chunkCount)
        for chunks in partial {
            for chunk in 0..<chunkCount where chunks[chunk] { rarity[chunk] += 1 }
        }
        let has = availability[peer]
        func wanted(_ chunk: Int) -> Bool { !taken[chunk] && (has?[chunk] ?? true) }
        guard let rarest = (0..<chunkCount).lazy.filter(wanted).map({ rarity[$0] }).min() else { return nil }
        let rarestChunks = (0..<chunkCount).filter { wanted($0) && rarity[$0] == rarest }
        let start = rarestChunks[Int(random.next() % UInt64(rarestChunks.count))]
        var end = start + 1
        while end < chunkCount, end - start < maximumChunks, wanted(end), rarity[end] == rarest { end += 1 }
        return start..<end
    }
}

/// A small seeded generator (SplitMix64): the schedule stays a value that tests can replay.
struct SplitMix64: Equatable, Sendable {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Which of several trackers a peer's session tries next (`--server a:4444,b:4444`).
///
/// The session keeps to the tracker it is connected to. When that connection is lost it tries the same
/// tracker once more (a restart or a network blip), then the others in order, wrapping around. When
/// a whole round of attempts has failed, the session waits (its backoff) before the next round; the
/// attempts within a round follow each other at once, so a dead tracker costs one refused connect.
struct TrackerRotation: Equatable {
    /// How many trackers there are.
    let count: Int
    /// The tracker to try next, an index into the list.
    private(set) var current = 0
    /// Failed attempts since the last connection or the last full round.
    private(set) var failuresInRound = 0

    init(count: Int) {
        precondition(count > 0, "at least one tracker")
        self.count = count
    }

    /// The session connected to ``current``.
    mutating func connected() {
        failuresInRound = 0
    }

    /// The connection to ``current`` was lost: the next attempt goes to it again.
    mutating func lost() {
        failuresInRound = 0
    }

    /// An attempt on ``current`` failed: moves on to the next tracker. Returns `true` when that
    /// completed a round of failures (every tracker failed once): the caller waits before going on.
    mutating func failed() -> Bool {
        current = (current + 1) % count
        failuresInRound += 1
        guard failuresInRound >= count else { return false }
        failuresInRound = 0
        return true
    }
}

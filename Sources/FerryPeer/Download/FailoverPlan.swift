import FerryWire

/// The failover decisions of one file's download, apart from any I/O: which peer to ask next and
/// from which offset, when to ask the tracker again, when to verify, whom to blame, when to give up.
///
/// Peers are tried in the tracker's order. A failed attempt keeps the bytes it delivered (they are in
/// order in the part file), so the next peer is asked from the offset already received: a resume, not
/// a restart. When every candidate has failed, the tracker is asked once more; then the download
/// gives up. A local error (``TransferError/isLocal``: disk full, a write that failed) stops the
/// download at once: another peer would meet the same disk.
///
/// Busy. A holder that answers `503 busy` is loaded, not broken. When every candidate has been
/// tried and the tracker asked again, the holders that were busy in the last pass are asked again
/// after a pause (``pause(_:)``: 250 ms, doubling, at most 4 s), up to ``busyRounds`` times, before the
/// download gives up.
///
/// Blame. Only the whole file's SHA-256 is known, so when it does not match, the plan cannot tell
/// which bytes were wrong; it knows which holders supplied bytes since the download last started
/// from 0 (a *round*):
/// - a holder that supplied every byte of the round alone is *convicted*: never asked again for
///   this file, even when the tracker lists it again;
/// - when several holders (or a part file from an earlier run) supplied the bytes, each of them is
///   a *suspect*. Every contributing attempt is marked `hash_mismatch` either way.
///
/// After a mismatch the download starts over from 0, with holders that are not suspected first (in
/// the tracker's order) and suspects last. A suspect's bytes are never mixed with anyone's: it is
/// always asked for the whole file, and if it stops part-way its bytes are thrown away. So the next
/// mismatch it takes part in convicts it alone, and a lying holder first in the list can no longer
/// make an honest one fail: each round either convicts a holder or turns a holder into a suspect,
/// which bounds the rounds.
public struct FailoverPlan: Sendable, Equatable {
    /// A peer and the transport to use with it.
    public struct Candidate: Hashable, Sendable {
        public var holder: Holder
        public var transport: Transport
        public init(holder: Holder, transport: Transport) {
            self.holder = holder
            self.transport = transport
        }

        /// `host:port` with the port of this candidate's transport.
        public var endpoint: String {
            let port = transport == .udp ? holder.udpPort : holder.tcpPort
            return holder.host.contains(":") ? "[\(holder.host)]:\(port)" : "\(holder.host):\(port)"
        }
    }

    /// One attempt: who, how much it delivered, and why it ended (`nil`: it delivered the rest).
    public struct Attempt: Hashable, Sendable {
        public var candidate: Candidate
        /// Where this attempt started in the file.
        public var offset: UInt64
        public var bytes: UInt64
        public var error: TransferError?
        public var message: String?
    }

    public enum Action: Hashable, Sendable {
        /// Ask this candidate for the bytes from `offset` to the end. The part file holds exactly
        /// `offset` bytes first: bytes past it (a suspect's, or a round being restarted) are dropped.
        case fetch(Candidate, offset: UInt64)
        /// Every candidate failed: ask the tracker who holds the file now.
        case askTracker
        /// Every holder left was busy: wait this long, then go on (``nextAction()`` asks them again).
        case pause(Duration)
        /// All bytes are in: check their SHA-256.
        case verify
        /// Nothing is left to try, or a local error stopped the download (see ``localFailure``).
        case giveUp
    }

    public let size: UInt64
    /// The holders as the tracker last listed them.
    public private(set) var candidates: [Candidate]
    public private(set) var received: UInt64
    public private(set) var attempts: [Attempt] = []
    /// Holders that supplied bytes to a round whose SHA-256 failed, together with others.
    public private(set) var suspects: Set<Holder> = []
    /// Holders that alone supplied a round whose SHA-256 failed: never asked again.
    public private(set) var convicted: Set<Holder> = []
    /// The local error that stopped the download, if one did.
    public private(set) var localFailure: Attempt?
    private var queue: [Candidate]
    private var nextCandidate = 0
    private var askedTracker = false
    /// Where the current pass over ``queue`` starts in ``attempts``.
    private var passStart = 0
    /// Pauses taken for busy holders so far.
    public private(set) var busyPausesTaken = 0

    /// How many times holders that were all busy are waited for and asked again.
    public static let busyRounds = 6

    /// The pause before busy round `round` (1, 2, …): 250 ms, doubling, at most 4 s (11.75 s in all).
    public static func pause(_ round: Int) -> Duration {
        .milliseconds(min(4000, 250 << min(max(round - 1, 0), 4)))
    }
    /// Where the current round's attempts start in ``attempts``.
    private var roundStart = 0
    /// The current round began with bytes of a part file from an earlier run.
    private var roundHasEarlierBytes: Bool

    /// - Parameter received: bytes already in a part file from an earlier run (recorded as holding
    ///   this content).
    public init(size: UInt64, candidates: [Candidate], received: UInt64 = 0) {
        self.size = size
        self.candidates = candidates
        self.queue = candidates
        self.received = min(received, size)
        self.roundHasEarlierBytes = received > 0
    }

    /// What to do next.
    public mutating func nextAction() -> Action {
        if localFailure != nil { return .giveUp }
        if received == size, size > 0 || attempts[roundStart...].contains(where: { $0.error == nil }) {
            return .verify
        }
        while nextCandidate < queue.count {
            let candidate = queue[nextCandidate]
            nextCandidate += 1
            if convicted.contains(candidate.holder) { continue }
            if suspects.contains(candidate.holder), received > 0 {
                startRound()            // a suspect supplies the whole file alone
            }
            return .fetch(candidate, offset: received)
        }
        if !askedTracker {
            askedTracker = true
            return .askTracker
        }
        // The holders of this pass that were busy, in order, once each.
        var busy: [Candidate] = []
        for attempt in attempts[min(passStart, attempts.count)...]
        where attempt.error == .busy && !busy.contains(attempt.candidate) && !convicted.contains(attempt.candidate.holder) {
            busy.append(attempt.candidate)
        }
        if !busy.isEmpty, busyPausesTaken < Self.busyRounds {
            busyPausesTaken += 1
            queue = busy
            nextCandidate = 0
            passStart = attempts.count
            return .pause(Self.pause(busyPausesTaken))
        }
        return .giveUp
    }

    /// Records the end of an attempt that wrote `bytes` more bytes in order to the part file.
    public mutating func record(_ candidate: Candidate, bytes: UInt64, error: TransferError?, message: String? = nil) {
        let attempt = Attempt(candidate: candidate, offset: received, bytes: bytes, error: error, message: message)
        received = min(received + bytes, size)
        attempts.append(attempt)
        if let error, error.isLocal {
            localFailure = attempt
        } else if error != nil, received < size, suspects.contains(candidate.holder) {
            startRound()                // a suspect's partial bytes are never completed by another
        }
    }

    /// The tracker's current holders: every one of them is tried (again), from the current offset,
    /// those not suspected first; convicted holders are left out.
    public mutating func holdersRefreshed(_ fresh: [Candidate]) {
        candidates = fresh
        queue = ordered(fresh)
        nextCandidate = 0
        passStart = attempts.count
    }

    /// The bytes did not hash to the announced SHA-256: blame the holders that supplied them (see the
    /// type's documentation) and start over from 0, holders not blamed first.
    public mutating func verificationFailed() {
        let round = attempts.indices.dropFirst(roundStart)
        let contributing = round.filter { attempts[$0].bytes > 0 || attempts[$0].error == nil }
        let holders = Set(contributing.map { attempts[$0].candidate.holder })
        let alone = holders.count == 1 && !roundHasEarlierBytes
        for index in contributing {
            let attempt = attempts[index]
            attempts[index].error = .hashMismatch
            attempts[index].message = alone
                ? "the received bytes do not match the announced SHA-256; discarded, and this peer is not asked again"
                : "bytes \(attempt.offset)–\(attempt.offset + attempt.bytes) came from this peer and the whole file does not match "
                    + "the announced SHA-256; discarded, and this peer is asked again only for the whole file"
        }
        if alone {
            convicted.formUnion(holders)
            suspects.subtract(holders)
        } else {
            suspects.formUnion(holders.subtracting(convicted))
        }
        startRound()
        queue = ordered(candidates)
        nextCandidate = 0
        passStart = attempts.count
    }

    /// Whether another holder than `candidate`'s is left in the queue: a slow attempt is given up
    /// (``ProgressFloor``) only then.
    public func hasAlternative(to candidate: Candidate) -> Bool {
        queue[nextCandidate...].contains { $0.holder != candidate.holder && !convicted.contains($0.holder) }
    }

    /// The attempt that delivered the last bytes, once verified.
    public var finishingAttempt: Attempt? {
        attempts[roundStart...].last { $0.error == nil }
    }

    private mutating func startRound() {
        received = 0
        roundStart = attempts.count
        roundHasEarlierBytes = false
    }

    /// Holders not blamed first, suspects last, convicted left out; the order is kept otherwise.
    private func ordered(_ list: [Candidate]) -> [Candidate] {
        let allowed = list.filter { !convicted.contains($0.holder) }
        return allowed.filter { !suspects.contains($0.holder) } + allowed.filter { suspects.contains($0.holder) }
    }
}

import FerryWire

/// The failover decisions of one file's download, apart from any I/O: which peer to ask next and
/// from which offset, when to ask the tracker again, when to verify, when to give up.
///
/// Peers are tried in the tracker's order. A failed attempt keeps the bytes it delivered (they are in
/// order in the part file), so the next peer is asked from the offset already received: a resume, not
/// a restart. A hash mismatch throws all bytes away and the next peer starts from 0. When every
/// candidate has failed, the tracker is asked once more; then the download gives up.
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
        public var bytes: UInt64
        public var error: TransferError?
        public var message: String?
    }

    public enum Action: Hashable, Sendable {
        /// Ask this candidate for the bytes from `offset` to the end.
        case fetch(Candidate, offset: UInt64)
        /// Every candidate failed: ask the tracker who holds the file now.
        case askTracker
        /// All bytes are in: check their SHA-256.
        case verify
        /// Nothing is left to try.
        case giveUp
    }

    public let size: UInt64
    public private(set) var candidates: [Candidate]
    public private(set) var received: UInt64
    public private(set) var attempts: [Attempt] = []
    private var nextCandidate = 0
    private var askedTracker = false

    /// - Parameter received: bytes already verified-in-order in a part file from an earlier run.
    public init(size: UInt64, candidates: [Candidate], received: UInt64 = 0) {
        self.size = size
        self.candidates = candidates
        self.received = min(received, size)
    }

    /// What to do next.
    public mutating func nextAction() -> Action {
        if received == size, size > 0 || attempts.contains(where: { $0.error == nil }) {
            return .verify
        }
        if nextCandidate < candidates.count {
            defer { nextCandidate += 1 }
            return .fetch(candidates[nextCandidate], offset: received)
        }
        if !askedTracker {
            askedTracker = true
            return .askTracker
        }
        return .giveUp
    }

    /// Records the end of an attempt that delivered `bytes` more bytes in order.
    public mutating func record(_ candidate: Candidate, bytes: UInt64, error: TransferError?, message: String? = nil) {
        received = min(received + bytes, size)
        attempts.append(Attempt(candidate: candidate, bytes: bytes, error: error, message: message))
    }

    /// The tracker's current holders: every one of them is tried (again), from the current offset.
    public mutating func holdersRefreshed(_ fresh: [Candidate]) {
        candidates = fresh
        nextCandidate = 0
    }

    /// The bytes did not hash to the announced SHA-256: blame the last attempt and start over from 0
    /// with the next candidate.
    public mutating func verificationFailed() {
        if let last = attempts.indices.last {
            attempts[last].error = .hashMismatch
            attempts[last].message = "the received bytes do not match the announced SHA-256; discarded"
        }
        received = 0
    }

    /// The attempt that delivered the last bytes, once verified.
    public var finishingAttempt: Attempt? {
        attempts.last { $0.error == nil }
    }
}

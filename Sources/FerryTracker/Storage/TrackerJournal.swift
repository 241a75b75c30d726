import FerryWire
import Logging
import NIOConcurrencyHelpers

/// The tracker's index as the server uses it: a ``MemoryTrackerIndex`` that answers at once, followed
/// by a durable ``TrackerStore`` (SQLite) that a background writer keeps up to date.
///
/// - Changes go to memory first; `SEND` reads memory only.
/// - The writer (``run()``) takes the index's coalesced changes and writes them, one peer at a time:
///   its backlog is a set of peer ids, bounded by the index, never a queue of operations. A burst of
///   share replacements from one peer costs one write of its latest share.
/// - `LIST` scans names, which the database does on its own threads: it first waits until the database
///   has every change made before it (``flush()``), so it reads what the client wrote. Names are
///   written in NFC, so that its scalar matching agrees with the index's canonical comparison.
/// - A failed database write is logged, and the next change of that peer writes its whole share; it
///   never fails a request: the index is the truth while the tracker runs, and it is rebuilt from the peers' own
///   `HELLO`s when the tracker starts again.
public final class TrackerJournal: TrackerStore {
    public let index: MemoryTrackerIndex
    let durable: any TrackerStore
    private let logger: Logger
    private let wakeUp: AsyncStream<Void>.Continuation
    private let wakeUps: AsyncStream<Void>

    private struct WriterState {
        /// Index session id → the durable store's id for it.
        var durableIDs: [PeerID: PeerID] = [:]
        /// Sessions whose last write failed: the next one writes their whole share.
        var stale: Set<PeerID> = []
        var written: UInt64 = 0
        var waiters: [(generation: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var stopped = false
    }

    private let writer = NIOLockedValueBox(WriterState())

    public init(durable: any TrackerStore, logger: Logger) {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        wakeUps = stream
        wakeUp = continuation
        index = MemoryTrackerIndex(onChange: { continuation.yield() })
        self.durable = durable
        self.logger = logger
    }

    /// Writes the index's changes to the durable store until ``stop()`` is called, then writes what
    /// is left.
    ///
    /// Cancelled, it ends at once instead (a second signal, the demo's end): what was not written
    /// is left unwritten, which costs nothing, since the tracker marks every peer offline in the
    /// database when it starts again and rebuilds the index from the peers' `HELLO`s. A write cut
    /// short by the cancellation is not a database failure and is not logged as one.
    public func run() async {
        for await _ in wakeUps {
            await writeChanges()
        }
        if !Task.isCancelled { await writeChanges() }
        let waiters = writer.withLockedValue { state in
            state.stopped = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Ends the writer's loop (it writes what is left first).
    public func stop() {
        wakeUp.finish()
    }

    /// Returns once the durable store holds every change made before the call (at once when the
    /// writer has stopped).
    public func flush() async {
        let target = index.generation
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = writer.withLockedValue { state -> Bool in
                if state.written >= target || state.stopped { return true }
                state.waiters.append((target, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func writeChanges() async {
        let (changes, generation) = index.takeChanges()
        for (peer, change) in changes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            await write(change, of: peer)
        }
        let ready = writer.withLockedValue { state in
            state.written = max(state.written, generation)
            let written = state.written
            let ready = state.waiters.filter { $0.generation <= written }
            state.waiters.removeAll { $0.generation <= written }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    private func write(_ change: MemoryTrackerIndex.PeerChange, of peer: PeerID) async {
        let (known, stale) = writer.withLockedValue { ($0.durableIDs[peer], $0.stale.remove(peer) != nil) }
        do {
            if change.gone {
                writer.withLockedValue { $0.durableIDs[peer] = nil }
                if let known { try await durable.unregisterPeer(known) }
                return
            }
            // Read after taking the changes: what is written is at least as new as they are.
            guard let snapshot = index.snapshot(of: peer) else { return }
            var durableID = known
            if durableID == nil {
                let id = try await durable.registerPeer(host: snapshot.host, tcpPort: snapshot.tcpPort, udpPort: snapshot.udpPort)
                writer.withLockedValue { $0.durableIDs[peer] = id }
                durableID = id
            }
            if change.registered || change.wholeShare || known == nil || stale {
                // Sorted by name, SQLite's key order: 100,000 rows are written 3× faster than unsorted.
                try await durable.replaceShare(of: durableID!, with: snapshot.files.map(Self.normalized).sorted { $0.name < $1.name })
                return
            }
            for name in change.names.sorted() {
                if let file = index.file(named: name, of: peer) {
                    _ = try await durable.addFile(Self.normalized(file), to: durableID!)
                } else {
                    _ = try await durable.removeFile(named: name.normalized, from: durableID!)
                }
            }
        } catch {
            if !change.gone { writer.withLockedValue { _ = $0.stale.insert(peer) } }
            if Task.isCancelled {
                logger.debug("the tracker stopped before this peer's change reached the database", metadata: ["peer": "\(peer)"])
                return
            }
            logger.error("could not write the index to the database; the lookups are not affected", metadata: [
                "peer": "\(peer)", "error": "\(error)"])
        }
    }

    /// `entry` with its name in NFC: the durable store holds every name in NFC, so that `LIST`'s SQL
    /// `LIKE`, which compares scalars, matches as the index (which compares canonically) would.
    static func normalized(_ entry: SharedFileEntry) -> SharedFileEntry {
        var entry = entry
        entry.name = entry.name.normalized
        return entry
    }

    // MARK: TrackerStore, for the conversations

    public func markAllPeersOffline() async throws {
        index.markAllPeersOffline()
        try await durable.markAllPeersOffline()
    }

    public func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) -> PeerID {
        index.registerPeer(host: host, tcpPort: tcpPort, udpPort: udpPort)
    }

    public func unregisterPeer(_ peer: PeerID) {
        index.unregisterPeer(peer)
    }

    public func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) {
        index.replaceShare(of: peer, with: files)
    }

    public func replaceShare(of peer: PeerID, byName files: [SharedFileName: SharedFileEntry]) {
        index.replaceShare(of: peer, byName: files)
    }

    public func addFile(_ file: SharedFileEntry, to peer: PeerID) -> Bool {
        index.addFile(file, to: peer)
    }

    public func removeFile(named name: SharedFileName, from peer: PeerID) -> Bool {
        index.removeFile(named: name, from: peer)
    }

    /// Health is kept in memory only: it ranks lookups, and a restart starts every holder afresh.
    public func report(_ report: HolderReport, from reporter: String) -> Bool {
        index.report(report, from: reporter)
    }

    public func holderRows(for names: [SharedFileName]) -> [HolderRow] {
        index.holderRows(for: names)
    }

    public func list(matching pattern: ListPattern, limit: Int) async throws -> [ListEntry] {
        await flush()
        return try await durable.list(matching: pattern, limit: limit)
    }
}

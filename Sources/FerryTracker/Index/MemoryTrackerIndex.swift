import FerryWire
import NIOConcurrencyHelpers
import NIOCore

/// The tracker's index in memory: live peer sessions, what each shares, and for each name its holders
/// in the order they connected. Lookups read it under a lock in about a microsecond, on the event loop
/// that received them; no database round trip is on the path of a `SEND` (see ``TrackerJournal`` for
/// how the database follows it).
///
/// Every method is synchronous and safe from any thread. It is also a ``TrackerStore`` (a synchronous
/// method meets an `async throws` requirement), so the store tests hold it to the same cases as
/// SQLite.
///
/// Each change marks the peer it touches in ``Changes``, which ``takeChanges()`` hands out: what the
/// journal must write, coalesced, so that its backlog is bounded by the index itself, however far the
/// database falls behind.
public final class MemoryTrackerIndex: TrackerStore {
    /// What changed for one peer since the journal last looked.
    public struct PeerChange: Sendable, Equatable {
        /// The session is new (the journal has not written it yet).
        public var registered = false
        /// The session ended.
        public var gone = false
        /// The whole share was replaced.
        public var wholeShare = false
        /// Names added, changed or removed one at a time (empty when `wholeShare`).
        public var names: Set<SharedFileName> = []

        public init(registered: Bool = false, gone: Bool = false, wholeShare: Bool = false, names: Set<SharedFileName> = []) {
            self.registered = registered
            self.gone = gone
            self.wholeShare = wholeShare
            self.names = names
        }
    }

    /// One live peer session as the journal needs it.
    public struct PeerSnapshot: Sendable {
        public var host: String
        public var tcpPort: UInt16
        public var udpPort: UInt16
        public var files: [SharedFileEntry]
    }

    private struct Endpoint: Hashable {
        var host: String
        var tcpPort: UInt16
    }

    private struct Peer {
        var holder: Holder
        var files: [SharedFileName: SharedFileEntry] = [:]
        /// What downloaders reported about this session (``HolderHealth``).
        var health = HolderHealth()
    }

    /// One shared name. A change of holders is one hash lookup of the name.
    private struct NameEntry {
        /// Holders of the name, by session id ascending (the order peers connected).
        var holders: [Int64] = []
        /// The encoded `210`/`211` lines of its lookup result, made at its first lookup and dropped
        /// when its holders change: a lookup of a popular name is a copy of bytes.
        var reply: ByteBuffer?

        mutating func add(_ id: Int64) {
            reply = nil
            holders.insertSorted(id)
        }

        mutating func remove(_ id: Int64) {
            reply = nil
            holders.removeSorted(id)
        }
    }

    private struct State {
        var nextID: Int64 = 1
        var peers: [Int64: Peer] = [:]
        var online: [Endpoint: Int64] = [:]
        /// Every shared name: its holders, and its cached reply.
        var names: [SharedFileName: NameEntry] = [:]
        var entryCount = 0
        var changes: [Int64: PeerChange] = [:]
        var generation: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    private let onChange: @Sendable () -> Void

    /// - Parameter onChange: called after each change, outside the lock (the journal's wake-up).
    public init(onChange: @escaping @Sendable () -> Void = {}) {
        self.onChange = onChange
    }

    // MARK: Reading

    /// For each name, every live holder, in the order peers connected.
    public func holderRows(for names: [SharedFileName]) -> [HolderRow] {
        state.withLockedValue { state in names.flatMap { Self.rows(for: $0, ids: state.names[$0]?.holders ?? [], in: state) } }
    }

    /// Appends the whole reply to `SEND names` (as ``TrackerConversation/lookupResponse(for:rows:)``
    /// words it) to `buffer`, from the cached lines of each name.
    public func appendLookupReply(for names: [String], to buffer: inout ByteBuffer) {
        var seen: Set<String> = []
        var count = 0
        for raw in names {
            if names.count > 1 {
                guard seen.insert(raw).inserted else { continue }
            }
            count += 1
            guard let name = SharedFileName(raw) else {
                Self.append(HolderGrouping.results(for: [raw], rows: []), to: &buffer)
                continue
            }
            let found = state.withLockedValue { state -> Bool in
                guard let index = state.names.index(forKey: name) else { return false }
                if let cached = state.names.values[index].reply {
                    buffer.writeImmutableBuffer(cached)
                    return true
                }
                var lines = ByteBuffer()
                let rows = Self.rows(for: name, ids: state.names.values[index].holders, in: state)
                Self.append(HolderGrouping.results(for: [raw], rows: rows), to: &lines)
                state.names.values[index].reply = lines
                buffer.writeImmutableBuffer(lines)
                return true
            }
            if !found { Self.append([LookupResult(name: raw, outcome: .notFound)], to: &buffer) }
        }
        // `200 SEND <count>`, as ``TrackerReplyLine`` words it, without making its strings.
        buffer.writeStaticString("200 SEND ")
        buffer.writeString(String(count))
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// The rows of `name` for its holders `ids` (in the order they connected), ranked by
    /// ``HolderHealth/rank``: equal ranks keep that order.
    private static func rows(for name: SharedFileName, ids: [Int64], in state: State) -> [HolderRow] {
        var ranked: [(rank: HolderHealth.Rank, position: Int, row: HolderRow)] = []
        ranked.reserveCapacity(ids.count)
        for id in ids {
            guard let peer = state.peers[id], let file = peer.files[name] else { continue }
            ranked.append((peer.health.rank, ranked.count, HolderRow(
                name: file.name, size: file.size, digest: file.digest, root: file.root, holder: peer.holder,
                isPartial: file.root != nil && file.isPartial)))
        }
        ranked.sort { $0.rank != $1.rank ? $0.rank < $1.rank : $0.position < $1.position }
        return ranked.map(\.row)
    }

    private static func append(_ results: [LookupResult], to buffer: inout ByteBuffer) {
        for result in results {
            for line in result.replyLines {
                buffer.writeString(line.line)
                buffer.writeInteger(UInt8(ascii: "\n"))
            }
        }
    }

    /// Shared files whose names match `pattern`, by name (bytes of UTF-8, in NFC as the database holds
    /// them), then most holders first.
    ///
    /// It visits every name; the tracker answers `LIST` from the database instead, off the event loops.
    public func list(matching pattern: ListPattern, limit: Int) -> [ListEntry] {
        struct Key: Hashable { var name: String; var size: UInt64; var digest: ContentDigest }
        let counts: [Key: Int] = state.withLockedValue { state in
            var counts: [Key: Int] = [:]
            for (name, entry) in state.names where pattern.matches(name.rawValue) {
                for id in entry.holders {
                    guard let file = state.peers[id]?.files[name] else { continue }
                    counts[Key(name: name.normalized.rawValue, size: file.size, digest: file.digest), default: 0] += 1
                }
            }
            return counts
        }
        return counts.map { ListEntry(name: $0.key.name, size: $0.key.size, digest: $0.key.digest, holderCount: $0.value) }
            .sorted { lhs, rhs in
                if !lhs.name.utf8.elementsEqual(rhs.name.utf8) { return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8) }
                return lhs.holderCount > rhs.holderCount
            }
            .prefix(limit).map { $0 }
    }

    /// Live sessions, and the (file, holder) pairs they share.
    public var counts: (peers: Int, entries: Int) {
        state.withLockedValue { ($0.peers.count, $0.entryCount) }
    }

    /// For the status page: the newest `peerLimit` live sessions (host, ports, files shared) and the
    /// `fileLimit` names with the most holders. It visits every name under the lock, so callers
    /// cache it (``TrackerServer``'s status source asks at most once a second).
    public func statusSummary(peerLimit: Int, fileLimit: Int) -> TrackerStatusSummary {
        state.withLockedValue { state in
            let peers = state.peers.keys.sorted(by: >).prefix(peerLimit).compactMap { id in
                state.peers[id].map { (host: $0.holder.host, tcpPort: $0.holder.tcpPort, udpPort: $0.holder.udpPort, files: $0.files.count) }
            }
            var top: [(name: String, holders: Int)] = []
            for (name, entry) in state.names {
                let holders = entry.holders.count
                guard top.count < fileLimit || holders > top[top.count - 1].holders else { continue }
                top.append((name.rawValue, holders))
                top.sort { $0.holders != $1.holders ? $0.holders > $1.holders : $0.name < $1.name }
                if top.count > fileLimit { top.removeLast() }
            }
            return (peers, top)
        }
    }

    // MARK: Changing

    public func markAllPeersOffline() {
        let changed = state.withLockedValue { state -> Bool in
            guard !state.peers.isEmpty else { return false }
            for id in state.peers.keys { state.changes[id, default: PeerChange()].gone = true }
            state.peers = [:]
            state.online = [:]
            state.names = [:]
            state.entryCount = 0
            state.generation += 1
            return true
        }
        if changed { onChange() }
    }

    /// Records a new live session; an older live session with the same host and TCP port is ended.
    public func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) -> PeerID {
        let id = state.withLockedValue { state -> Int64 in
            let endpoint = Endpoint(host: host, tcpPort: tcpPort)
            if let older = state.online[endpoint] { Self.remove(older, &state) }
            let id = state.nextID
            state.nextID += 1
            state.peers[id] = Peer(holder: Holder(host: host, tcpPort: tcpPort, udpPort: udpPort))
            state.online[endpoint] = id
            state.changes[id] = PeerChange(registered: true)
            state.generation += 1
            return id
        }
        onChange()
        return PeerID(rawValue: id)
    }

    public func unregisterPeer(_ peer: PeerID) {
        let changed = state.withLockedValue { state -> Bool in
            guard state.peers[peer.rawValue] != nil else { return false }
            Self.remove(peer.rawValue, &state)
            state.generation += 1
            return true
        }
        if changed { onChange() }
    }

    public func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) {
        var byName: [SharedFileName: SharedFileEntry] = [:]
        byName.reserveCapacity(files.count)
        for file in files { byName[file.name] = file }
        replaceShare(of: peer, byName: byName)
    }

    /// Replaces the share with `files` as they are: the peer's record keeps the dictionary.
    public func replaceShare(of peer: PeerID, byName files: [SharedFileName: SharedFileEntry]) {
        let changed = state.withLockedValue { state -> Bool in
            let id = peer.rawValue
            guard var record = state.peers.removeValue(forKey: id) else { return false }
            for name in record.files.keys { Self.removeHolder(id, of: name, &state) }
            state.entryCount -= record.files.count
            record.files = files
            for name in files.keys { Self.addHolder(id, of: name, &state) }
            state.entryCount += record.files.count
            state.peers[id] = record
            state.changes[id, default: PeerChange()].wholeShare = true
            state.changes[id]!.names = []
            state.generation += 1
            return true
        }
        if changed { onChange() }
    }

    /// Adds or replaces one file; `true` when the name is new for that peer (`false` also for a session
    /// that is not live).
    public func addFile(_ file: SharedFileEntry, to peer: PeerID) -> Bool {
        let added = state.withLockedValue { state -> Bool? in
            let id = peer.rawValue
            guard state.peers[id] != nil else { return nil }
            let isNew = state.peers[id]!.files.updateValue(file, forKey: file.name) == nil
            if isNew {
                Self.addHolder(id, of: file.name, &state)
                state.entryCount += 1
            } else {
                state.names[file.name]?.reply = nil
            }
            Self.noteName(file.name, of: id, &state)
            return isNew
        }
        guard let added else { return false }
        onChange()
        return added
    }

    public func removeFile(named name: SharedFileName, from peer: PeerID) -> Bool {
        let removed = state.withLockedValue { state -> Bool in
            let id = peer.rawValue
            guard state.peers[id]?.files.removeValue(forKey: name) != nil else { return false }
            Self.removeHolder(id, of: name, &state)
            state.entryCount -= 1
            Self.noteName(name, of: id, &state)
            return true
        }
        if removed { onChange() }
        return removed
    }

    /// Records what a downloader at `reporter` says about the live holder at `host`:`tcpPort`.
    /// Returns `false` when no live session holds that endpoint. A holder's report on itself is
    /// ignored (but answered as recorded): it would rank itself up.
    public func report(_ report: HolderReport, from reporter: String) -> Bool {
        state.withLockedValue { state in
            guard let id = state.online[Endpoint(host: report.host, tcpPort: report.tcpPort)] else { return false }
            guard reporter != report.host else { return true }
            let before = state.peers[id]!.health.rank
            state.peers[id]!.health.record(report.verdict, from: reporter)
            // Its names' cached replies hold the old order.
            if state.peers[id]!.health.rank != before {
                for name in state.peers[id]!.files.keys { state.names[name]?.reply = nil }
            }
            return true
        }
    }

    /// The health of the live holder at `host`:`tcpPort`, if any.
    public func health(ofHolderAt host: String, tcpPort: UInt16) -> HolderHealth? {
        state.withLockedValue { state in
            state.online[Endpoint(host: host, tcpPort: tcpPort)].flatMap { state.peers[$0]?.health }
        }
    }

    // MARK: For the journal

    /// What changed since the last call, and the generation it brings the reader to.
    public func takeChanges() -> (changes: [PeerID: PeerChange], generation: UInt64) {
        state.withLockedValue { state in
            defer { state.changes = [:] }
            return (Dictionary(uniqueKeysWithValues: state.changes.map { (PeerID(rawValue: $0.key), $0.value) }), state.generation)
        }
    }

    /// Counts every change; ``TrackerJournal`` waits for the database to reach a generation.
    public var generation: UInt64 { state.withLockedValue { $0.generation } }

    /// A live session's endpoint and share (`nil` when it is gone), for the journal to write.
    public func snapshot(of peer: PeerID) -> PeerSnapshot? {
        state.withLockedValue { state in
            guard let record = state.peers[peer.rawValue] else { return nil }
            return PeerSnapshot(
                host: record.holder.host, tcpPort: record.holder.tcpPort, udpPort: record.holder.udpPort,
                files: Array(record.files.values))
        }
    }

    /// One file of a live session (`nil`: not shared, or the session is gone).
    public func file(named name: SharedFileName, of peer: PeerID) -> SharedFileEntry? {
        state.withLockedValue { $0.peers[peer.rawValue]?.files[name] }
    }

    // MARK: Helpers (under the lock)

    private static func remove(_ id: Int64, _ state: inout State) {
        guard let record = state.peers.removeValue(forKey: id) else { return }
        for name in record.files.keys { removeHolder(id, of: name, &state) }
        state.entryCount -= record.files.count
        let endpoint = Endpoint(host: record.holder.host, tcpPort: record.holder.tcpPort)
        if state.online[endpoint] == id { state.online[endpoint] = nil }
        state.changes[id, default: PeerChange()].gone = true
    }

    private static func noteName(_ name: SharedFileName, of id: Int64, _ state: inout State) {
        state.generation += 1
        guard state.changes[id]?.wholeShare != true else { return }
        state.changes[id, default: PeerChange()].names.insert(name)
    }

    private static func addHolder(_ id: Int64, of name: SharedFileName, _ state: inout State) {
        state.names[name, default: NameEntry()].add(id)
    }

    private static func removeHolder(_ id: Int64, of name: SharedFileName, _ state: inout State) {
        guard let index = state.names.index(forKey: name) else { return }
        state.names.values[index].remove(id)
        if state.names.values[index].holders.isEmpty { state.names.remove(at: index) }
    }
}

extension Array where Element == Int64 {
    /// Inserts into an ascending array; a new session (the largest id) is appended in O(1).
    mutating func insertSorted(_ value: Int64) {
        if let last, last >= value {
            let index = partitioningIndex { $0 >= value }
            if index < count, self[index] == value { return }
            insert(value, at: index)
        } else {
            append(value)
        }
    }

    mutating func removeSorted(_ value: Int64) {
        let index = partitioningIndex { $0 >= value }
        if index < count, self[index] == value { remove(at: index) }
    }

    private func partitioningIndex(where belongsInSecondPartition: (Int64) -> Bool) -> Int {
        var (low, high) = (0, count)
        while low < high {
            let middle = (low + high) / 2
            if belongsInSecondPartition(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

import FerryWire

/// A live peer session in the index: one control connection that said `HELLO`.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { "peer#\(rawValue)" }
}

/// Where the tracker keeps its index: which live peer shares which file.
///
/// The server talks to the index through this interface only, so that another backend (a PostgreSQL
/// database shared by several trackers, say) can be added without touching the server. Every method
/// may be called concurrently from many connections.
public protocol TrackerStore: Sendable {
    /// Marks every peer offline. A tracker calls it once as it starts: liveness is rebuilt as peers
    /// reconnect.
    func markAllPeersOffline() async throws

    /// Records a new live peer session. An older live session with the same host and TCP port is
    /// superseded (marked offline): that peer has reconnected.
    func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) async throws -> PeerID

    /// Marks a session offline; its files leave lookups at once.
    func unregisterPeer(_ peer: PeerID) async throws

    /// Replaces everything `peer` shares.
    func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) async throws

    /// Replaces everything `peer` shares with `files`, keyed by name as an `UPDATE` collects them: a
    /// store that keys by name too takes the dictionary as it is.
    func replaceShare(of peer: PeerID, byName files: [SharedFileName: SharedFileEntry]) async throws

    /// Adds or replaces one file of `peer`; returns `true` when the name is new for that peer.
    func addFile(_ file: SharedFileEntry, to peer: PeerID) async throws -> Bool

    /// Removes one file of `peer`; returns `false` when the peer did not share it.
    func removeFile(named name: SharedFileName, from peer: PeerID) async throws -> Bool

    /// For each name, every live holder, as rows in the order peers connected (ranked first, in a
    /// store that ranks holders: see ``report(_:from:)``).
    func holderRows(for names: [SharedFileName]) async throws -> [HolderRow]

    /// Shared files whose names match `pattern`, by name, at most `limit` of them.
    func list(matching pattern: ListPattern, limit: Int) async throws -> [ListEntry]

    /// Records a downloader's report on a live holder (``HolderHealth``), which then ranks holders
    /// in ``holderRows(for:)``; `false` when no live session holds that endpoint.
    func report(_ report: HolderReport, from reporter: String) async throws -> Bool
}

extension TrackerStore {
    public func replaceShare(of peer: PeerID, byName files: [SharedFileName: SharedFileEntry]) async throws {
        try await replaceShare(of: peer, with: Array(files.values))
    }

    /// A store that does not rank holders takes every report and keeps none: its rows stay in
    /// connection order. (SQLite, the memory index's durable record: the tracker ranks in
    /// ``MemoryTrackerIndex``; with several trackers, ``PostgresTrackerStore`` ranks.)
    public func report(_ report: HolderReport, from reporter: String) async throws -> Bool { true }
}

/// One (file, live holder) pair as a store returns it; ``HolderGrouping`` turns rows into replies.
public struct HolderRow: Hashable, Sendable {
    public var name: SharedFileName
    public var size: UInt64
    public var digest: ContentDigest
    /// The BEP 52 root this holder announced, if any.
    public var root: ContentDigest?
    public var holder: Holder
    /// The holder is still downloading the file (`ADD … PARTIAL`).
    public var isPartial: Bool

    public init(name: SharedFileName, size: UInt64, digest: ContentDigest, root: ContentDigest? = nil, holder: Holder,
                isPartial: Bool = false) {
        self.name = name
        self.size = size
        self.digest = digest
        self.root = root
        self.holder = holder
        self.isPartial = isPartial
    }
}

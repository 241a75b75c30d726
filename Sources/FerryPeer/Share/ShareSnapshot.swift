import FerryWire

/// A file the peer shares: what the tracker is told, and where the bytes are.
public struct SharedFile: Hashable, Sendable {
    public var name: SharedFileName
    public var size: UInt64
    public var digest: ContentDigest
    /// The BEP 52 Merkle tree of the content, computed in the same pass as `digest`.
    public var tree: MerkleTree
    /// The real path of the bytes (symlinks resolved), inside the share.
    public var path: String
    /// Modification time in nanoseconds since 1970, as read when the file was hashed.
    public var modified: Int64

    public init(name: SharedFileName, size: UInt64, hashes: FileHashes, path: String, modified: Int64) {
        self.name = name
        self.size = size
        self.digest = hashes.digest
        self.tree = hashes.tree
        self.path = path
        self.modified = modified
    }

    /// The digest and the tree.
    public var hashes: FileHashes { FileHashes(digest: digest, tree: tree) }

    /// What the tracker is told, the tree's root included.
    public var entry: SharedFileEntry { SharedFileEntry(name: name, size: size, digest: digest, root: tree.root.digest) }
}

/// Everything a peer shares at one moment.
public struct ShareSnapshot: Hashable, Sendable {
    public var files: [SharedFileName: SharedFile]

    public init(files: [SharedFileName: SharedFile] = [:]) {
        self.files = files
    }

    /// The entries to announce, sorted by name.
    public var entries: [SharedFileEntry] {
        files.values.map(\.entry).sorted { $0.name < $1.name }
    }

    /// What changed since `old`, as the tracker sees files: names added or with new content, and
    /// names gone.
    public func changes(since old: ShareSnapshot) -> (added: [SharedFileEntry], removed: [SharedFileName]) {
        let added = files.values
            .filter { old.files[$0.name]?.entry != $0.entry }
            .map(\.entry)
            .sorted { $0.name < $1.name }
        let removed = old.files.keys.filter { files[$0] == nil }.sorted()
        return (added, removed)
    }
}

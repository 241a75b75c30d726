import FerryWire
import NIOConcurrencyHelpers

/// The files this peer is downloading and already serves in part: a *partial holder* announces each
/// one to the tracker once it has a verified chunk (`ADD … PARTIAL`), answers `HAVE` with the chunks
/// it has verified, and serves those chunks (and the piece layer) over TCP and UDP. A swarm download
/// registers its part file here (``begin(_:tree:path:verified:)``), reports each chunk it verified,
/// and ends the registration when it ends.
///
/// Only verified chunks are ever served: a chunk is marked after it was checked against the piece
/// layer and written (``PartFile/writeChunk(_:_:)``), and marks are never taken back while the
/// registration lasts. A download that completes into the shared folder keeps serving the final file
/// through its registration until the share has scanned it (``finish(_:finalPath:)``), so the peer
/// never stops holding the file in between.
public final class PartialShares: Sendable {
    /// One file in progress, as the servers see it.
    public struct File: Sendable {
        public var entry: SharedFileEntry
        public var tree: MerkleTree
        /// Where the bytes are: the part file, or the final file once complete.
        public var path: String
        public var verified: [Bool]
        public var verifiedCount: Int

        /// Whether every chunk of `range` (bytes) is verified.
        public func has(bytes range: Range<UInt64>) -> Bool {
            guard !range.isEmpty else { return range.lowerBound <= entry.size }
            guard range.upperBound <= entry.size else { return false }
            let first = Int(range.lowerBound / tree.chunkSize)
            let last = Int((range.upperBound - 1) / tree.chunkSize)
            return verified[first...last].allSatisfy { $0 }
        }

        public var isComplete: Bool { verifiedCount == verified.count }
    }

    /// A registration, to report chunks and end it.
    public struct Token: Hashable, Sendable {
        let id: Int
        let name: SharedFileName
    }

    private struct State {
        var files: [SharedFileName: (id: Int, file: File)] = [:]
        var nextID = 0
        /// Bumped when the set of announceable files changes (not at every chunk).
        var version = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Registers a download of `entry` (with its root) into the part file at `path`; `nil` when
    /// another download of that name is registered.
    public func begin(_ entry: SharedFileEntry, tree: MerkleTree, path: String, verified: [Bool]?) -> Token? {
        precondition(entry.root != nil)
        let verified = verified ?? Array(repeating: false, count: tree.chunkCount)
        return state.withLockedValue { state in
            guard state.files[entry.name] == nil else { return nil }
            state.nextID += 1
            var partial = entry
            partial.isPartial = true
            let count = verified.lazy.filter { $0 }.count
            state.files[entry.name] = (state.nextID, File(entry: partial, tree: tree, path: path, verified: verified, verifiedCount: count))
            if count > 0 { state.version += 1 }
            return Token(id: state.nextID, name: entry.name)
        }
    }

    /// `chunk` was verified and written.
    public func verified(_ token: Token, chunk: Int) {
        state.withLockedValue { state in
            guard var item = state.files[token.name], item.id == token.id, !item.file.verified[chunk] else { return }
            item.file.verified[chunk] = true
            item.file.verifiedCount += 1
            state.files[token.name] = item
            if item.file.verifiedCount == 1 { state.version += 1 }
        }
    }

    /// The download ended without the file: the registration ends.
    public func end(_ token: Token) {
        state.withLockedValue { state in
            guard let item = state.files[token.name], item.id == token.id else { return }
            state.files[token.name] = nil
            state.version += 1
        }
    }

    /// The download completed at `finalPath`: with `finalPath` (the file lands in the shared folder)
    /// the whole file is served from there until ``retire(sharedNames:)`` sees the share has it;
    /// without, the registration ends.
    public func finish(_ token: Token, finalPath: String?) {
        guard let finalPath else { return end(token) }
        state.withLockedValue { state in
            guard var item = state.files[token.name], item.id == token.id else { return }
            item.file.path = finalPath
            item.file.verified = Array(repeating: true, count: item.file.verified.count)
            item.file.verifiedCount = item.file.verified.count
            state.files[token.name] = item
            state.version += 1
        }
    }

    /// Ends the registrations of completed files that the share now has.
    public func retire(sharedNames: some Sequence<SharedFileName>) {
        state.withLockedValue { state in
            for name in sharedNames {
                guard let item = state.files[name], item.file.isComplete else { continue }
                state.files[name] = nil
                state.version += 1
            }
        }
    }

    /// The file in progress under `name`, if any.
    public func file(named name: SharedFileName) -> File? {
        state.withLockedValue { $0.files[name]?.file }
    }

    /// Changes whenever ``announceable`` may have.
    public var version: Int { state.withLockedValue { $0.version } }

    /// The files to announce as partial: those with at least one verified chunk, by name.
    public var announceable: [SharedFileEntry] {
        state.withLockedValue { state in
            state.files.values.filter { $0.file.verifiedCount > 0 }.map(\.file.entry).sorted { $0.name < $1.name }
        }
    }
}

import FerryWire
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The folder a peer shares: scanned, hashed (through a ``HashCache``) and kept as a
/// ``ShareSnapshot`` that the file server reads and the tracker session announces.
///
/// Only regular files directly in the folder are shared. Symlinks are followed when they lead to a
/// regular file inside the folder; anything else (links leading out, folders, devices, sockets,
/// names the name rule refuses) is skipped with one log line. `*.part` files (downloads in progress)
/// are skipped silently.
///
/// Scanning reads the disk and hashes: callers on an event loop or the concurrency pool use
/// ``rescan(on:)``, which runs the scan on an `NIOThreadPool`. A hash cache that fails is logged once
/// and then left alone: the share is hashed without it. A cache that another peer holds locked past
/// the busy timeout is not broken: that one access goes without it, and the next one uses it again.
public final class Share: Sendable {
    /// How a file's content digest and Merkle tree are computed; tests slow it down or hold it to watch
    /// what runs meanwhile.
    public typealias FileHasher = @Sendable (_ path: String) throws(PeerError) -> FileHashes

    /// SHA-256 of the whole file and its BEP 52 Merkle tree, streamed in one read pass.
    public static let sha256: FileHasher = { path throws(PeerError) in try ContentHasher.hashes(ofFileAt: path) }

    /// The folder as given, and its real path (symlinks resolved).
    public let folder: String
    public let realFolder: String
    private let hasher: FileHasher
    private let logger: Logger
    private let state: NIOLockedValueBox<State>
    /// One scan at a time: the watcher's and an explicit one would otherwise hash the same file twice.
    private let scanning = NIOLock()

    private struct State {
        var snapshot = ShareSnapshot()
        var version = 0
        var warned: [String: String] = [:]
        /// `nil` once it failed (or if there was none).
        var cache: HashCache?
        /// Whether a locked cache was logged at notice level already (later ones go to debug).
        var contentionLogged = false
        /// Downloads verified into this folder, by real path, until a scan takes them: remembered
        /// before the file takes its name, so that no scan can find it unknown.
        var verified: [String: VerifiedFile] = [:]
    }

    struct VerifiedFile {
        var hashes: FileHashes
        var size: UInt64
        var modified: Int64
    }

    public init(folder: String, cache: HashCache?, logger: Logger, hasher: @escaping FileHasher = Share.sha256) throws(PeerError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw PeerError(.badShare, "the share folder \(folder) does not exist or is not a folder; create it or pass --share DIR")
        }
        guard let real = Self.realPath(folder) else {
            throw PeerError(.badShare, "cannot resolve the share folder \(folder)")
        }
        self.folder = folder
        self.realFolder = real
        self.hasher = hasher
        self.logger = logger
        var initial = State()
        initial.cache = cache
        self.state = NIOLockedValueBox(initial)
    }

    /// The hash cache, while it works.
    private var cache: HashCache? { state.withLockedValue { $0.cache } }

    /// Runs `body` on the cache; the first failure is logged and the cache is not used again, except
    /// for a cache that another process held locked: only this access goes without it.
    private func withCache<T>(_ body: (HashCache) throws -> T?) -> T? {
        guard let cache else { return nil }
        do {
            return try body(cache)
        } catch where HashCache.isContention(error) {
            let first = state.withLockedValue { state -> Bool in
                defer { state.contentionLogged = true }
                return !state.contentionLogged
            }
            logger.log(level: first ? .notice : .debug,
                       "the hash cache is locked by another process; going without it this time",
                       metadata: ["error": "\(error)"])
            return nil
        } catch {
            let first = state.withLockedValue { state -> Bool in
                defer { state.cache = nil }
                return state.cache != nil
            }
            if first {
                logger.warning("the hash cache failed; hashing without it until the peer restarts",
                               metadata: ["error": "\(error)"])
            }
            return nil
        }
    }

    /// Scans on `threadPool`, never on the caller's thread: hashing a large file must not hold up an
    /// event loop or the concurrency pool (heartbeats and uploads go on meanwhile).
    @discardableResult
    public func rescan(on threadPool: NIOThreadPool) async throws -> Bool {
        try await threadPool.runIfActive { self.rescan() }
    }

    /// Opens the hash cache at `path` for this share (blocking: call it on a thread pool), or logs
    /// once why it cannot; the share then hashes without it.
    public func openCache(path: String) {
        guard let opened = HashCache.openOrLog(path: path, logger: logger) else { return }
        state.withLockedValue { $0.cache = opened }
    }

    /// Closes the hash cache (its writes are flushed to the file); the share goes on without it.
    public func closeCache() {
        let cache = state.withLockedValue { state -> HashCache? in
            defer { state.cache = nil }
            return state.cache
        }
        do {
            try cache?.close()
        } catch {
            logger.warning("cannot close the hash cache", metadata: ["error": "\(error)"])
        }
    }

    /// The files shared now.
    public var snapshot: ShareSnapshot { state.withLockedValue { $0.snapshot } }

    /// Grows by one each time a scan finds a change.
    public var version: Int { state.withLockedValue { $0.version } }

    /// The shared file called `name`, if any.
    public func file(named name: SharedFileName) -> SharedFile? {
        state.withLockedValue { $0.snapshot.files[name] }
    }

    /// Scans the folder once, hashing new and changed files; returns `true` when anything changed.
    ///
    /// This blocks while it reads and hashes: call it from a thread of its own or through
    /// ``rescan(on:)``.
    @discardableResult
    public func rescan() -> Bool {
        scanning.withLock { scanOnce() }
    }

    private func scanOnce() -> Bool {
        let previous = snapshot
        var files: [SharedFileName: SharedFile] = [:]
        var problems: [String: String] = [:]
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            logger.warning("cannot read the share folder", metadata: ["folder": "\(folder)", "error": "\(error)"])
            return false
        }
        for raw in names.sorted() {
            if raw.hasSuffix(".part") { continue }
            switch examine(raw, previous: previous) {
            case .shared(let file): files[file.name] = file
            case .skipped(let reason): problems[raw] = reason
            case .ignored: continue
            }
        }
        let snapshot = ShareSnapshot(files: files)
        let newProblems = state.withLockedValue { state -> [(String, String)] in
            let fresh = problems.filter { state.warned[$0.key] != $0.value }
            state.warned = problems
            return fresh.sorted { $0.key < $1.key }
        }
        for (name, reason) in newProblems {
            logger.warning("not sharing \(LineScanner.quote(TrackerReplyLine.printable(name))): \(reason)")
        }
        guard snapshot != previous else { return false }
        state.withLockedValue {
            $0.snapshot = snapshot
            $0.version += 1
        }
        _ = withCache { try $0.forgetAll(under: realFolder, except: Set(files.values.map(\.path))) }
        logger.debug("share scanned", metadata: ["files": "\(files.count)"])
        return true
    }

    /// Records the digest and tree of a file this peer just downloaded and verified, so that a scan
    /// shares it without hashing it again.
    ///
    /// Call it *before* the file takes its final name `path`, with `contentAt` the file that holds the
    /// bytes now (the part file, whose size and modification time a rename keeps): a scan that runs
    /// between the rename and this call would otherwise find the file unknown and hash it (the share
    /// is scanned every 2 s). The record is kept in memory until a scan takes it (and writes it to the
    /// hash cache then, as it does a file it hashed): a scan that does not see the file yet cannot drop
    /// it, and it holds without a cache. Only files directly in this folder are recorded.
    public func rememberVerified(path: String, contentAt current: String, hashes: FileHashes) {
        let parent = (path as NSString).deletingLastPathComponent
        guard let realParent = Self.realPath(parent.isEmpty ? "." : parent), realParent == realFolder,
              let info = Self.status(current), info.isRegular
        else { return }
        state.withLockedValue { $0.verified[verifiedKey(path)] = VerifiedFile(hashes: hashes, size: info.size, modified: info.modified) }
    }

    /// The real path a download to `path` in this folder is recorded under.
    private func verifiedKey(_ path: String) -> String {
        realFolder + "/" + (path as NSString).lastPathComponent
    }

    /// ``rememberVerified(path:contentAt:hashes:)`` for a file already under its final name.
    public func rememberVerified(path: String, hashes: FileHashes) {
        rememberVerified(path: path, contentAt: path, hashes: hashes)
    }

    /// Drops what ``rememberVerified(path:contentAt:hashes:)`` recorded for `path` in memory (the
    /// download did not take that name).
    public func forgetVerified(path: String) {
        let key = verifiedKey(path)
        state.withLockedValue { _ = $0.verified.removeValue(forKey: key) }
    }

    /// Downloads remembered as verified that no scan has taken yet.
    var pendingVerifiedCount: Int { state.withLockedValue { $0.verified.count } }

    private enum Examination {
        case shared(SharedFile)
        case skipped(String)
        case ignored
    }

    private func examine(_ raw: String, previous: ShareSnapshot) -> Examination {
        let name: SharedFileName
        do {
            name = try SharedFileName(validating: raw)
        } catch {
            return .skipped(error.description)
        }
        let path = folder + "/" + raw
        var linkStatus = stat()
        guard lstat(path, &linkStatus) == 0 else { return .ignored }  // vanished since the listing
        var real = path
        if linkStatus.st_mode & S_IFMT == S_IFLNK {
            guard let resolved = Self.realPath(path) else { return .skipped("a broken symlink") }
            guard resolved.hasPrefix(realFolder + "/") else { return .skipped("a symlink leading outside the share") }
            real = resolved
        } else {
            real = realFolder + "/" + raw
        }
        guard let info = Self.status(real) else { return .ignored }
        guard info.isRegular else { return .skipped("not a regular file") }

        if let known = previous.files[name], known.path == real, known.size == info.size, known.modified == info.modified {
            return .shared(known)
        }
        if let verified = state.withLockedValue({ $0.verified.removeValue(forKey: real) }) {
            if verified.size == info.size, verified.modified == info.modified {
                _ = withCache { try $0.remember(verified.hashes, path: real, size: info.size, modified: info.modified) }
                return .shared(SharedFile(name: name, size: info.size, hashes: verified.hashes, path: real, modified: info.modified))
            }
            // Changed since it was verified: hashed below like any other file.
        }
        if let hashes = withCache({ try $0.hashes(path: real, size: info.size, modified: info.modified) }) {
            return .shared(SharedFile(name: name, size: info.size, hashes: hashes, path: real, modified: info.modified))
        }
        let hashes: FileHashes
        do {
            hashes = try hasher(real)
        } catch {
            return .skipped(error.message)
        }
        // A file still being written is hashed again on the next scan.
        guard let after = Self.status(real), after.size == info.size, after.modified == info.modified else {
            return .ignored
        }
        _ = withCache { try $0.remember(hashes, path: real, size: info.size, modified: info.modified) }
        logger.debug("hashed", metadata: ["file": "\(raw)", "size": "\(info.size)", "root": "\(hashes.tree.root.digest.shortHex)"])
        return .shared(SharedFile(name: name, size: info.size, hashes: hashes, path: real, modified: info.modified))
    }

    struct FileStatus {
        var size: UInt64
        var modified: Int64
        var isRegular: Bool
    }

    static func status(_ path: String) -> FileStatus? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStatus(size: UInt64(info.st_size), modified: modificationTime(info), isRegular: info.st_mode & S_IFMT == S_IFREG)
    }

    /// A file's modification time in nanoseconds since 1970.
    static func modificationTime(_ info: stat) -> Int64 {
        #if canImport(Darwin)
        Int64(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(info.st_mtimespec.tv_nsec)
        #else
        Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        #endif
    }

    /// Like ``status(_:)``, but of a symlink itself rather than what it points to.
    static func lstatus(_ path: String) -> FileStatus? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return FileStatus(size: UInt64(info.st_size), modified: 0, isRegular: info.st_mode & S_IFMT == S_IFREG)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

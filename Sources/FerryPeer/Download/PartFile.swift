import Crypto
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A download in progress: `NAME.part` in the download folder, written in order, read back to compute
/// the SHA-256 that admits it, and renamed to `NAME` only once that digest matches.
///
/// - **Tied to its content.** Beside the part file, a record (``recordName(for:digest:)``) holds one
///   line, `ferry-part 1 SIZE SHA256`, written before the first byte. A part file is resumed only when
///   its record names the content being downloaded; a part file of other content, or with no record,
///   is emptied (``Opening/discarded(bytes:reason:)``), never resumed and never blamed on a peer.
/// - **Locked.** The part file is held with `flock(LOCK_EX | LOCK_NB)` while the download runs: a
///   second download of the same name into the same folder fails at once (``PartFileError/locked``)
///   instead of writing the same file. The lock goes when the owner lets the part file go (a
///   read-back job in flight stops after its current read), so the same download run again at once
///   in the same process finds it free.
/// - **Hashed from the disk.** The digest is computed from bytes read back with `pread` as they are
///   written (a read-back that follows the written prefix, ``readBackChunk`` at a time, on the thread
///   pool), overlapped with the download: not from the bytes in flight, and not in a second pass at
///   the end. Bytes changed on disk before they were read back do not match, so a damaged part file
///   is never admitted. (A change to bytes already read back is not seen: the lock keeps other Ferry
///   downloads out, not other programs.)
/// - **Never replaces what it did not check.** ``commit(overwrite:)`` renames with
///   `renameat2(RENAME_NOREPLACE)` (or `link` + `unlink` where that is missing); only with
///   `overwrite` does it replace a file.
///
/// All disk work (open, `pwrite`, `pread`, `fdatasync`, rename) runs on an `NIOThreadPool`, never on
/// an event loop or the concurrency pool. It is opened with `O_NOFOLLOW`, so a symlink planted at its
/// name cannot redirect the writes.
public final class PartFile: Sendable {
    /// The read-back hashes once this many written bytes wait for it (and at the end): reads of
    /// 1 MiB, a lag of at most 1 MiB behind the writes. (4 MiB buffers, allocated per read-back job on
    /// the pool's threads, stayed resident in several of glibc's arenas.)
    public static let readBackChunk: UInt64 = 1 << 20

    /// What was at the part file's name when it was opened.
    public enum Opening: Equatable, Sendable {
        /// Nothing (or an empty file).
        case new
        /// Bytes of this content from an earlier run, kept: the download resumes after them.
        case resumed(UInt64)
        /// Bytes of other or unknown content, thrown away; `reason` says why.
        case discarded(bytes: UInt64, reason: String)
    }

    public let path: String
    public let finalPath: String
    public let recordPath: String
    public let expectedSize: UInt64
    public let expectedDigest: ContentDigest
    public let opening: Opening
    /// The open part file, closed when neither this part file nor a job on the pool holds it.
    private let descriptor: Descriptor
    private var fd: Int32 { descriptor.fd }
    private let pool: NIOThreadPool
    private let state: NIOLockedValueBox<State>

    private struct State {
        /// Bytes on disk, in order from 0.
        var length: UInt64
        /// Bytes read back into `hasher`.
        var hashed: UInt64 = 0
        var hasher = SHA256()
        /// The Merkle tree of the same bytes, built in the same read-back when asked for (so that the
        /// share can announce the finished file without hashing it again). It doubles the read-back's
        /// hashing, so a download that no share will announce does without.
        var tree: MerkleTreeBuilder?
        /// Bumped by truncation, so that a read-back in flight drops what it read.
        var generation = 0
        /// A read-back job owns the hasher.
        var readingBack = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        /// The first local failure (write, read back, flush): once set, the part file takes no more bytes.
        var failure: PartFileError?
        /// A download fetched chunk by chunk (``writeChunk(_:_:)``): its tree and which chunks are on
        /// disk and verified. `length` is then the verified prefix.
        var chunks: PartRecord.Chunks?
        /// Its owner let the part file go (and its lock with it): a read-back job in flight stops
        /// after the chunk it reads.
        var abandoned = false
    }

    /// A file descriptor closed when the last reference goes. Jobs on the pool hold this, never the
    /// part file itself: the part file goes (and unlocks, ``deinit``) when its owner lets it go, not
    /// when the pool thread that ran one of its jobs drops that job, nor when a read-back ends.
    private final class Descriptor: Sendable {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }

    /// The part file's name for `name`: `NAME.part`, or a digest-based hidden name when `NAME.part`
    /// would be longer than a file name may be.
    public static func partName(for name: SharedFileName, digest: ContentDigest) -> String {
        name.rawValue.utf8.count + 5 <= SharedFileName.maximumByteCount
            ? name.rawValue + ".part"
            : ".ferry-" + digest.hex.prefix(40) + ".part"
    }

    /// The record's name for `name`: `.NAME.state.part` (hidden, and ending in `.part` so that a share
    /// never announces it), or a digest-based hidden name when that would be too long.
    public static func recordName(for name: SharedFileName, digest: ContentDigest) -> String {
        name.rawValue.utf8.count + 12 <= SharedFileName.maximumByteCount
            ? "." + name.rawValue + ".state.part"
            : ".ferry-" + digest.hex.prefix(40) + ".state.part"
    }

    /// The record's line for a content.
    public static func recordLine(size: UInt64, digest: ContentDigest) -> String {
        PartRecord(size: size, digest: digest).contentLine
    }

    /// Opens (or creates) and locks the part file for `name` in `folder`, keeping the bytes of an
    /// earlier run only when its record says they are of this content (`digest`, `size`).
    ///
    /// With `buildsTree`, the read-back also builds the bytes' Merkle tree (``hashesFromDisk()``).
    ///
    /// With `tree`, the download is fetched chunk by chunk (``writeChunk(_:_:)``) and its record keeps
    /// which chunks are verified: the chunks an earlier run recorded (or, after an in-order download,
    /// the chunks its bytes cover) are read and hashed again, and only those that match `tree` are
    /// kept (``verifiedChunks``; ``unverifiedChunks`` counts the others). Without `tree`, the bytes
    /// of a chunk download are resumed up to its first missing chunk.
    public static func open(folder: String, name: SharedFileName, digest: ContentDigest, expectedSize: UInt64,
                            buildsTree: Bool = false, tree: MerkleTree? = nil, pool: NIOThreadPool = .singleton) async throws(PartFileError) -> PartFile {
        let path = folder + "/" + partName(for: name, digest: digest)
        let recordPath = folder + "/" + recordName(for: name, digest: digest)
        let opened: Opened
        do {
            opened = try await pool.runIfActive {
                try openLocked(path: path, recordPath: recordPath, name: name, folder: folder, digest: digest, size: expectedSize, tree: tree)
            }
        } catch let error as PartFileError {
            throw error
        } catch {
            throw PartFileError(.ioError, "cannot open \(path): \(error)")
        }
        var state = State(length: opened.length, tree: buildsTree && tree == nil ? MerkleTreeBuilder(fileSize: expectedSize) : nil)
        if let tree, let verified = opened.verified {
            state.chunks = PartRecord.Chunks(chunkSize: tree.chunkSize, root: tree.root.digest, verified: verified)
            state.hashed = opened.hashed.bytes
            state.hasher = opened.hashed.hasher
        }
        let part = PartFile(path: path, finalPath: folder + "/" + name.rawValue, recordPath: recordPath, size: expectedSize,
                            digest: digest, opening: opened.opening, fd: opened.fd, pool: pool, tree: tree,
                            unverifiedChunks: opened.unverified, state: state)
        part.readBackIfDue()
        return part
    }

    private init(path: String, finalPath: String, recordPath: String, size: UInt64, digest: ContentDigest,
                 opening: Opening, fd: Int32, pool: NIOThreadPool, tree: MerkleTree?, unverifiedChunks: Int, state: State) {
        self.path = path
        self.finalPath = finalPath
        self.recordPath = recordPath
        self.expectedSize = size
        self.expectedDigest = digest
        self.opening = opening
        self.descriptor = Descriptor(fd)
        self.pool = pool
        self.chunkTree = tree
        self.unverifiedChunks = unverifiedChunks
        self.state = NIOLockedValueBox(state)
    }

    /// The tree a chunk download checks its chunks against (``open(folder:name:digest:expectedSize:buildsTree:tree:pool:)``).
    public let chunkTree: MerkleTree?
    /// Chunks the record said were verified that did not hash right when the part file was opened
    /// (damaged, or never written before a crash): fetched again.
    public let unverifiedChunks: Int

    /// Which chunks are on disk and verified, for a chunk download.
    public var verifiedChunks: [Bool]? { state.withLockedValue { $0.chunks?.verified } }

    /// Checks `bytes` against chunk `index`'s hash and, when they match, writes them at the chunk's
    /// offset and records the chunk as verified; returns whether they matched (bytes that do not
    /// are never written). Hashing, the write and the record's update run on the thread pool.
    public func writeChunk(_ index: Int, _ bytes: ByteBuffer) async throws(PartFileError) -> Bool {
        guard let tree = chunkTree else { preconditionFailure("writeChunk on a part file opened without a tree") }
        if let earlier = failure { throw earlier }
        let fd = self.fd, path = self.path, recordPath = self.recordPath
        let state = self.state, size = self.expectedSize, digest = self.expectedDigest
        let outcome: Result<Bool, PartFileError>
        do {
            outcome = try await pool.runIfActive { () -> Result<Bool, PartFileError> in
                let valid = bytes.withUnsafeReadableBytes { tree.verifyChunk(at: index, bytes: $0) }
                guard valid else { return .success(false) }
                let offset = off_t(UInt64(index) * tree.chunkSize)
                if let failure = writeAll(fd, bytes, at: offset, path: path).1 { return .failure(failure) }
                let record = state.withLockedValue { state -> String in
                    state.chunks!.verified[index] = true
                    state.length = state.chunks!.prefixLength(fileSize: size)
                    return PartRecord(size: size, digest: digest, chunks: state.chunks).text
                }
                // A hint only (see PartRecord): rewritten in place, the same length, no flush.
                let recordFD = openFile(recordPath, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
                if recordFD >= 0 {
                    _ = Array(record.utf8).withUnsafeBytes { pwrite(recordFD, $0.baseAddress, $0.count, 0) }
                    close(recordFD)
                }
                return .success(true)
            }
        } catch is CancellationError {
            throw .cancelled                // the job never ran: nothing was written
        } catch {
            outcome = .failure(PartFileError(.ioError, "cannot write \(path): \(error)"))
        }
        switch outcome {
        case .success(let valid):
            if valid { readBackIfDue() }
            return valid
        case .failure(let error):
            state.withLockedValue { if $0.failure == nil { $0.failure = error } }
            throw error
        }
    }

    deinit {
        // The lock goes now, even while a read-back job still reads with the descriptor (it stops
        // after its current read; the descriptor closes when it does).
        state.withLockedValue { $0.abandoned = true }
        flock(descriptor.fd, LOCK_UN)
    }

    /// Bytes on disk, all in order from 0.
    public var length: UInt64 { state.withLockedValue { $0.length } }

    /// The first local error met (write, read back, flush), if any.
    public var failure: PartFileError? { state.withLockedValue { $0.failure } }

    /// Bytes read back into the digest so far.
    public var hashedLength: UInt64 { state.withLockedValue { $0.hashed } }

    /// Writes bytes at the end, on the thread pool. When it throws, `length` counts exactly the bytes
    /// that reached the file, and the part file takes no more.
    public func append(_ buffer: ByteBuffer) async throws(PartFileError) {
        guard buffer.readableBytes > 0 else { return }
        let (offset, earlier) = state.withLockedValue { ($0.length, $0.failure) }
        if let earlier { throw earlier }
        let fd = self.fd, path = self.path
        let written: (Int, PartFileError?)
        do {
            written = try await pool.runIfActive { writeAll(fd, buffer, at: off_t(offset), path: path) }
        } catch is CancellationError {
            throw .cancelled                // the job never ran: nothing was written
        } catch {
            written = (0, PartFileError(.ioError, "cannot write \(path): \(error)"))
        }
        let failure = state.withLockedValue { state -> PartFileError? in
            state.length = offset + UInt64(written.0)
            if let error = written.1, state.failure == nil { state.failure = error }
            return written.1
        }
        readBackIfDue()
        if let failure { throw failure }
    }

    /// Cuts the part file to its first `offset` bytes (0: throws every byte away). Bytes already read
    /// back past `offset` are read again from the disk.
    public func truncate(to offset: UInt64) async throws(PartFileError) {
        let fd = self.fd, path = self.path
        do {
            try await pool.runIfActive {
                guard ftruncate(fd, off_t(offset)) == 0 else { throw PartFileError(errno: errno, "cannot truncate \(path)") }
            }
        } catch let error as PartFileError {
            throw error
        } catch {
            throw PartFileError(.ioError, "cannot truncate \(path): \(error)")
        }
        state.withLockedValue { state in
            state.length = min(state.length, offset)
            state.failure = nil
            state.generation += 1           // a read-back in flight may have read past `offset`
            if state.hashed > offset {
                state.hashed = 0
                state.hasher = SHA256()
                if state.tree != nil { state.tree = MerkleTreeBuilder(fileSize: self.expectedSize) }
            }
        }
        readBackIfDue()
    }

    /// The SHA-256 of the bytes on disk: waits for the read-back, then reads back what is left.
    public func digestFromDisk() async throws(PartFileError) -> ContentDigest {
        try await hashesFromDisk().digest
    }

    /// The SHA-256 of the bytes on disk and, when the part file was opened with `buildsTree`, their
    /// Merkle tree, from the same read-back.
    public func hashesFromDisk() async throws(PartFileError) -> (digest: ContentDigest, tree: MerkleTree?) {
        await claimReadBack()
        let state = self.state, descriptor = self.descriptor, path = self.path
        do {
            try await pool.runIfActive { Self.readBack(state: state, descriptor: descriptor, path: path, untilCaughtUp: true) }
        } catch {
            Self.release(state)
            throw PartFileError(.ioError, "cannot read back \(path): \(error)")
        }
        let (failure, hasher, tree) = state.withLockedValue { ($0.failure, $0.hasher, $0.tree) }
        if let failure { throw failure }
        return (ContentDigest(hasher.finalize()), tree?.finalize())
    }

    /// What ``commit(overwrite:)`` did.
    public enum Commit: Equatable, Sendable {
        /// The file is under its final name.
        case committed
        /// A file appeared under the final name (and `overwrite` was not given): nothing was replaced,
        /// the part file is still there.
        case finalNameTaken
    }

    /// Flushes the bytes to disk and gives the part file its final name: without `overwrite` it never
    /// replaces a file (`renameat2(RENAME_NOREPLACE)`), with it a plain `rename`. The record goes.
    /// - Parameter beforeRename: run on the thread pool once the bytes are flushed, just before the
    ///   rename (the share learns the file's hashes there, before any scan can see it).
    public func commit(overwrite: Bool, beforeRename: @escaping @Sendable () -> Void = {}) async throws(PartFileError) -> Commit {
        let fd = self.fd, path = self.path, finalPath = self.finalPath, recordPath = self.recordPath
        do {
            return try await pool.runIfActive {
                guard fdatasync(fd) == 0 else { throw PartFileError(errno: errno, "cannot flush \(path)") }
                beforeRename()
                if overwrite {
                    guard rename(path, finalPath) == 0 else { throw PartFileError(errno: errno, "cannot rename \(path)") }
                } else {
                    switch renameWithoutReplacing(path, finalPath) {
                    case 0: break
                    case EEXIST: return .finalNameTaken
                    case let code: throw PartFileError(errno: code, "cannot rename \(path)")
                    }
                }
                unlink(recordPath)
                return .committed
            }
        } catch let error as PartFileError {
            throw error
        } catch {
            throw PartFileError(.ioError, "cannot rename \(path): \(error)")
        }
    }

    /// Removes the part file and its record.
    public func discard() async {
        let path = self.path, recordPath = self.recordPath
        _ = try? await pool.runIfActive {
            unlink(path)
            unlink(recordPath)
        }
    }

    // MARK: Read-back

    /// Starts a read-back job on the pool when enough written bytes wait and none runs.
    private func readBackIfDue() {
        let start = state.withLockedValue { state -> Bool in
            guard !state.readingBack, state.failure == nil, state.length - state.hashed >= Self.readBackChunk else { return false }
            state.readingBack = true
            return true
        }
        guard start else { return }
        let state = self.state, descriptor = self.descriptor, path = self.path
        pool.submit { work in
            if case .active = work {
                Self.readBack(state: state, descriptor: descriptor, path: path, untilCaughtUp: false)
            } else {
                Self.release(state)
            }
        }
    }

    /// Waits until no read-back job runs, and takes the hasher.
    private func claimReadBack() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let claimed = state.withLockedValue { state -> Bool in
                if state.readingBack {
                    state.waiting.append(continuation)
                    return false
                }
                state.readingBack = true
                return true
            }
            if claimed { continuation.resume() }
        }
    }

    /// Gives the hasher up: to the next waiter, or to nobody.
    private static func release(_ state: NIOLockedValueBox<State>) {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.readingBack = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }

    /// Runs on a pool thread while holding the hasher: reads written bytes back, a chunk at a time,
    /// until fewer than a chunk wait (or, `untilCaughtUp`, none) or the part file is let go, then
    /// releases it. Static, so that the job holds the state and the descriptor, not the part file.
    private static func readBack(state: NIOLockedValueBox<State>, descriptor: Descriptor, path: String, untilCaughtUp: Bool) {
        defer { release(state) }
        let fd = descriptor.fd
        var buffer = [UInt8](repeating: 0, count: Int(Self.readBackChunk))
        while true {
            let (generation, from, length, hasher0, tree0, abandoned) = state.withLockedValue {
                ($0.generation, $0.hashed, $0.length, $0.hasher, $0.tree, $0.abandoned)
            }
            let waiting = length - from
            guard !abandoned, waiting > 0, untilCaughtUp || waiting >= Self.readBackChunk else { return }
            let count = Int(min(waiting, Self.readBackChunk))
            var hasher = hasher0
            var tree = tree0
            var done = 0
            var failure: PartFileError?
            buffer.withUnsafeMutableBytes { bytes in
                while done < count {
                    let read = pread(fd, bytes.baseAddress! + done, count - done, off_t(from) + off_t(done))
                    if read < 0 {
                        if errno == EINTR { continue }
                        failure = PartFileError(errno: errno, "cannot read back \(path)")
                        return
                    }
                    if read == 0 {
                        failure = PartFileError(.ioError, "\(path) is shorter than the bytes written to it; was it changed by another program?")
                        return
                    }
                    done += read
                }
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[..<count]))
                tree?.update(UnsafeRawBufferPointer(rebasing: bytes[..<count]))
            }
            let stop = state.withLockedValue { state -> Bool in
                guard state.generation == generation else { return false }   // truncated meanwhile: read again
                if let failure {
                    if state.failure == nil { state.failure = failure }
                    return true
                }
                state.hasher = hasher
                state.tree = tree
                state.hashed = from + UInt64(count)
                return false
            }
            if stop { return }
        }
    }
}

/// A local error of a download: the part file could not be opened, written, read back, flushed or
/// renamed. Its ``code`` is the transfer error it ends an attempt with.
public struct PartFileError: Error, Sendable, CustomStringConvertible {
    /// `disk_full` or `io_error`.
    public var code: TransferError
    public var message: String
    /// Another download of the same name into the same folder holds the part file.
    public var isLocked: Bool

    public init(_ code: TransferError, _ message: String, isLocked: Bool = false) {
        self.code = code
        self.message = message
        self.isLocked = isLocked
    }

    /// An error from `errno`: `ENOSPC` and `EDQUOT` are `disk_full`.
    init(errno code: Int32, _ what: String) {
        let full = code == ENOSPC || code == EDQUOT
        self.init(full ? .diskFull : .ioError, "\(what): \(String(cString: strerror(code)))"
                  + (full ? "; the part file is kept: free some space and run the download again to resume" : ""))
    }

    public var description: String { message }

    /// A write whose task was cancelled before it reached the thread pool: nothing was written, and
    /// it is not a local failure (the part file takes bytes again). Its code is `closed_early`.
    public static let cancelled = PartFileError(.closedEarly, "cancelled before the bytes were written")
}

extension PartFile {
    /// What ``openLocked`` found and kept.
    fileprivate struct Opened {
        var fd: Int32
        var opening: Opening
        /// Bytes in order from 0 (for a chunk download: its verified prefix).
        var length: UInt64
        /// For a chunk download: the chunks kept, and how many claimed ones did not verify.
        var verified: [Bool]?
        var unverified = 0
        /// The SHA-256 of the verified prefix, computed while checking the chunks.
        var hashed: (bytes: UInt64, hasher: SHA256) = (0, SHA256())
    }

    /// Opens, locks and checks the part file (blocking: runs on the pool).
    fileprivate static func openLocked(path: String, recordPath: String, name: SharedFileName, folder: String,
                                       digest: ContentDigest, size: UInt64, tree: MerkleTree?) throws(PartFileError) -> Opened {
        var fd: Int32 = -1
        var info = stat()
        // The lock is on the file, not the name: a download that finished meanwhile renamed or removed
        // the file we locked, so check that the name still leads to it, and otherwise start again.
        for _ in 0..<3 where fd < 0 {
            fd = openFile(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw PartFileError(errno: errno, "cannot open \(path)") }
            guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                close(fd)
                throw PartFileError(.ioError, "\(path) is not a regular file; remove it")
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                close(fd)
                if code == EWOULDBLOCK {
                    throw PartFileError(.ioError, "another download of \(LineScanner.quote(name.rawValue)) into \(folder) is running "
                                        + "(its part file is locked); not downloading it twice at once", isLocked: true)
                }
                throw PartFileError(errno: code, "cannot lock \(path)")
            }
            var now = stat()
            if lstat(path, &now) != 0 || now.st_ino != info.st_ino || now.st_dev != info.st_dev {
                close(fd)
                fd = -1
            }
        }
        guard fd >= 0 else { throw PartFileError(.ioError, "\(path) keeps being replaced by another program") }
        _ = fstat(fd, &info)
        let existing = UInt64(info.st_size)
        let wanted = PartRecord(size: size, digest: digest)
        var opened = Opened(fd: fd, opening: .new, length: 0)
        var keptRecord = false
        if existing > 0 {
            let text = readRecord(recordPath)
            let record = text.flatMap(PartRecord.init(parsing:))
            if text == nil {
                opened.opening = .discarded(bytes: existing, reason: "there is no record of the content it holds")
            } else if record?.size != size || record?.digest != digest {
                opened.opening = .discarded(bytes: existing, reason: "it holds other content (\(text!.prefix { $0 != "\n" }))")
            } else if existing > size {
                opened.opening = .discarded(bytes: existing, reason: "it is longer than the file")
            } else if let tree {
                let claimed: [Bool]
                if let chunks = record!.chunks, chunks.chunkSize == tree.chunkSize, chunks.root == tree.root.digest {
                    claimed = chunks.verified
                } else {
                    // An in-order download's bytes: the chunks they cover whole.
                    claimed = (0..<tree.chunkCount).map { UInt64($0) * tree.chunkSize + tree.chunkLength(at: $0) <= existing }
                }
                checkChunks(fd: fd, tree: tree, claimed: claimed, into: &opened)
                let kept = opened.verified!.indices.reduce(UInt64(0)) { $0 + (opened.verified![$1] ? tree.chunkLength(at: $1) : 0) }
                opened.opening = kept > 0 ? .resumed(kept) : .discarded(bytes: existing, reason: "none of its chunks matches its hash")
            } else if let chunks = record!.chunks {
                // A chunk download's bytes, continued in order: up to its first missing chunk.
                opened.length = min(existing, chunks.prefixLength(fileSize: size))
                opened.opening = opened.length > 0
                    ? .resumed(opened.length)
                    : .discarded(bytes: existing, reason: "its first chunk is missing, and an in-order download cannot use the others")
            } else {
                opened.length = existing
                opened.opening = .resumed(existing)
                keptRecord = true
            }
        }
        do throws(PartFileError) {
            if case .discarded = opened.opening {
                opened.length = 0
                if let tree { opened.verified = Array(repeating: false, count: tree.chunkCount) }
                opened.hashed = (0, SHA256())
            }
            if opened.verified == nil, tree != nil { opened.verified = Array(repeating: false, count: tree!.chunkCount) }
            if tree == nil, ftruncate(fd, off_t(opened.length)) != 0 {
                throw PartFileError(errno: errno, "cannot truncate \(path)")
            }
            if tree != nil, case .discarded = opened.opening, ftruncate(fd, 0) != 0 {
                throw PartFileError(errno: errno, "cannot truncate \(path)")
            }
            if keptRecord { return opened }
            var record = wanted
            if let tree {
                record.chunks = PartRecord.Chunks(chunkSize: tree.chunkSize, root: tree.root.digest, verified: opened.verified!)
            }
            try writeRecord(record.text, to: recordPath)
        } catch {
            close(fd)
            throw error
        }
        return opened
    }

    /// Reads and hashes every claimed chunk, keeping those that match `tree`, and the SHA-256 of the
    /// verified chunks in a row from the start.
    private static func checkChunks(fd: Int32, tree: MerkleTree, claimed: [Bool], into opened: inout Opened) {
        var verified = Array(repeating: false, count: tree.chunkCount)
        var buffer = [UInt8](repeating: 0, count: Int(tree.chunkSize))
        for index in claimed.indices where claimed[index] {
            let length = Int(tree.chunkLength(at: index))
            let offset = off_t(UInt64(index) * tree.chunkSize)
            let ok = buffer.withUnsafeMutableBytes { bytes -> Bool in
                var done = 0
                while done < length {
                    let count = pread(fd, bytes.baseAddress! + done, length - done, offset + off_t(done))
                    if count < 0, errno == EINTR { continue }
                    if count <= 0 { return false }
                    done += count
                }
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[..<length])
                guard tree.verifyChunk(at: index, bytes: chunk) else { return false }
                if opened.hashed.bytes == UInt64(offset) {     // the next chunk of the verified prefix
                    opened.hashed.hasher.update(bufferPointer: chunk)
                    opened.hashed.bytes += UInt64(length)
                }
                return true
            }
            verified[index] = ok
            if !ok { opened.unverified += 1 }
        }
        opened.verified = verified
        opened.length = PartRecord.Chunks(chunkSize: tree.chunkSize, root: tree.root.digest, verified: verified)
            .prefixLength(fileSize: tree.fileSize)
    }

    /// The record's line, if there is a readable one of a sane length.
    private static func readRecord(_ path: String) -> String? {
        let fd = openFile(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: PartRecord.maximumLength)
        let count = read(fd, &bytes, bytes.count)
        guard count > 0, count < bytes.count else { return nil }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }

    /// Writes the record and flushes it, so that it exists before any byte it describes.
    private static func writeRecord(_ line: String, to path: String) throws(PartFileError) {
        let fd = openFile(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PartFileError(errno: errno, "cannot write \(path)") }
        defer { close(fd) }
        let bytes = Array(line.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw PartFileError(errno: errno, "cannot write \(path)") }
        guard fsync(fd) == 0 else { throw PartFileError(errno: errno, "cannot flush \(path)") }
    }
}

/// `renameat2(from, to, RENAME_NOREPLACE)`, or `link` + `unlink` where the C library or the file
/// system lacks it: either way a file at `to` is never replaced. Returns 0 or an `errno`.
func renameWithoutReplacing(_ from: String, _ to: String) -> Int32 {
    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
    let renameNoReplace: UInt32 = 1         // RENAME_NOREPLACE, <linux/fs.h>
    if let library = dlopen(nil, RTLD_NOW), let symbol = dlsym(library, "renameat2") {
        let renameat2 = unsafeBitCast(symbol, to: RenameAt2.self)
        if renameat2(AT_FDCWD, from, AT_FDCWD, to, renameNoReplace) == 0 { return 0 }
        let code = errno
        guard code == EINVAL || code == ENOSYS || code == ENOTSUP else { return code }
    }
    guard link(from, to) == 0 else { return errno }
    unlink(from)
    return 0
}

/// Writes all of `buffer` at `offset` (blocking: runs on the pool); returns the bytes written and the
/// error that stopped it, if one did.
private func writeAll(_ fd: Int32, _ buffer: ByteBuffer, at offset: off_t, path: String) -> (Int, PartFileError?) {
    buffer.withUnsafeReadableBytes { bytes -> (Int, PartFileError?) in
        var done = 0
        while done < bytes.count {
            let count = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, offset + off_t(done))
            if count < 0 {
                if errno == EINTR { continue }
                return (done, PartFileError(errno: errno, "cannot write \(path)"))
            }
            done += count
        }
        return (done, nil)
    }
}

/// `open(2)`, named apart from ``PartFile/open(folder:name:digest:expectedSize:pool:)``.
private func openFile(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}

import Crypto
import FerryWire
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A download in progress: `NAME.part` in the download folder, written in order while its SHA-256 is
/// computed, and renamed to `NAME` only once the digest matches.
///
/// The part file survives a failed attempt (the next peer resumes from its length) and even a restart
/// (its bytes are hashed again on open). It is opened with `O_NOFOLLOW`, so a symlink planted at its
/// name cannot redirect the writes.
public final class PartFile {
    public let path: String
    public let finalPath: String
    private let fd: Int32
    private var hasher: SHA256
    /// Bytes written so far, all in order from 0.
    public private(set) var length: UInt64

    /// The part file's name for `name`: `NAME.part`, or a digest-based hidden name when `NAME.part`
    /// would be longer than a file name may be.
    public static func partName(for name: SharedFileName, digest: ContentDigest) -> String {
        name.rawValue.utf8.count + 5 <= SharedFileName.maximumByteCount
            ? name.rawValue + ".part"
            : ".ferry-" + digest.hex.prefix(40) + ".part"
    }

    /// Opens (or creates) the part file for `name` in `folder`, keeping at most `expectedSize` bytes of
    /// an earlier run.
    public init(folder: String, name: SharedFileName, digest: ContentDigest, expectedSize: UInt64) throws(PeerError) {
        path = folder + "/" + Self.partName(for: name, digest: digest)
        finalPath = folder + "/" + name.rawValue
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PeerError.io("cannot open \(path)", errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw PeerError(.io, "\(path) is not a regular file; remove it")
        }
        hasher = SHA256()
        length = 0
        let existing = UInt64(info.st_size)
        if existing > 0 && existing <= expectedSize {
            do {
                hasher = try ContentHasher.hasher(ofFileAt: path, limit: existing)
                length = existing
            } catch {
                try restart()
            }
        } else if existing > 0 {
            try restart()
        }
    }

    deinit {
        close(fd)
    }

    /// Appends bytes at the end, adding them to the digest.
    public func append(_ buffer: ByteBuffer) throws(PeerError) {
        var failure: Int32 = 0
        buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let written = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(length) + off_t(done))
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += written
            }
            hasher.update(bufferPointer: bytes)
        }
        guard failure == 0 else { throw PeerError.io("cannot write \(path)", errno: failure) }
        length += UInt64(buffer.readableBytes)
    }

    /// Throws every byte away: the next attempt starts from 0.
    public func restart() throws(PeerError) {
        guard ftruncate(fd, 0) == 0 else { throw PeerError.io("cannot truncate \(path)", errno: errno) }
        hasher = SHA256()
        length = 0
    }

    /// The digest of the bytes written so far.
    public var digest: ContentDigest {
        ContentDigest(hasher.finalize())
    }

    /// Flushes the bytes to disk and renames the part file to its final name, atomically replacing
    /// whatever had that name.
    public func commit() throws(PeerError) {
        guard fdatasync(fd) == 0 else { throw PeerError.io("cannot flush \(path)", errno: errno) }
        guard rename(path, finalPath) == 0 else { throw PeerError.io("cannot rename \(path)", errno: errno) }
    }

    /// Removes the part file.
    public func discard() {
        unlink(path)
    }
}

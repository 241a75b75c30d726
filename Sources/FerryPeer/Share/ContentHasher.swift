import Crypto
import FerryWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The SHA-256 of a file and its BEP 52 Merkle tree, computed in one read pass.
public struct FileHashes: Hashable, Sendable {
    /// The whole file's SHA-256: the name users see and the last check of a download.
    public var digest: ContentDigest
    /// The tree that lets a download check the file chunk by chunk.
    public var tree: MerkleTree

    public init(digest: ContentDigest, tree: MerkleTree) {
        self.digest = digest
        self.tree = tree
    }
}

/// Streaming SHA-256 (and BEP 52 Merkle tree) of files: a fixed buffer, never the whole file in memory.
public enum ContentHasher {
    /// The read size: large enough for full speed, small enough to be irrelevant for memory.
    static let chunkSize = 1 << 20

    /// Hashes the first `limit` bytes of the file at `path` (all of it when `limit` is `nil`), and
    /// returns the hasher so that more bytes can be added (a resumed download continues from it).
    public static func hasher(ofFileAt path: String, limit: UInt64? = nil) throws(PeerError) -> SHA256 {
        var hasher = SHA256()
        try stream(path, limit: limit) { _ in } each: { hasher.update(bufferPointer: $0) }
        return hasher
    }

    /// The SHA-256 of the whole file at `path`.
    public static func digest(ofFileAt path: String) throws(PeerError) -> ContentDigest {
        ContentDigest(try hasher(ofFileAt: path).finalize())
    }

    /// The SHA-256 and the Merkle tree of the file at `path`, from one read pass. The chunk size is
    /// Ferry's for the file's size when it is opened (``MerkleTree/chunkSize(forFileSize:)``).
    public static func hashes(ofFileAt path: String) throws(PeerError) -> FileHashes {
        var hasher = SHA256()
        var builder: MerkleTreeBuilder?
        try stream(path, limit: nil) { size in
            builder = MerkleTreeBuilder(fileSize: size)
        } each: { bytes in
            hasher.update(bufferPointer: bytes)
            builder!.update(bytes)
        }
        return FileHashes(digest: ContentDigest(hasher.finalize()), tree: builder!.finalize())
    }

    /// Opens the file at `path`, tells `opened` its size, and gives `each` its bytes in order, a
    /// buffer of ``chunkSize`` at a time, up to `limit` bytes or the end.
    private static func stream(_ path: String, limit: UInt64?, opened: (UInt64) -> Void,
                             each: (UnsafeRawBufferPointer) -> Void) throws(PeerError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PeerError.io("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw PeerError.io("cannot read \(path)", errno: errno) }
        opened(UInt64(max(0, info.st_size)))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = limit ?? UInt64.max
        while remaining > 0 {
            let want = Int(min(UInt64(chunkSize), remaining))
            let count = read(fd, buffer.baseAddress, want)
            if count < 0 {
                if errno == EINTR { continue }
                throw PeerError.io("cannot read \(path)", errno: errno)
            }
            if count == 0 { break }
            each(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            remaining -= UInt64(count)
        }
    }
}

extension ContentDigest {
    /// Wraps a swift-crypto digest.
    public init(_ digest: SHA256.Digest) {
        self.init(bytes: digest)!
    }
}

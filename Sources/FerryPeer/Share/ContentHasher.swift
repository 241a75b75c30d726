import Crypto
import FerryWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streaming SHA-256 of files: a fixed buffer, never the whole file in memory.
public enum ContentHasher {
    /// The read size: large enough for full speed, small enough to be irrelevant for memory.
    static let chunkSize = 1 << 20

    /// Hashes the first `limit` bytes of the file at `path` (all of it when `limit` is `nil`), and
    /// returns the hasher so that more bytes can be added (a resumed download continues from it).
    public static func hasher(ofFileAt path: String, limit: UInt64? = nil) throws(PeerError) -> SHA256 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PeerError.io("cannot open \(path)", errno: errno) }
        defer { close(fd) }
        var hasher = SHA256()
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
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            remaining -= UInt64(count)
        }
        return hasher
    }

    /// The SHA-256 of the whole file at `path`.
    public static func digest(ofFileAt path: String) throws(PeerError) -> ContentDigest {
        ContentDigest(try hasher(ofFileAt: path).finalize())
    }
}

extension ContentDigest {
    /// Wraps a swift-crypto digest.
    public init(_ digest: SHA256.Digest) {
        self.init(bytes: digest)!
    }
}

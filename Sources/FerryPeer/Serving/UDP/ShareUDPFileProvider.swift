import FerryUDP
import FerryWire
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves the files of a ``Share`` to the UDP protocol, with the same checks as the TCP file server:
/// the name rule, only files of the current snapshot, only while unchanged since they were hashed.
struct ShareUDPFileProvider: UDPFileProvider {
    let share: Share

    func lookup(name: String) -> Result<any UDPFileSource, FerryUDPError> {
        guard let name = SharedFileName(name) else { return .failure(FerryUDPError(.badName, reason: "bad name")) }
        guard let file = share.file(named: name), let real = Share.realPath(file.path),
              real.hasPrefix(share.realFolder + "/")
        else {
            return .failure(FerryUDPError(.notFound, reason: "not found"))
        }
        let fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return .failure(FerryUDPError(.notFound, reason: "not found")) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, UInt64(info.st_size) == file.size,
              Share.modificationTime(info) == file.modified
        else {
            close(fd)
            return .failure(FerryUDPError(.notFound, reason: "changed since it was hashed"))
        }
        return .success(PreadFileSource(fd: fd, size: file.size, sha256Hex: file.digest.hex))
    }
}

/// A file open for the length of one UDP transfer, read with `pread` (from the page cache, so quick
/// enough to run while a datagram is built); closed when the transfer's state is dropped.
final class PreadFileSource: UDPFileSource {
    let size: UInt64
    let sha256Hex: String
    private let fd: Int32

    init(fd: Int32, size: UInt64, sha256Hex: String) {
        self.fd = fd
        self.size = size
        self.sha256Hex = sha256Hex
    }

    deinit {
        close(fd)
    }

    func read(offset: UInt64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failed = false
        while buffer.readableBytes < count, !failed {
            let done = buffer.readableBytes
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { pointer in
                let got = pread(fd, pointer.baseAddress, count - done, off_t(offset) + off_t(done))
                if got <= 0 {
                    if got < 0 && errno == EINTR { return 0 }
                    failed = true
                    return 0
                }
                return got
            }
        }
        guard !failed else { throw PeerError(.io, "cannot read a shared file") }
        return buffer
    }
}

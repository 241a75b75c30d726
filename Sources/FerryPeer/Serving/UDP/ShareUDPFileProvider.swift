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
///
/// A sender asks for about one datagram's worth of bytes at a time, mostly in file order. One
/// `pread` per datagram made the system call a noticeable part of the per-datagram cost, so reads go
/// through a window of ``windowSize`` bytes read ahead in one call; a request outside the window
/// (typically a retransmission) moves the window there. The bytes a transfer sends are therefore read
/// at most one window earlier than before, which changes nothing for a file that does not change
/// (and a file that changes mid-transfer fails the client's digest check either way).
final class PreadFileSource: UDPFileSource {
    /// How much is read ahead per system call.
    static let windowSize = 256 << 10

    let size: UInt64
    let sha256Hex: String
    private let fd: Int32
    /// The file bytes at `windowOffset...`, read ahead.
    private var window = ByteBuffer()
    private var windowOffset: UInt64 = 0

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
        try read(offset: offset, count: count, into: &buffer)
        return buffer
    }

    /// Copies from the read-ahead window straight into the datagram being built.
    func read(offset: UInt64, count: Int, into buffer: inout ByteBuffer) throws {
        let windowEnd = windowOffset + UInt64(window.readableBytes)
        if offset < windowOffset || offset + UInt64(count) > windowEnd {
            guard count <= Self.windowSize else {
                guard try Self.readFile(fd, offset: offset, count: count, into: &buffer) == count else {
                    throw PeerError(.io, "a shared file is shorter than announced")
                }
                return
            }
            window.clear(minimumCapacity: Self.windowSize)
            windowOffset = offset
            // Up to the end of the file: only the requested bytes must be there.
            guard try Self.readFile(fd, offset: offset, count: Self.windowSize, into: &window) >= count else {
                throw PeerError(.io, "a shared file is shorter than announced")
            }
        }
        let start = window.readerIndex + Int(offset - windowOffset)
        buffer.writeImmutableBuffer(window.getSlice(at: start, length: count)!)
    }

    /// Appends up to `count` bytes at `offset` of `fd` to `buffer`, fewer only at the end of the
    /// file; returns how many.
    private static func readFile(_ fd: Int32, offset: UInt64, count: Int, into buffer: inout ByteBuffer) throws -> Int {
        var done = 0
        var failed = false
        var atEnd = false
        while done < count, !failed, !atEnd {
            done += buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { pointer in
                let got = pread(fd, pointer.baseAddress, count - done, off_t(offset) + off_t(done))
                if got < 0 {
                    failed = errno != EINTR
                    return 0
                }
                atEnd = got == 0
                return got
            }
        }
        guard !failed else { throw PeerError(.io, "cannot read a shared file") }
        return done
    }
}

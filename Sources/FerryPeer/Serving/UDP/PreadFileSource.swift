import FerryUDP
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The UDP server's disk reads: run on a thread pool, never on the event loop, and reported back
/// on the loop so that the server sends what was waiting for them.
///
/// Used on its event loop only.
final class DiskReads {
    let eventLoop: any EventLoop
    let pool: NIOThreadPool
    /// Called on the event loop after every read that completed: the server drains the
    /// connections that waited for their file.
    var onCompletion: () -> Void = {}

    init(eventLoop: any EventLoop, pool: NIOThreadPool = .singleton) {
        self.eventLoop = eventLoop
        self.pool = pool
    }

    /// Reads up to `count` bytes at `offset` of `file` on the pool (fewer only at the end of the
    /// file); the future completes on the event loop.
    func read(_ file: OpenFile, offset: UInt64, count: Int) -> EventLoopFuture<ByteBuffer> {
        pool.runIfActive(eventLoop: eventLoop) {
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            _ = try PreadFileSource.readFile(file.descriptor, offset: offset, count: count, into: &buffer)
            return buffer
        }
    }
}

/// A file descriptor closed when the last holder lets go: a read still running on the pool keeps
/// the file open after its transfer ended, so the descriptor is never reused under it.
final class OpenFile: Sendable {
    let descriptor: Int32

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }
}

/// A file open for the length of one UDP transfer, read ahead in windows.
///
/// A sender asks for about one datagram's worth of bytes at a time, mostly in file order. Reads go
/// through a window read ahead in one call; a request outside the window (typically a
/// retransmission) moves the window there. The window starts at ``initialWindowSize`` and doubles
/// with each sequential refill up to ``windowSize`` while the shared ``ReadAheadBudget`` has room:
/// a transfer that never gets past its first datagrams (a half-open handshake) costs 16 KiB, not
/// 256.
///
/// With ``DiskReads`` (the server), every read runs on a thread pool: ``readableBytes(at:)`` says
/// what the windows hold, starts the read of the next window once the sender is half-way through
/// the current one, and on a miss starts a read there and answers 0, so that the sender waits for
/// it rather than the event loop for the disk. Without (tests, tools), reads are synchronous.
///
/// A file that shrinks under a transfer gives a short read: the next ``read(offset:count:into:)``
/// throws, and the transfer ends with CLOSE(ioError).
final class PreadFileSource: UDPFileSource {
    /// The largest read-ahead window.
    static let windowSize = 256 << 10
    /// The first window.
    static let initialWindowSize = 16 << 10

    let size: UInt64
    let sha256Hex: String
    private let file: OpenFile
    private let budget: ReadAheadBudget
    private let reads: DiskReads?
    /// The budget taken: one window, or two (current and next) when reading ahead on the pool.
    private var taken = 0
    /// The window's size now (0: none could be taken; reads go straight into the datagram).
    private(set) var windowCapacity = 0
    /// The file bytes at `windowOffset...`.
    private var window = ByteBuffer()
    private var windowOffset: UInt64 = 0
    /// The window after this one, read ahead on the pool.
    private var next: (offset: UInt64, bytes: ByteBuffer)?
    /// The read running on the pool, if any.
    private var reading: (offset: UInt64, isReadAhead: Bool)?
    /// A pool read came back short: the file shrank.
    private var shrank = false

    init(fd: Int32, size: UInt64, sha256Hex: String,
         budget: ReadAheadBudget = ReadAheadBudget(limit: ReadAheadBudget.standardLimit), reads: DiskReads? = nil) {
        self.file = OpenFile(descriptor: fd)
        self.size = size
        self.sha256Hex = sha256Hex
        self.budget = budget
        self.reads = reads
    }

    deinit {
        budget.give(taken)
    }

    private var windowEnd: UInt64 { windowOffset + UInt64(window.readableBytes) }

    func readableBytes(at offset: UInt64) -> Int {
        guard let reads, !shrank, offset < size else { return Int.max }
        if offset >= windowOffset, offset < windowEnd {
            readAheadIfHalfway(at: offset, reads: reads)
            return Int(windowEnd - offset)
        }
        if let next, offset >= next.offset, offset < next.offset + UInt64(next.bytes.readableBytes) {
            promoteNext()
            readAheadIfHalfway(at: offset, reads: reads)
            return Int(windowEnd - offset)
        }
        // A miss: read a window there (unless a read is running; its completion brings the sender
        // back, and then this offset is asked for again).
        if reading == nil {
            growWindow(sequential: window.readableBytes > 0 && offset >= windowOffset && offset <= windowEnd)
            start(reads, at: offset, isReadAhead: false)
        }
        return 0
    }

    func read(offset: UInt64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        try read(offset: offset, count: count, into: &buffer)
        return buffer
    }

    /// Copies from the window straight into the datagram being built.
    func read(offset: UInt64, count: Int, into buffer: inout ByteBuffer) throws {
        guard !shrank else { throw PeerError(.io, "a shared file is shorter than announced") }
        if !(offset >= windowOffset && offset + UInt64(count) <= windowEnd),
           let next, offset >= next.offset, offset + UInt64(count) <= next.offset + UInt64(next.bytes.readableBytes) {
            promoteNext()
        }
        if offset < windowOffset || offset + UInt64(count) > windowEnd {
            // Synchronous: without a pool (tests and tools), or when called without asking
            // `readableBytes(at:)` first.
            growWindow(sequential: window.readableBytes > 0 && offset >= windowOffset && offset <= windowEnd)
            guard count <= windowCapacity else {
                guard try Self.readFile(file.descriptor, offset: offset, count: count, into: &buffer) == count else {
                    throw PeerError(.io, "a shared file is shorter than announced")
                }
                return
            }
            if window.capacity < windowCapacity {
                window = ByteBufferAllocator().buffer(capacity: windowCapacity)
            } else {
                window.clear()
            }
            windowOffset = offset
            // Up to the end of the file: only the requested bytes must be there.
            guard try Self.readFile(file.descriptor, offset: offset, count: windowCapacity, into: &window) >= count else {
                throw PeerError(.io, "a shared file is shorter than announced")
            }
        }
        let start = window.readerIndex + Int(offset - windowOffset)
        buffer.writeImmutableBuffer(window.getSlice(at: start, length: count)!)
    }

    /// Starts reading the window after this one once the sender is half-way through it.
    private func readAheadIfHalfway(at offset: UInt64, reads: DiskReads) {
        guard reading == nil, next == nil, windowEnd < size,
              offset >= windowOffset + UInt64(window.readableBytes / 2) else { return }
        growWindow(sequential: true)
        start(reads, at: windowEnd, isReadAhead: true)
    }

    private func start(_ reads: DiskReads, at offset: UInt64, isReadAhead: Bool) {
        reading = (offset, isReadAhead)
        // Without budget, the smallest window still: reads stay off the event loop, and the bytes
        // beyond the budget are bounded by 16 KiB per transfer.
        let count = Int(min(UInt64(max(windowCapacity, Self.initialWindowSize)), size - offset))
        let loopBound = NIOLoopBound((self, reads), eventLoop: reads.eventLoop)
        reads.read(file, offset: offset, count: count).whenComplete { result in
            let (source, reads) = loopBound.value
            source.reading = nil
            switch result {
            case .success(let bytes) where bytes.readableBytes == count:
                if isReadAhead {
                    source.next = (offset, bytes)
                } else {
                    // The read-ahead window (`next`) stays: a retransmission does not discard it.
                    source.window = bytes
                    source.windowOffset = offset
                }
            case .success, .failure:
                source.shrank = true
            }
            reads.onCompletion()
        }
    }

    private func promoteNext() {
        guard let next else { return }
        window = next.bytes
        windowOffset = next.offset
        self.next = nil
    }

    /// Takes the first window, or doubles it after a sequential refill, as far as the budget allows.
    private func growWindow(sequential: Bool) {
        let wanted = windowCapacity == 0 ? Self.initialWindowSize : (sequential ? min(windowCapacity * 2, Self.windowSize) : windowCapacity)
        guard wanted > windowCapacity else { return }
        let buffers = reads == nil ? 1 : 2
        guard budget.take((wanted - windowCapacity) * buffers) else { return }
        taken += (wanted - windowCapacity) * buffers
        windowCapacity = wanted
    }

    /// Appends up to `count` bytes at `offset` of `fd` to `buffer`, fewer only at the end of the
    /// file; returns how many.
    static func readFile(_ fd: Int32, offset: UInt64, count: Int, into buffer: inout ByteBuffer) throws -> Int {
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

import NIOCore

/// A file a server can send: its size, digest and random-access reads.
///
/// ``read(offset:count:)`` is called from the sender state machine while it builds a datagram, so it
/// must be quick: reading from the page cache, a memory map or a prefetched window.
public protocol UDPFileSource {
    /// The size of the whole file in bytes.
    var size: UInt64 { get }
    /// SHA-256 of the whole file, 64 lowercase hexadecimal characters.
    var sha256Hex: String { get }
    /// Returns exactly `count` bytes starting at `offset` (the range always lies within the file).
    /// A shorter result or a thrown error ends the transfer with `ioError`.
    func read(offset: UInt64, count: Int) throws -> ByteBuffer
    /// Appends exactly `count` bytes starting at `offset` to `buffer` (the range always lies within
    /// the file). The sender builds each datagram in one buffer and asks for the STREAM bytes to be
    /// put straight into it; a source that can (`pread` into the buffer's free space) saves the
    /// allocation and copy of an intermediate buffer per datagram. Appending fewer bytes or throwing
    /// ends the transfer with `ioError`. The default implementation goes through ``read(offset:count:)``.
    func read(offset: UInt64, count: Int, into buffer: inout ByteBuffer) throws
    /// How many bytes from `offset` on can be read now without waiting for the disk (at least 1
    /// when a read may be made now). `0` means they are being fetched — typically read ahead on a
    /// thread pool, so that no event loop waits for a disk: the sender then sends no STREAM data
    /// (no busy loop of PINGs either) until the driver, told that the bytes arrived, asks again.
    /// The default: everything is readable at once (a file in memory).
    func readableBytes(at offset: UInt64) -> Int
}

extension UDPFileSource {
    public func readableBytes(at offset: UInt64) -> Int {
        Int.max
    }

    public func read(offset: UInt64, count: Int, into buffer: inout ByteBuffer) throws {
        var bytes = try self.read(offset: offset, count: count)
        buffer.writeBuffer(&bytes)
    }
}

/// Finds the file a REQUEST names.
public protocol UDPFileProvider {
    /// The source serving `name`, or the error to send back: `notFound`, `badName` or `busy` (any
    /// other code is passed through). Range checks are the state machine's job.
    func lookup(name: String) -> Result<any UDPFileSource, FerryUDPError>
}

/// How a transfer ended.
public enum UDPTransferOutcome: Hashable, Sendable {
    /// Every requested byte reached the receiver.
    case completed
    /// The transfer failed; the error says why (also when the peer closed with that code).
    case failed(FerryUDPError)
}

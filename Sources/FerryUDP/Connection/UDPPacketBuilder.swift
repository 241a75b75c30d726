import NIOCore

/// Assembles one outgoing datagram: a header, then frames while they fit, remembering what each
/// packet carried for loss recovery.
///
/// The datagram is either a buffer of its own or appended to a buffer that already holds earlier
/// datagrams: a sender's driver batches datagrams into one buffer for a single (GSO) write, and
/// building each in place saves an allocation and a copy per datagram.
struct UDPPacketBuilder {
    private(set) var buffer: ByteBuffer
    /// Where this datagram starts in ``buffer``.
    let start: Int
    /// The datagram's size limit.
    let limit: Int
    /// The packet number in the header.
    let packetNumber: UInt64
    /// What to resend if this packet is lost.
    private(set) var sentFrames = SentFrames()
    /// Whether an ack-eliciting frame was added.
    private(set) var isAckEliciting = false

    init(header: UDPPacketHeader, limit: Int, allocator: ByteBufferAllocator) {
        var buffer = allocator.buffer(capacity: limit)
        self.init(header: header, limit: limit, appendingTo: &buffer)
    }

    /// Starts a datagram at the end of `buffer`, which the builder takes over (leaving `buffer`
    /// empty) until ``UDPConnectionCore/finish(_:at:)`` or ``abandon()`` gives it back.
    ///
    /// The buffer is swapped in rather than passed by value: a parameter stays alive to the end of
    /// the initializer, so the first write would find the storage shared and copy all of it — the
    /// whole batch of datagrams, once per datagram.
    init(header: UDPPacketHeader, limit: Int, appendingTo buffer: inout ByteBuffer) {
        self.buffer = ByteBuffer()
        swap(&self.buffer, &buffer)
        self.start = self.buffer.writerIndex
        self.limit = limit
        self.packetNumber = header.packetNumber
        self.buffer.reserveCapacity(minimumWritableBytes: limit)
        self.buffer.writeUDPPacketHeader(header)
    }

    /// The datagram's size so far.
    var size: Int {
        self.buffer.writerIndex - self.start
    }

    /// The bytes still free.
    var remaining: Int {
        self.limit - self.size
    }

    /// Gives the buffer back without this datagram (nothing is sent, no packet number is used).
    consuming func abandon() -> ByteBuffer {
        var buffer = self.buffer
        buffer.moveWriterIndex(to: self.start)
        return buffer
    }

    /// Whether only the header was written.
    private(set) var isEmpty = true

    /// Appends `frame` if it fits, recording `sent` for loss recovery; returns whether it was added.
    @discardableResult
    mutating func append(_ frame: UDPFrame, sent: SentFrame? = nil) -> Bool {
        guard frame.encodedLength <= self.remaining else {
            return false
        }
        self.buffer.writeUDPFrame(frame)
        self.isEmpty = false
        self.isAckEliciting = self.isAckEliciting || frame.isAckEliciting
        if let sent {
            self.sentFrames.append(sent)
        }
        return true
    }

    /// Appends a STREAM frame of `count` file bytes at `offset`, read by `source` straight into the
    /// datagram (encoded exactly as ``ByteBuffer/writeUDPStreamFrame(_:)`` would); the caller checked
    /// that it fits. Records the range for loss recovery.
    ///
    /// - Throws: `ioError` when the source fails or delivers another number of bytes.
    mutating func appendStream(offset: UInt64, count: Int, from source: any UDPFileSource) throws(FerryUDPError) {
        precondition(count <= Int(UInt16.max) && UDPStreamFrame.overhead + count <= self.remaining)
        self.buffer.writeInteger(UDPFrameType.stream.rawValue)
        self.buffer.writeInteger(offset)
        self.buffer.writeInteger(UInt16(count))
        let dataStart = self.buffer.writerIndex
        do {
            try source.read(offset: offset, count: count, into: &self.buffer)
        } catch {
            throw FerryUDPError(.ioError, reason: "reading the file failed: \(error)")
        }
        guard self.buffer.writerIndex - dataStart == count else {
            throw FerryUDPError(.ioError, reason: "the file is shorter than announced")
        }
        self.isEmpty = false
        self.isAckEliciting = true
        self.sentFrames.append(.stream(offset..<(offset + UInt64(count))))
    }

    /// Pads with PADDING frames up to `size` bytes in total (or the limit).
    mutating func pad(to size: Int) {
        let target = min(size, self.limit)
        if self.size < target {
            self.append(.padding(length: target - self.size))
        }
    }
}

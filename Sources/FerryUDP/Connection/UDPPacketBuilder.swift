import NIOCore

/// Assembles one outgoing datagram: a header, then frames while they fit, remembering what each
/// packet carried for loss recovery.
struct UDPPacketBuilder {
    private(set) var buffer: ByteBuffer
    /// The datagram's size limit.
    let limit: Int
    /// The packet number in the header.
    let packetNumber: UInt64
    /// What to resend if this packet is lost.
    private(set) var sentFrames: [SentFrame] = []
    /// Whether an ack-eliciting frame was added.
    private(set) var isAckEliciting = false

    init(header: UDPPacketHeader, limit: Int, allocator: ByteBufferAllocator) {
        self.buffer = allocator.buffer(capacity: limit)
        self.limit = limit
        self.packetNumber = header.packetNumber
        self.buffer.writeUDPPacketHeader(header)
    }

    /// The bytes still free.
    var remaining: Int {
        self.limit - self.buffer.readableBytes
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

    /// Pads with PADDING frames up to `size` bytes in total (or the limit).
    mutating func pad(to size: Int) {
        let target = min(size, self.limit)
        if self.buffer.readableBytes < target {
            self.append(.padding(length: target - self.buffer.readableBytes))
        }
    }
}

import NIOCore

/// A decoded Ferry UDP datagram: its header and its frames (PADDING included).
public struct UDPPacket: Hashable, Sendable {
    /// The header.
    public var header: UDPPacketHeader
    /// The frames in order of appearance; empty for RETRY.
    public var frames: [UDPFrame]

    /// Creates a packet.
    public init(header: UDPPacketHeader, frames: [UDPFrame]) {
        self.header = header
        self.frames = frames
    }

    /// Whether any frame obliges the receiver to acknowledge the packet.
    public var isAckEliciting: Bool {
        self.frames.contains { $0.isAckEliciting }
    }

    /// Decodes a whole datagram.
    ///
    /// - Throws: ``FerryUDPError`` (`frameEncodingError`) when any part is malformed, when the
    ///   datagram exceeds ``UDPWireLimits/maximumDatagramSize``, or when a non-RETRY packet has no
    ///   frames. Nothing from a malformed datagram may be used.
    public init(decoding datagram: ByteBuffer) throws {
        guard datagram.readableBytes <= UDPWireLimits.maximumDatagramSize else {
            throw FerryUDPError.malformed("datagram too large")
        }
        var buffer = datagram
        self.header = try buffer.readUDPPacketHeader()
        var frames: [UDPFrame] = []
        while let frame = try buffer.readUDPFrame() {
            frames.append(frame)
        }
        guard self.header.type == .retry || !frames.isEmpty else {
            throw FerryUDPError.malformed("packet without frames")
        }
        self.frames = frames
    }

    /// The encoded size in bytes.
    public var encodedLength: Int {
        self.frames.reduce(self.header.encodedLength) { $0 + $1.encodedLength }
    }

    /// Encodes the packet into a new buffer.
    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: self.encodedLength)
        buffer.writeUDPPacketHeader(self.header)
        for frame in self.frames {
            buffer.writeUDPFrame(frame)
        }
        return buffer
    }
}

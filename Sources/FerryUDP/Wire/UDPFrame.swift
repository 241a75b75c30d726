import NIOCore

/// The type byte that starts every frame.
public enum UDPFrameType: UInt8, Hashable, Sendable {
    /// PADDING: a run of zero bytes.
    case padding = 0x00
    /// PING: asks for an acknowledgement.
    case ping = 0x01
    /// ACK: acknowledged packet-number ranges.
    case ack = 0x02
    /// STREAM: file bytes at an offset.
    case stream = 0x03
    /// MAX_DATA: flow-control credit.
    case maxData = 0x04
    /// REQUEST: the client's file request.
    case request = 0x05
    /// RESPONSE: the server's description of the file.
    case response = 0x06
    /// DONE: the receiver has every byte.
    case done = 0x07
    /// CLOSE: the connection ends.
    case close = 0x08
}

/// One frame of a Ferry UDP packet. A packet's frames run to the end of its datagram.
///
/// ```
/// PADDING  0x00                                   (a run of zero bytes; decoded as one frame)
/// PING     0x01                                   (asks for an acknowledgement)
/// ACK      0x02 delay:u32 count:u8 {largest:u64 smallest:u64}×count        — see UDPAckFrame
/// STREAM   0x03 offset:u64 length:u16 data[length]                         — see UDPStreamFrame
/// MAX_DATA 0x04 maximum offset:u64
/// REQUEST  0x05 start:u64 end:u64 nameLength:u16 name[nameLength]          — see UDPRequestFrame
/// RESPONSE 0x06 size:u64 start:u64 end:u64 sha256hex[64]                    — see UDPResponseFrame
/// DONE     0x07 final offset:u64
/// CLOSE    0x08 code:u16 reasonLength:u8 reason[reasonLength]              — see UDPCloseFrame
/// ```
///
/// MAX_DATA (receiver → sender) grants credit: the sender may send bytes below that offset. It only
/// ever grows; a smaller value is ignored. DONE (receiver → sender) confirms that every byte below its
/// final offset has arrived. Every frame except PADDING, ACK and CLOSE is *ack-eliciting*.
public enum UDPFrame: Hashable, Sendable {
    /// `length` zero bytes.
    case padding(length: Int)
    /// Elicits an acknowledgement.
    case ping
    /// Acknowledges packets.
    case ack(UDPAckFrame)
    /// File bytes at an offset.
    case stream(UDPStreamFrame)
    /// Flow-control credit: the sender may send bytes below this offset.
    case maxData(UInt64)
    /// The client's file request.
    case request(UDPRequestFrame)
    /// The server's acceptance and the file's description.
    case response(UDPResponseFrame)
    /// The receiver has every byte below this offset.
    case done(finalOffset: UInt64)
    /// The connection ends.
    case close(UDPCloseFrame)

    /// Whether the frame obliges its receiver to acknowledge the packet.
    public var isAckEliciting: Bool {
        switch self {
        case .padding, .ack, .close: false
        case .ping, .stream, .maxData, .request, .response, .done: true
        }
    }

    /// The encoded size in bytes.
    public var encodedLength: Int {
        switch self {
        case .padding(let length): length
        case .ping: 1
        case .ack(let frame): frame.encodedLength
        case .stream(let frame): frame.encodedLength
        case .maxData, .done: 1 + 8
        case .request(let frame): frame.encodedLength
        case .response: UDPResponseFrame.encodedLength
        case .close(let frame): frame.encodedLength
        }
    }
}

extension ByteBuffer {
    /// Reads the next frame of a packet, or returns `nil` when the packet has no bytes left.
    ///
    /// - Throws: ``FerryUDPError`` with code `frameEncodingError` on an unknown type, a truncated
    ///   frame or a field out of bounds. The whole packet must then be dropped.
    public mutating func readUDPFrame() throws -> UDPFrame? {
        guard let rawType = self.readInteger(as: UInt8.self) else {
            return nil
        }
        guard let type = UDPFrameType(rawValue: rawType) else {
            throw FerryUDPError.malformed("unknown frame type 0x\(String(rawType, radix: 16))")
        }
        switch type {
        case .padding:
            var length = 1
            while self.getInteger(at: self.readerIndex, as: UInt8.self) == 0 {
                self.moveReaderIndex(forwardBy: 1)
                length += 1
            }
            return .padding(length: length)
        case .ping:
            return .ping
        case .ack:
            return .ack(try self.readUDPAckFrameBody())
        case .stream:
            return .stream(try self.readUDPStreamFrameBody())
        case .maxData:
            guard let offset = self.readInteger(as: UInt64.self) else {
                throw FerryUDPError.malformed("truncated MAX_DATA")
            }
            return .maxData(offset)
        case .request:
            return .request(try self.readUDPRequestFrameBody())
        case .response:
            return .response(try self.readUDPResponseFrameBody())
        case .done:
            guard let offset = self.readInteger(as: UInt64.self) else {
                throw FerryUDPError.malformed("truncated DONE")
            }
            return .done(finalOffset: offset)
        case .close:
            return .close(try self.readUDPCloseFrameBody())
        }
    }

    /// Writes a frame and returns the number of bytes written.
    @discardableResult
    public mutating func writeUDPFrame(_ frame: UDPFrame) -> Int {
        switch frame {
        case .padding(let length):
            return self.writeRepeatingByte(0, count: length)
        case .ping:
            return self.writeInteger(UDPFrameType.ping.rawValue)
        case .ack(let ack):
            return self.writeUDPAckFrame(ack)
        case .stream(let stream):
            return self.writeUDPStreamFrame(stream)
        case .maxData(let offset):
            return self.writeInteger(UDPFrameType.maxData.rawValue) + self.writeInteger(offset)
        case .request(let request):
            return self.writeUDPRequestFrame(request)
        case .response(let response):
            return self.writeUDPResponseFrame(response)
        case .done(let offset):
            return self.writeInteger(UDPFrameType.done.rawValue) + self.writeInteger(offset)
        case .close(let close):
            return self.writeUDPCloseFrame(close)
        }
    }
}

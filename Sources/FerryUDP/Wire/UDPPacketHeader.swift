import NIOCore

/// The kind of a Ferry UDP packet, the second byte of every datagram.
public enum UDPPacketType: UInt8, Hashable, Sendable {
    /// Client to server, before the server's connection ID is known; padded to 1200 bytes.
    case initial = 0x01
    /// Server to client, stateless: carries the address-validation cookie.
    case retry = 0x02
    /// Either direction once the connection exists.
    case transfer = 0x03
}

/// The header that starts every Ferry UDP datagram.
///
/// ```
/// INITIAL (client → server)              RETRY (server → client)     TRANSFER (both ways)
///  0       1       2..9    10..17         0     1     2..9  10..17    0     1     2..9  10..17  18..25
/// +-------+-------+-------+-------+      +-----+-----+-----+-----+   +-----+-----+-----+-----+-------+
/// | magic | 0x01  | dest  | src   |      |magic| 0x02| dest| src |   |magic| 0x03| dest| src | pkt # |
/// | 0xF1  |       | CID=0 | CID   |      | 0xF1|     | CID | CID=0   | 0xF1|     | CID | CID | u64   |
/// +-------+-------+-------+-------+      +-----+-----+-----+-----+   +-----+-----+-----+-----+-------+
/// | token len u8 (0…64) | token … |      | token len u8 (1…64)   |   | frames … to the end of the     |
/// +---------------------+---------+      | token …               |   | datagram                       |
/// | packet number u64             |      +-----------------------+   +--------------------------------+
/// +-------------------------------+
/// | frames …, PADDING to ≥ 1200 B |
/// +-------------------------------+
/// ```
///
/// All integers are big-endian. Connection IDs are 8 bytes. Packet numbers start at 0 and grow by one
/// for every packet an endpoint sends (a retransmission is a new packet with a new number). A RETRY
/// has no packet number and no frames: its token ends the datagram.
public struct UDPPacketHeader: Hashable, Sendable {
    /// The packet kind.
    public var type: UDPPacketType
    /// The connection ID chosen by the receiver of this packet (zero in INITIAL).
    public var destinationID: UDPConnectionID
    /// The connection ID chosen by the sender of this packet (zero in RETRY and stateless replies).
    public var sourceID: UDPConnectionID
    /// The address-validation token (INITIAL: may be empty; RETRY: the cookie; TRANSFER: always empty).
    public var token: [UInt8]
    /// The packet number (INITIAL and TRANSFER; zero in RETRY).
    public var packetNumber: UInt64

    /// Creates a header; `token` is ignored for TRANSFER packets and `packetNumber` for RETRY.
    public init(
        type: UDPPacketType,
        destinationID: UDPConnectionID,
        sourceID: UDPConnectionID,
        token: [UInt8] = [],
        packetNumber: UInt64 = 0
    ) {
        precondition(token.count <= UDPWireLimits.maximumTokenLength, "token too long")
        self.type = type
        self.destinationID = destinationID
        self.sourceID = sourceID
        self.token = type == .transfer ? [] : token
        self.packetNumber = type == .retry ? 0 : packetNumber
    }

    /// The number of bytes ``ByteBuffer/writeUDPPacketHeader(_:)`` writes for this header.
    public var encodedLength: Int {
        switch self.type {
        case .initial: Self.fixedLength + 1 + self.token.count + 8
        case .retry: Self.fixedLength + 1 + self.token.count
        case .transfer: Self.fixedLength + 8
        }
    }

    /// Magic, type and the two connection IDs.
    static let fixedLength = 1 + 1 + 8 + 8

    /// The header length of a TRANSFER packet.
    public static let transferHeaderLength = Self.fixedLength + 8

    /// Reads the destination connection ID of a Ferry datagram without consuming it, or `nil` when
    /// the bytes are not a Ferry packet. Lets a driver route a datagram before decoding it.
    public static func peekDestinationID(in datagram: ByteBuffer) -> UDPConnectionID? {
        let start = datagram.readerIndex
        guard datagram.readableBytes >= Self.fixedLength,
            datagram.getInteger(at: start, as: UInt8.self) == UDPWireLimits.magic,
            let raw = datagram.getInteger(at: start + 2, as: UInt64.self)
        else {
            return nil
        }
        return UDPConnectionID(rawValue: raw)
    }
}

extension ByteBuffer {
    /// Reads a packet header, leaving the reader index at the first frame (or past a RETRY's token).
    ///
    /// - Throws: ``FerryUDPError`` with code `frameEncodingError` when the bytes are not a valid header;
    ///   the reader index is then unspecified and the datagram must be dropped.
    public mutating func readUDPPacketHeader() throws -> UDPPacketHeader {
        guard let magic = self.readInteger(as: UInt8.self), magic == UDPWireLimits.magic else {
            throw FerryUDPError.malformed("not a Ferry UDP datagram")
        }
        guard let rawType = self.readInteger(as: UInt8.self), let type = UDPPacketType(rawValue: rawType) else {
            throw FerryUDPError.malformed("unknown packet type")
        }
        guard let destination = self.readInteger(as: UInt64.self),
            let source = self.readInteger(as: UInt64.self)
        else {
            throw FerryUDPError.malformed("truncated header")
        }
        var token: [UInt8] = []
        if type != .transfer {
            guard let length = self.readInteger(as: UInt8.self), Int(length) <= UDPWireLimits.maximumTokenLength,
                let bytes = self.readBytes(length: Int(length))
            else {
                throw FerryUDPError.malformed("bad token")
            }
            token = bytes
        }
        var packetNumber: UInt64 = 0
        if type != .retry {
            guard let number = self.readInteger(as: UInt64.self) else {
                throw FerryUDPError.malformed("truncated packet number")
            }
            packetNumber = number
        } else if token.isEmpty || self.readableBytes != 0 {
            throw FerryUDPError.malformed("bad RETRY")
        }
        return UDPPacketHeader(
            type: type,
            destinationID: UDPConnectionID(rawValue: destination),
            sourceID: UDPConnectionID(rawValue: source),
            token: token,
            packetNumber: packetNumber
        )
    }

    /// Writes a packet header and returns the number of bytes written.
    @discardableResult
    public mutating func writeUDPPacketHeader(_ header: UDPPacketHeader) -> Int {
        var written = self.writeInteger(UDPWireLimits.magic)
        written += self.writeInteger(header.type.rawValue)
        written += self.writeInteger(header.destinationID.rawValue)
        written += self.writeInteger(header.sourceID.rawValue)
        if header.type != .transfer {
            written += self.writeInteger(UInt8(header.token.count))
            written += self.writeBytes(header.token)
        }
        if header.type != .retry {
            written += self.writeInteger(header.packetNumber)
        }
        return written
    }
}

import NIOCore

/// A STREAM frame: file bytes addressed by their absolute offset in the file.
///
/// ```
///  0      1..8           9..10        11…
/// +------+--------------+------------+----------------+
/// | 0x03 | offset u64   | length u16 | length bytes … |
/// +------+--------------+------------+----------------+
/// ```
///
/// `offset + length` never exceeds 2^64 − 1. A zero-length frame is valid but carries nothing.
public struct UDPStreamFrame: Hashable, Sendable {
    /// The file offset of the first byte of ``data``.
    public var offset: UInt64
    /// The bytes.
    public var data: ByteBuffer

    /// Creates a frame; `data` must fit a 16-bit length.
    public init(offset: UInt64, data: ByteBuffer) {
        precondition(data.readableBytes <= Int(UInt16.max), "STREAM data too long")
        self.offset = offset
        self.data = data
    }

    /// The offset one past the last byte.
    public var endOffset: UInt64 {
        self.offset + UInt64(self.data.readableBytes)
    }

    /// The encoded size of the frame's fields before its data.
    public static let overhead = 1 + 8 + 2

    /// The encoded size in bytes.
    public var encodedLength: Int {
        Self.overhead + self.data.readableBytes
    }
}

extension ByteBuffer {
    /// Reads the body of a STREAM frame (after its type byte); the data is a slice, not a copy.
    mutating func readUDPStreamFrameBody() throws -> UDPStreamFrame {
        guard let offset = self.readInteger(as: UInt64.self), let length = self.readInteger(as: UInt16.self) else {
            throw FerryUDPError.malformed("truncated STREAM")
        }
        guard UInt64(length) <= UInt64.max - offset else {
            throw FerryUDPError.malformed("STREAM offset overflows")
        }
        guard let data = self.readSlice(length: Int(length)) else {
            throw FerryUDPError.malformed("truncated STREAM data")
        }
        return UDPStreamFrame(offset: offset, data: data)
    }

    /// Writes a STREAM frame, type byte included; returns the number of bytes written.
    @discardableResult
    mutating func writeUDPStreamFrame(_ frame: UDPStreamFrame) -> Int {
        var written = self.writeInteger(UDPFrameType.stream.rawValue)
        written += self.writeInteger(frame.offset)
        written += self.writeInteger(UInt16(frame.data.readableBytes))
        written += self.writeImmutableBuffer(frame.data)
        return written
    }
}

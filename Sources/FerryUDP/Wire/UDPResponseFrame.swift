import NIOCore

/// A RESPONSE frame: the server accepts a REQUEST and describes the file.
///
/// ```
///  0      1..8            9..16        17..24       25..88
/// +------+---------------+------------+------------+----------------------------------+
/// | 0x06 | file size u64 | start u64  | end u64    | SHA-256 of the whole file,       |
/// |      |               |            |            | 64 lowercase hex ASCII bytes     |
/// +------+---------------+------------+------------+----------------------------------+
/// ```
///
/// `start ≤ end ≤ file size`: the bytes `start..<end` will follow in STREAM frames. The digest covers
/// the whole file, so a resumed download can still be verified end to end.
public struct UDPResponseFrame: Hashable, Sendable {
    /// The size of the whole file.
    public var fileSize: UInt64
    /// The first byte that will be sent.
    public var start: UInt64
    /// One past the last byte that will be sent.
    public var end: UInt64
    /// SHA-256 of the whole file, 64 lowercase hexadecimal characters.
    public var sha256Hex: String

    /// Creates a response; the range must fit the file and the digest must be 64 lowercase hex digits.
    public init(fileSize: UInt64, start: UInt64, end: UInt64, sha256Hex: String) {
        precondition(start <= end && end <= fileSize, "RESPONSE range does not fit the file")
        precondition(Self.isValidDigest(sha256Hex), "RESPONSE digest must be 64 lowercase hex digits")
        self.fileSize = fileSize
        self.start = start
        self.end = end
        self.sha256Hex = sha256Hex
    }

    /// Whether `hex` is 64 lowercase hexadecimal ASCII characters.
    public static func isValidDigest(_ hex: String) -> Bool {
        hex.utf8.count == UDPWireLimits.sha256HexLength && hex.utf8.allSatisfy(Self.isLowercaseHexDigit)
    }

    static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f"))
    }

    /// The encoded size in bytes.
    public static let encodedLength = 1 + 8 + 8 + 8 + UDPWireLimits.sha256HexLength
}

extension ByteBuffer {
    /// Reads the body of a RESPONSE frame (after its type byte).
    mutating func readUDPResponseFrameBody() throws -> UDPResponseFrame {
        guard let size = self.readInteger(as: UInt64.self), let start = self.readInteger(as: UInt64.self),
            let end = self.readInteger(as: UInt64.self),
            let digest = self.readBytes(length: UDPWireLimits.sha256HexLength)
        else {
            throw FerryUDPError.malformed("truncated RESPONSE")
        }
        guard start <= end, end <= size else {
            throw FerryUDPError.malformed("RESPONSE range does not fit the file")
        }
        guard digest.allSatisfy(UDPResponseFrame.isLowercaseHexDigit) else {
            throw FerryUDPError.malformed("RESPONSE digest is not lowercase hex")
        }
        return UDPResponseFrame(
            fileSize: size,
            start: start,
            end: end,
            sha256Hex: String(decoding: digest, as: UTF8.self)
        )
    }

    /// Writes a RESPONSE frame, type byte included; returns the number of bytes written.
    @discardableResult
    mutating func writeUDPResponseFrame(_ frame: UDPResponseFrame) -> Int {
        var written = self.writeInteger(UDPFrameType.response.rawValue)
        written += self.writeInteger(frame.fileSize)
        written += self.writeInteger(frame.start)
        written += self.writeInteger(frame.end)
        written += self.writeString(frame.sha256Hex)
        return written
    }
}

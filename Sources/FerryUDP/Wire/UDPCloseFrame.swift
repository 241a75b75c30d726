import NIOCore

/// A CLOSE frame: the sender ends the connection, with an error code (``FerryUDPError/Code``).
///
/// ```
///  0      1..2            3                4…
/// +------+---------------+----------------+---------------------+
/// | 0x08 | error code u16| reason len u8  | reason, UTF-8 …     |
/// |      |               | 0…128          |                     |
/// +------+---------------+----------------+---------------------+
/// ```
///
/// Code `0x0000` (`noError`) after DONE means the transfer succeeded. CLOSE is not acknowledged: the
/// closing endpoint repeats it in answer to further packets for a short while (three PTOs).
public struct UDPCloseFrame: Hashable, Sendable {
    /// Why the connection ends.
    public var code: FerryUDPError.Code
    /// Diagnostic text, at most 128 bytes of UTF-8.
    public var reason: String

    /// Creates a CLOSE frame; a longer reason is cut at a character boundary to fit 128 bytes.
    public init(code: FerryUDPError.Code, reason: String = "") {
        self.code = code
        var reason = reason
        while reason.utf8.count > UDPWireLimits.maximumReasonLength {
            reason.removeLast()
        }
        self.reason = reason
    }

    /// Creates the CLOSE frame reporting `error`.
    public init(_ error: FerryUDPError) {
        self.init(code: error.code, reason: error.reason)
    }

    /// The error this frame reports.
    public var error: FerryUDPError {
        FerryUDPError(self.code, reason: self.reason)
    }

    /// The encoded size in bytes.
    public var encodedLength: Int {
        1 + 2 + 1 + self.reason.utf8.count
    }
}

extension ByteBuffer {
    /// Reads the body of a CLOSE frame (after its type byte).
    mutating func readUDPCloseFrameBody() throws -> UDPCloseFrame {
        guard let code = self.readInteger(as: UInt16.self), let length = self.readInteger(as: UInt8.self) else {
            throw FerryUDPError.malformed("truncated CLOSE")
        }
        guard Int(length) <= UDPWireLimits.maximumReasonLength, let bytes = self.readBytes(length: Int(length)) else {
            throw FerryUDPError.malformed("bad CLOSE reason length")
        }
        guard let reason = String(validating: bytes, as: UTF8.self) else {
            throw FerryUDPError.malformed("CLOSE reason is not UTF-8")
        }
        return UDPCloseFrame(code: FerryUDPError.Code(rawValue: code), reason: reason)
    }

    /// Writes a CLOSE frame, type byte included; returns the number of bytes written.
    @discardableResult
    mutating func writeUDPCloseFrame(_ frame: UDPCloseFrame) -> Int {
        var written = self.writeInteger(UDPFrameType.close.rawValue)
        written += self.writeInteger(frame.code.rawValue)
        written += self.writeInteger(UInt8(frame.reason.utf8.count))
        written += self.writeString(frame.reason)
        return written
    }
}

import NIOCore

/// A REQUEST frame: the client asks for `name`, from byte `start` up to (not including) `end`.
///
/// ```
///  0      1..8          9..16        17..18          19…
/// +------+-------------+------------+---------------+-------------------+
/// | 0x05 | start u64   | end u64    | name len u16  | name, UTF-8 …     |
/// |      |             | FF…FF=EOF  | 1…512         |                   |
/// +------+-------------+------------+---------------+-------------------+
/// ```
///
/// A nonzero `start` resumes an earlier partial download. `end` = 2^64 − 1 means "to the end of the
/// file". The name must be valid UTF-8 without NUL; whether it names a servable file is the
/// server's decision (it answers `badName`, `notFound` or `badRange` in a CLOSE).
public struct UDPRequestFrame: Hashable, Sendable {
    /// The file's name as shared by the server.
    public var name: String
    /// The first byte wanted.
    public var start: UInt64
    /// One past the last byte wanted, or ``UDPWireLimits/toEndOfFile``.
    public var end: UInt64

    /// Creates a request; the name must satisfy ``isValidName(_:)``.
    public init(name: String, start: UInt64 = 0, end: UInt64 = UDPWireLimits.toEndOfFile) {
        precondition(Self.isValidName(name), "invalid file name for a REQUEST")
        self.name = name
        self.start = start
        self.end = end
    }

    /// Whether `name` can travel in a REQUEST: 1…512 bytes of UTF-8 with no NUL.
    public static func isValidName(_ name: String) -> Bool {
        let count = name.utf8.count
        return count >= 1 && count <= UDPWireLimits.maximumNameLength && !name.utf8.contains(0)
    }

    /// The encoded size in bytes.
    public var encodedLength: Int {
        1 + 8 + 8 + 2 + self.name.utf8.count
    }
}

extension ByteBuffer {
    /// Reads the body of a REQUEST frame (after its type byte).
    mutating func readUDPRequestFrameBody() throws -> UDPRequestFrame {
        guard let start = self.readInteger(as: UInt64.self), let end = self.readInteger(as: UInt64.self),
            let length = self.readInteger(as: UInt16.self)
        else {
            throw FerryUDPError.malformed("truncated REQUEST")
        }
        guard length >= 1, Int(length) <= UDPWireLimits.maximumNameLength else {
            throw FerryUDPError.malformed("REQUEST name length \(length) out of bounds")
        }
        guard let bytes = self.readBytes(length: Int(length)) else {
            throw FerryUDPError.malformed("truncated REQUEST name")
        }
        guard !bytes.contains(0), let name = String(validating: bytes, as: UTF8.self) else {
            throw FerryUDPError.malformed("REQUEST name is not UTF-8 text")
        }
        return UDPRequestFrame(name: name, start: start, end: end)
    }

    /// Writes a REQUEST frame, type byte included; returns the number of bytes written.
    @discardableResult
    mutating func writeUDPRequestFrame(_ frame: UDPRequestFrame) -> Int {
        var written = self.writeInteger(UDPFrameType.request.rawValue)
        written += self.writeInteger(frame.start)
        written += self.writeInteger(frame.end)
        written += self.writeInteger(UInt16(frame.name.utf8.count))
        written += self.writeString(frame.name)
        return written
    }
}

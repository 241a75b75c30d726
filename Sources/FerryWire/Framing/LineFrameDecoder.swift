import NIOCore

/// One frame of a line protocol: a line of text, or the news that the peer broke the line rules.
public enum LineFrame: Sendable, Equatable {
    /// A complete line, without its `\n` (and without a `\r` before it).
    case line(String)
    /// A line that was not accepted. The decoder has skipped it and goes on with the next line.
    case invalid(LineFrameError)
}

/// Why a line was not accepted.
public enum LineFrameError: Error, Sendable, Equatable {
    /// The line was longer than the limit; its bytes were discarded up to the next `\n`.
    case tooLong(limit: Int)
    /// The line held a NUL byte.
    case containsNUL
    /// The line was not valid UTF-8.
    case notUTF8
}

/// Splits a byte stream into lines ended by `\n` (an optional `\r` before it is dropped), refusing
/// lines longer than a limit without closing the connection:
///
/// ```
/// +-------------------------------+----+      +----------------------- … ---------+----+
/// | up to maximumLineLength bytes | \n |  ->  | over the limit: reported once as  | \n |
/// +-------------------------------+----+      | .invalid(.tooLong), then skipped  |    |
///                                             +----------------------- … ---------+----+
/// ```
///
/// Memory stays bounded: while skipping an over-long line the decoder keeps no bytes. A partial last
/// line when the stream ends is dropped.
public struct LineFrameDecoder: ByteToMessageDecoder, NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = LineFrame

    /// The longest line accepted, in bytes, not counting the `\n`.
    public let maximumLineLength: Int
    private var discarding = false
    private var searchedBytes = 0

    public init(maximumLineLength: Int) {
        precondition(maximumLineLength > 0, "a line limit must be positive")
        self.maximumLineLength = maximumLineLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> LineFrame? {
        while true {
            let view = buffer.readableBytesView
            let searchStart = view.startIndex + searchedBytes
            guard let newline = view[searchStart...].firstIndex(of: UInt8(ascii: "\n")) else {
                return try noNewlineYet(&buffer)
            }
            let length = newline - view.startIndex
            searchedBytes = 0
            if discarding {
                // The rest of an over-long line, already reported: skip it and look at the next line.
                discarding = false
                buffer.moveReaderIndex(forwardBy: length + 1)
                continue
            }
            let endsWithCR = length > 0 && view[newline - 1] == UInt8(ascii: "\r")
            if length - (endsWithCR ? 1 : 0) > maximumLineLength {
                buffer.moveReaderIndex(forwardBy: length + 1)
                return .invalid(.tooLong(limit: maximumLineLength))
            }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if endsWithCR {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            return Self.frame(from: line)
        }
    }

    private mutating func noNewlineYet(_ buffer: inout ByteBuffer) throws -> LineFrame? {
        if discarding {
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            searchedBytes = 0
            return nil
        }
        if buffer.readableBytes > maximumLineLength + 1 {
            // Even a `\r\n` ending cannot make this line fit: report it now and skip to the newline.
            discarding = true
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            searchedBytes = 0
            return .invalid(.tooLong(limit: maximumLineLength))
        }
        searchedBytes = buffer.readableBytes
        return nil
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> LineFrame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        // A partial line at the end of the stream is not a line: drop it.
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        searchedBytes = 0
        return nil
    }

    private static func frame(from line: ByteBuffer) -> LineFrame {
        line.withUnsafeReadableBytes { raw in
            let bytes = raw.assumingMemoryBound(to: UInt8.self)
            // One pass finds a NUL and whether the line is ASCII, which is valid UTF-8 as it is (most
            // lines are); only the others are validated.
            var ascii = true
            for byte in bytes {
                if byte == 0 { return .invalid(.containsNUL) }
                if byte >= 0x80 { ascii = false }
            }
            if ascii { return .line(String(decoding: bytes, as: UTF8.self)) }
            guard let text = String(validating: bytes, as: UTF8.self) else { return .invalid(.notUTF8) }
            return .line(text)
        }
    }
}

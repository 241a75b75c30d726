import FerryWire
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stops the fuzzer with a finding: libFuzzer records the input that led here as a crash.
public func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    fuzzFail("fuzz invariant broken at \(file):\(line): \(message())")
}

/// Prints `message` on standard error and aborts.
public func fuzzFail(_ message: String) -> Never {
    var text = message + "\n"
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    abort()
}

/// The bytes of one fuzz input, copied out of libFuzzer's buffer.
public func fuzzBytes(_ start: UnsafePointer<UInt8>?, _ count: Int) -> [UInt8] {
    guard let start, count > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: start, count: count))
}

/// Splits a stream into the reads a socket could deliver: sizes drawn from `seed`, 1 to 64 bytes.
public func chunks(of bytes: ArraySlice<UInt8>, seed: UInt8) -> [ArraySlice<UInt8>] {
    var result: [ArraySlice<UInt8>] = []
    var state = UInt32(seed) &* 2_654_435_761 &+ 1
    var start = bytes.startIndex
    while start < bytes.endIndex {
        state = state &* 1_103_515_245 &+ 12_345
        let size = seed == 0 ? bytes.count : Int((state >> 16) % 64) + 1
        let end = min(bytes.endIndex, start + size)
        result.append(bytes[start..<end])
        start = end
    }
    return result
}

/// Runs `LineFrameDecoder` over a stream delivered in `pieces`, as `ByteToMessageHandler` does
/// (decode until it needs more bytes after each read, then `decodeLast` at the end of the stream).
public func lineFrames(of pieces: [ArraySlice<UInt8>], maximumLineLength: Int) -> [LineFrame] {
    var decoder = LineFrameDecoder(maximumLineLength: maximumLineLength)
    var buffer = ByteBuffer()
    var frames: [LineFrame] = []
    do {
        for piece in pieces {
            buffer.writeBytes(piece)
            while let frame = try decoder.decode(buffer: &buffer) {
                frames.append(frame)
            }
            buffer.discardReadBytes()
        }
        while let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
            frames.append(frame)
        }
    } catch {
        fuzzCheck(false, "LineFrameDecoder threw \(error)")
    }
    return frames
}

/// Decodes `stream` whole and in the pieces `seed` draws, checks that both give the same frames and
/// that every line obeys the framing rules, and returns the frames.
public func checkedLineFrames(of stream: ArraySlice<UInt8>, seed: UInt8, maximumLineLength: Int) -> [LineFrame] {
    let whole = lineFrames(of: [stream], maximumLineLength: maximumLineLength)
    let split = lineFrames(of: chunks(of: stream, seed: seed), maximumLineLength: maximumLineLength)
    fuzzCheck(whole == split, "frames differ when the stream is split: \(whole) vs \(split)")
    for frame in whole {
        if case .line(let line) = frame {
            fuzzCheck(line.utf8.count <= maximumLineLength, "line of \(line.utf8.count) bytes over the limit \(maximumLineLength)")
            fuzzCheck(!line.utf8.contains(0) && !line.utf8.contains(UInt8(ascii: "\n")), "line holds NUL or newline")
        }
    }
    return whole
}

/// Whether a line can go on the wire as one line that the receiver reads back unchanged: no NUL, no
/// `\n`, and no `\r` at its end (the framing drops one there). A `\r` inside a line is harmless.
public func isOneWireLine(_ text: String) -> Bool {
    !text.utf8.contains(0) && !text.utf8.contains(UInt8(ascii: "\n")) && text.utf8.last != UInt8(ascii: "\r")
}

/// The line a tracker sends for a refused request, when `error` is a tracker protocol error.
public func trackerReplyLine(of error: any Error) -> String? {
    (error as? TrackerProtocolError)?.replyLine.line
}

/// `error` as a file-server refusal, when it is one.
public func fileProtocolError(_ error: any Error) -> FileProtocolError? {
    error as? FileProtocolError
}

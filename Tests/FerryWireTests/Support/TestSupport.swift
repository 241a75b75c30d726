import FerryTestSupport
import FerryWire
import NIOCore

/// Pieces that random names are built from: ASCII, the protocol's special characters, and Unicode of
/// every UTF-8 length, combining marks and emoji sequences.
let namePieces: [String] = [
    "a", "b", "Z", "0", "9", ".", "-", "_", " ", ",", "\"", "'", "*", "?", "%", "#", "[", "]",
    "é", "e\u{301}", "ß", "Ω", "日本", "语", "🚀", "👩‍👩‍👧", "🇫🇷", "\u{200B}", "\u{FEFF}", "\u{00A0}", "\u{2028}",
]

/// A random valid shared-file name, at most `maximumPieces` pieces long.
func randomValidName(using generator: inout SeededGenerator, maximumPieces: Int = 24) -> SharedFileName {
    while true {
        let count = Int.random(in: 1...maximumPieces, using: &generator)
        let text = (0..<count).map { _ in namePieces.randomElement(using: &generator)! }.joined()
        if let name = SharedFileName(text) { return name }
    }
}

/// A random string of any scalars a line may hold (no `\n`, `\r` or NUL), including backslashes,
/// quotes, commas, tabs and control characters.
func randomLineSafeText(using generator: inout SeededGenerator, maximumPieces: Int = 16) -> String {
    let extra = ["\\", "\\\\", "\\\"", "\t", "\u{1}", "\u{7F}", "\u{85}", "\u{1B}[31m", ", ", "\"\""]
    let pool = namePieces + extra
    let count = Int.random(in: 0...maximumPieces, using: &generator)
    return (0..<count).map { _ in pool.randomElement(using: &generator)! }.joined()
}

func randomDigest(using generator: inout SeededGenerator) -> ContentDigest {
    ContentDigest(bytes: generator.bytes(ContentDigest.byteCount))!
}

/// A digest whose 32 bytes are all `byte`.
func digest(repeating byte: UInt8) -> ContentDigest {
    ContentDigest(bytes: [UInt8](repeating: byte, count: ContentDigest.byteCount))!
}

extension String {
    /// The Unicode scalars, for comparisons that must not treat canonically equivalent strings as equal.
    var scalarValues: [UInt32] { unicodeScalars.map(\.value) }
}

/// Feeds bytes to a `LineFrameDecoder` through NIO's own single-step processor, exactly as a
/// `ByteToMessageHandler` would in a channel, and records every frame.
final class FrameCollector {
    let processor: NIOSingleStepByteToMessageProcessor<LineFrameDecoder>
    private(set) var frames: [LineFrame] = []
    /// The most bytes the processor held back after any `feed`.
    private(set) var mostUnprocessedBytes = 0

    init(limit: Int) {
        processor = NIOSingleStepByteToMessageProcessor(LineFrameDecoder(maximumLineLength: limit))
    }

    func feed(_ bytes: some Sequence<UInt8>) throws {
        try processor.process(buffer: ByteBuffer(bytes: Array(bytes))) { frames.append($0) }
        mostUnprocessedBytes = max(mostUnprocessedBytes, processor.unprocessedBytes)
    }

    func finish() throws {
        try processor.finishProcessing(seenEOF: true) { frames.append($0) }
    }

    /// The frames of `input` fed in one piece, then the end of the stream.
    static func frames(of input: [UInt8], limit: Int) throws -> [LineFrame] {
        let collector = FrameCollector(limit: limit)
        try collector.feed(input)
        try collector.finish()
        return collector.frames
    }

    /// The frames of `input` fed in pieces cut at `cuts` (sorted offsets), then the end of the stream.
    static func frames(of input: [UInt8], cutAt cuts: [Int], limit: Int) throws -> (beforeEOF: [LineFrame], all: [LineFrame]) {
        let collector = FrameCollector(limit: limit)
        var start = 0
        for cut in cuts + [input.count] {
            try collector.feed(input[start..<cut])
            start = cut
        }
        let beforeEOF = collector.frames
        try collector.finish()
        return (beforeEOF, collector.frames)
    }

    /// The frames of `input` fed one byte at a time, then the end of the stream.
    static func framesByteByByte(of input: [UInt8], limit: Int) throws -> [LineFrame] {
        try frames(of: input, cutAt: Array(input.indices.dropFirst()), limit: limit).all
    }
}

/// The UTF-8 bytes of `text`.
func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

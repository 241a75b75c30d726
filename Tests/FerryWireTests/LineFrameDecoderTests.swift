import FerryTestSupport
import FerryWire
import NIOCore
import NIOTestUtils
import Testing

@Suite("LineFrameDecoder: lines, limits and bad bytes, however the bytes arrive")
struct LineFrameDecoderTests {
    static let limit = 16
    static let tooLong = LineFrame.invalid(.tooLong(limit: limit))

    /// What the decoder should produce for `input` fed whole and then closed, written independently of
    /// the decoder: complete lines only; a `\r` before `\n` dropped and not counted against the limit;
    /// a partial last line dropped unless it is already too long to ever fit (more than limit + 1
    /// bytes, room for a `\r`), in which case it is reported once.
    static func referenceFrames(_ input: [UInt8], limit: Int) -> [LineFrame] {
        var frames: [LineFrame] = []
        var start = 0
        while let newline = input[start...].firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(input[start..<newline])
            start = newline + 1
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.count > limit {
                frames.append(.invalid(.tooLong(limit: limit)))
                continue
            }
            if line.contains(0) {
                frames.append(.invalid(.containsNUL))
            } else if let text = String(validating: line, as: UTF8.self) {
                frames.append(.line(text))
            } else {
                frames.append(.invalid(.notUTF8))
            }
        }
        if input.count - start > limit + 1 { frames.append(.invalid(.tooLong(limit: limit))) }
        return frames
    }

    // MARK: NIO's verifier

    static let verifierPairs: [([UInt8], [LineFrame])] = [
        (utf8("hello\n"), [.line("hello")]),
        (utf8("\n"), [.line("")]),
        (utf8("crlf\r\n"), [.line("crlf")]),
        (utf8("\r\n"), [.line("")]),
        (utf8("two\r\r\n"), [.line("two\r")]),
        (utf8("a\rb\n"), [.line("a\rb")]),
        (utf8("  spaced  \n"), [.line("  spaced  ")]),
        (utf8("é日🚀\n"), [.line("é日🚀")]),
        (utf8("x\u{0}y\n"), [.invalid(.containsNUL)]),
        (utf8("\u{0}\r\n"), [.invalid(.containsNUL)]),
        ([0xFF, 0x0A], [.invalid(.notUTF8)]),
        ([0x61, 0xC3, 0x0A], [.invalid(.notUTF8)]),                 // truncated two-byte sequence
        ([0xED, 0xA0, 0x80, 0x0A], [.invalid(.notUTF8)]),           // UTF-16 surrogate
        ([0xC0, 0xAF, 0x0A], [.invalid(.notUTF8)]),                 // overlong encoding of "/"
        (utf8(String(repeating: "L", count: 16) + "\n"), [.line(String(repeating: "L", count: 16))]),
        (utf8(String(repeating: "L", count: 17) + "\n"), [Self.tooLong]),
        (utf8(String(repeating: "L", count: 18) + "\n"), [Self.tooLong]),
        (utf8(String(repeating: "L", count: 300) + "\n"), [Self.tooLong]),
        (utf8(String(repeating: "\u{0}", count: 40) + "\n"), [Self.tooLong]),
        (utf8("a\nb\n"), [.line("a"), .line("b")]),
        (utf8(String(repeating: "L", count: 40) + "\nafter\n"), [Self.tooLong, .line("after")]),
    ]

    @Test("ByteToMessageDecoderVerifier accepts the decoder")
    func verifier() throws {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: Self.verifierPairs.map { (ByteBuffer(bytes: $0.0), $0.1) },
            decoderFactory: { LineFrameDecoder(maximumLineLength: Self.limit) })
    }

    @Test("ByteToMessageDecoderVerifier accepts the decoder at the tracker's limit")
    func verifierAtTrackerLimit() throws {
        let limit = TrackerLimits.maximumLineLength
        let longest = String(repeating: "x", count: limit)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                ("PING\n", [.line("PING")]),
                (longest + "\n", [.line(longest)]),
                (longest + "y\n", [.invalid(.tooLong(limit: limit))]),
            ],
            decoderFactory: { LineFrameDecoder(maximumLineLength: limit) })
    }

    // MARK: whole inputs

    static let wholeInputs: [(String, [UInt8], [LineFrame])] = [
        ("empty stream", [], []),
        ("partial line dropped at the end", utf8("abc"), []),
        ("complete then partial", utf8("abc\ndef"), [.line("abc")]),
        ("empty lines", utf8("\n\n\r\n"), [.line(""), .line(""), .line("")]),
        ("only the last \\r is dropped", utf8("a\r\r\n"), [.line("a\r")]),
        ("a lone \\r is not a line end", utf8("a\rb"), []),
        ("tabs and spaces kept", utf8("\t a \t\n"), [.line("\t a \t")]),
        ("limit exactly", utf8(String(repeating: "z", count: 16) + "\n"), [.line(String(repeating: "z", count: 16))]),
        ("one over", utf8(String(repeating: "z", count: 17) + "\n"), [Self.tooLong]),
        ("over-long partial last line is reported", utf8(String(repeating: "z", count: 18)), [Self.tooLong]),
        ("partial last line of limit+1 bytes is dropped", utf8(String(repeating: "z", count: 17)), []),
        ("bad lines do not stop good ones",
         [0xFF, 0x0A] + utf8("ok\n") + [0x00, 0x0A] + utf8("ok2\n"),
         [.invalid(.notUTF8), .line("ok"), .invalid(.containsNUL), .line("ok2")]),
        ("two over-long lines, two reports",
         utf8(String(repeating: "a", count: 30) + "\n" + String(repeating: "b", count: 30) + "\nc\n"),
         [Self.tooLong, Self.tooLong, .line("c")]),
    ]

    @Test("whole inputs give the expected frames", arguments: wholeInputs)
    func wholeInput(_ label: String, _ input: [UInt8], _ expected: [LineFrame]) throws {
        #expect(try FrameCollector.frames(of: input, limit: Self.limit) == expected, "\(label)")
        #expect(Self.referenceFrames(input, limit: Self.limit) == expected, "the reference model disagrees: \(label)")
    }

    // MARK: splitting

    /// Streams whose lines all fit the tracker's limit: every complete line must come out as soon as its
    /// `\n` is in.
    static let wellFormedStreams: [[UInt8]] = [
        utf8("HELLO 5555 5556\nUPDATE 1\nFILE 3 \(String(repeating: "ab", count: 32)) \"a b.txt\"\nPING\n"),
        utf8("SEND \"a, b\", c\r\nLIST *.txt\r\n\r\nQUIT\n"),
        utf8("é\n日本\n🚀🚀🚀🚀\n") + [0xFF, 0xFE, 0x0A] + utf8("x\u{0}\n") + utf8("tail"),
    ]

    /// Streams with over-long lines among good ones.
    static let streamsWithOverlongLines: [[UInt8]] = [
        utf8(String(repeating: "A", count: 40) + "\nPING\n"),
        utf8("one\n" + String(repeating: "B", count: 17) + "\ntwo\n" + String(repeating: "C", count: 18) + "\r\nthree\n"),
        utf8(String(repeating: "D", count: 100) + "\n" + String(repeating: "E", count: 100) + "\nlast\n" + String(repeating: "F", count: 50)),
    ]

    @Test("split at every index: every complete line comes out before the end of the stream",
          arguments: wellFormedStreams)
    func splitAtEveryIndexWellFormed(_ input: [UInt8]) throws {
        let limit = TrackerLimits.maximumLineLength
        let whole = try FrameCollector.frames(of: input, limit: limit)
        #expect(whole == Self.referenceFrames(input, limit: limit))
        #expect(!whole.contains(.invalid(.tooLong(limit: limit))))
        for cut in 0...input.count {
            let result = try FrameCollector.frames(of: input, cutAt: [cut], limit: limit)
            #expect(result.beforeEOF == whole, "cut at \(cut)")
            #expect(result.all == whole, "cut at \(cut)")
        }
    }

    @Test("split at every index with over-long lines: the same frames as the whole input",
          arguments: streamsWithOverlongLines)
    func splitAtEveryIndexOverlong(_ input: [UInt8]) throws {
        let whole = try FrameCollector.frames(of: input, limit: Self.limit)
        #expect(whole == Self.referenceFrames(input, limit: Self.limit))
        #expect(whole.filter { $0 == Self.tooLong }.count >= 1)
        for cut in 0...input.count {
            #expect(try FrameCollector.frames(of: input, cutAt: [cut], limit: Self.limit).all == whole, "cut at \(cut)")
        }
    }

    @Test("split at every pair of indices: the same frames as the whole input",
          arguments: wellFormedStreams.prefix(1) + streamsWithOverlongLines.prefix(2))
    func splitAtEveryPairOfIndices(_ input: [UInt8]) throws {
        let whole = try FrameCollector.frames(of: input, limit: Self.limit)
        for first in 0...input.count {
            for second in first...input.count {
                #expect(try FrameCollector.frames(of: input, cutAt: [first, second], limit: Self.limit).all == whole,
                        "cuts at \(first), \(second)")
            }
        }
    }

    @Test("one byte at a time: the same frames as the whole input, each line as soon as it ends",
          arguments: wellFormedStreams + streamsWithOverlongLines)
    func byteByByte(_ input: [UInt8]) throws {
        let whole = try FrameCollector.frames(of: input, limit: Self.limit)
        let dripped = try FrameCollector.frames(of: input, cutAt: Array(input.indices.dropFirst()), limit: Self.limit)
        #expect(dripped.all == whole)
        #expect(dripped.beforeEOF == whole)
    }

    // MARK: over-long lines

    @Test("an over-long line arriving in many pieces is reported once, then the next line comes")
    func overlongInPieces() throws {
        let collector = FrameCollector(limit: Self.limit)
        for _ in 0..<50 { try collector.feed(utf8("0123456789")) }
        #expect(collector.frames == [Self.tooLong])
        try collector.feed(utf8("end of it"))
        try collector.feed(utf8("\n"))
        #expect(collector.frames == [Self.tooLong])
        try collector.feed(utf8("next\n"))
        #expect(collector.frames == [Self.tooLong, .line("next")])
    }

    @Test("the report comes as soon as the line cannot fit, before its newline")
    func reportedEarly() throws {
        let collector = FrameCollector(limit: Self.limit)
        try collector.feed(utf8(String(repeating: "x", count: Self.limit + 1)))
        #expect(collector.frames.isEmpty)
        try collector.feed(utf8("x"))
        #expect(collector.frames == [Self.tooLong])
    }

    @Test("a line over the limit whose tail and the next line arrive together: the next line is delivered at once")
    func nextLineAfterDiscardedTailIsNotHeldBack() throws {
        let collector = FrameCollector(limit: Self.limit)
        try collector.feed(utf8(String(repeating: "x", count: 20)))      // reported, now discarding
        #expect(collector.frames == [Self.tooLong])
        try collector.feed(utf8("tail\nPING\n"))                          // the rest of it, and a complete PING
        #expect(collector.frames == [Self.tooLong, .line("PING")], "a complete line after a skipped tail must not wait")
        try collector.finish()
        #expect(collector.frames == [Self.tooLong, .line("PING")])
    }

    @Test("the \\r of a CRLF ending does not count against the limit")
    func maximumLengthLineWithCRLF() throws {
        let line = String(repeating: "c", count: Self.limit)
        #expect(try FrameCollector.frames(of: utf8(line + "\r\n"), limit: Self.limit) == [.line(line)])
        #expect(try FrameCollector.framesByteByByte(of: utf8(line + "\r\n"), limit: Self.limit) == [.line(line)])
        #expect(try FrameCollector.frames(of: utf8(line + "x\r\n"), limit: Self.limit) == [Self.tooLong])
        #expect(try FrameCollector.frames(of: utf8(line + "\r\r\n"), limit: Self.limit) == [Self.tooLong])
        #expect(try FrameCollector.frames(of: utf8(line + "\n"), limit: Self.limit) == [.line(line)])
        #expect(try FrameCollector.frames(of: utf8(String(line.dropLast()) + "\r\n"), limit: Self.limit)
                == [.line(String(line.dropLast()))])
    }

    // MARK: memory

    @Test("memory stays bounded while a huge line without a newline streams in")
    func boundedMemory() throws {
        let limit = TrackerLimits.maximumLineLength
        let collector = FrameCollector(limit: limit)
        let chunk = [UInt8](repeating: UInt8(ascii: "q"), count: 1000)
        for _ in 0..<2000 {                                     // 2 MB, no newline
            try collector.feed(chunk)
            #expect(collector.processor.unprocessedBytes <= limit + 1)
        }
        #expect(collector.mostUnprocessedBytes <= limit + 1)
        #expect(collector.frames == [.invalid(.tooLong(limit: limit))])
        try collector.feed(utf8("\n"))
        try collector.feed(utf8("PING\n"))
        #expect(collector.frames == [.invalid(.tooLong(limit: limit)), .line("PING")])
        #expect(collector.processor.unprocessedBytes == 0)
    }

    @Test("called directly, the decoder consumes every byte of a line it discards")
    func directDecodeKeepsNothingWhileDiscarding() throws {
        var decoder = LineFrameDecoder(maximumLineLength: 64)
        var buffer = ByteBuffer(repeating: UInt8(ascii: "w"), count: 100_000)
        #expect(try decoder.decode(buffer: &buffer) == .invalid(.tooLong(limit: 64)))
        #expect(buffer.readableBytes == 0)
        buffer.writeRepeatingByte(UInt8(ascii: "w"), count: 100_000)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 0)
        buffer.writeString("w\nok\n")
        // The end of the discarded line is skipped and the next line comes out in the same call.
        #expect(try decoder.decode(buffer: &buffer) == .line("ok"))
        #expect(buffer.readableBytes == 0)
    }

    @Test("a short partial line is kept, and searched only once")
    func partialLineKept() throws {
        var decoder = LineFrameDecoder(maximumLineLength: 64)
        var buffer = ByteBuffer(string: "PI")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 2)
        buffer.writeString("NG")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString("\nX")
        #expect(try decoder.decode(buffer: &buffer) == .line("PING"))
        #expect(buffer.readableBytes == 1)
        var last = buffer
        #expect(try decoder.decodeLast(buffer: &last, seenEOF: true) == nil)
        #expect(last.readableBytes == 0)
    }

    // MARK: random bytes

    @Test("seeded random bytes in random pieces never crash and match the reference model",
          arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomBytes(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let alphabet: [UInt8] = [0x0A, 0x0A, 0x0D, 0x00, 0x41, 0x42, 0x20, 0xC3, 0xA9, 0xFF, 0xE6, 0x97, 0xA5, 0x80]
        for round in 0..<150 {
            let count = Int.random(in: 0...200, using: &generator)
            let input: [UInt8] = (0..<count).map { _ in
                Bool.random(using: &generator) ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            let expected = Self.referenceFrames(input, limit: Self.limit)
            var cuts = Set<Int>()
            for _ in 0..<Int.random(in: 0...10, using: &generator) where count > 0 { cuts.insert(Int.random(in: 0...count, using: &generator)) }
            let collector = FrameCollector(limit: Self.limit)
            var start = 0
            for cut in cuts.sorted() + [count] {
                try collector.feed(input[start..<cut])
                start = cut
            }
            try collector.finish()
            #expect(collector.frames == expected, "seed \(seed) round \(round)")
            for frame in collector.frames {
                if case .line(let text) = frame {
                    #expect(text.utf8.count <= Self.limit)
                    #expect(!text.utf8.contains(0) && !text.utf8.contains(0x0A))
                }
            }
        }
    }

    @Test("LineFrame and LineFrameError compare by value")
    func equality() {
        #expect(LineFrame.line("a") == .line("a"))
        #expect(LineFrame.line("a") != .line("b"))
        #expect(LineFrame.invalid(.tooLong(limit: 1)) != .invalid(.tooLong(limit: 2)))
        #expect(LineFrameError.containsNUL != .notUTF8)
        #expect(LineFrameDecoder(maximumLineLength: 42).maximumLineLength == 42)
    }
}

import FerryTestSupport
import FerryWire
import NIOCore
import Testing

@Suite("TrackerRequest: the tracker protocol's parser and encoder")
struct TrackerRequestTests {
    static let hex = String(repeating: "ab", count: 32)
    static let digest = ContentDigest(hex: hex)!

    static func entry(_ name: String, _ size: UInt64 = 12) -> SharedFileEntry {
        SharedFileEntry(name: SharedFileName(name)!, size: size, digest: digest)
    }

    static func name(_ raw: String) -> SharedFileName { SharedFileName(raw)! }

    // MARK: parsing good lines

    static let goodLines: [(String, TrackerRequest)] = [
        ("HELLO 5555", .hello(tcpPort: 5555, udpPort: 0)),
        ("HELLO 5555 5556", .hello(tcpPort: 5555, udpPort: 5556)),
        ("hello 1 0", .hello(tcpPort: 1, udpPort: 0)),
        ("HeLLo 65535 65535", .hello(tcpPort: 65535, udpPort: 65535)),
        ("HELLO 00080 0", .hello(tcpPort: 80, udpPort: 0)),
        ("  HELLO\t80\t81 \t", .hello(tcpPort: 80, udpPort: 81)),
        ("UPDATE 0", .update(count: 0)),
        ("update 100000", .update(count: 100_000)),
        ("FILE 12 \(hex) a.txt", .file(entry("a.txt"))),
        ("FILE 12 \(hex.uppercased()) \"a.txt\"", .file(entry("a.txt"))),
        ("FILE 0 \(hex)   my file.txt  ", .file(entry("my file.txt", 0))),
        ("file 9223372036854775807 \(hex) \"  spaced  \"", .file(entry("  spaced  ", 9_223_372_036_854_775_807))),
        ("ADD 12 \(hex) \"say \\\"hi\\\", ok\"", .add(entry("say \"hi\", ok"))),
        ("ADD 12 \(hex) 日本語 🚀", .add(entry("日本語 🚀"))),
        ("REMOVE a.txt", .remove(name("a.txt"))),
        ("remove \" x \"", .remove(name(" x "))),
        ("SEND a", .send(["a"])),
        ("SEND a, \"b, c\" , d", .send(["a", "b, c", "d"])),
        ("SEND a/b, ., \"\"", .send(["a/b", ".", ""])),         // the tracker answers each bad name in its place
        ("send ,", .send(["", ""])),
        ("LIST", .list(pattern: nil)),
        ("LIST   ", .list(pattern: nil)),
        ("LIST *.txt", .list(pattern: "*.txt")),
        ("list  a b ", .list(pattern: "a b")),
        ("LIST \"\"", .list(pattern: "")),
        ("LIST \" a \"", .list(pattern: " a ")),
        ("REPORT 127.0.0.2 5555 OK 1048576 250", .report(HolderReport(
            host: "127.0.0.2", tcpPort: 5555, verdict: .served(bytes: 1_048_576, milliseconds: 250)))),
        ("report ::1 80 failed", .report(HolderReport(host: "::1", tcpPort: 80, verdict: .failed))),
        ("REPORT fe80::1%eth0 1 ok 0 0", .report(HolderReport(
            host: "fe80::1%eth0", tcpPort: 1, verdict: .served(bytes: 0, milliseconds: 0)))),
        ("PING", .ping),
        ("ping  ", .ping),
        ("HELP", .help),
        ("help me", .help),
        ("QUIT", .quit),
        ("BYE", .quit),
        ("quit now", .quit),
    ]

    @Test("good lines parse to their request", arguments: goodLines)
    func parsesGoodLines(_ line: String, _ expected: TrackerRequest) throws {
        #expect(try TrackerRequest(parsing: line) == expected)
    }

    // MARK: parsing bad lines

    static let badLines: [(String, TrackerStatus, String)] = [
        ("", .malformed, "empty line; try HELP"),
        (" \t ", .malformed, "empty line; try HELP"),
        ("NOPE", .unknownCommand, "unknown command \"NOPE\"; try HELP"),
        ("GET 0 * a", .unknownCommand, "unknown command \"GET\"; try HELP"),
        ("\u{1B}[2J", .unknownCommand, "unknown command \"\u{FFFD}[2J\"; try HELP"),
        ("HELLO", .malformed, "HELLO: missing tcp port"),
        ("HELLO 0", .malformed, "HELLO: tcp port must be from 1 to 65535"),
        ("HELLO 0 5", .malformed, "HELLO: tcp port must be from 1 to 65535"),
        ("HELLO 65536", .malformed, "HELLO: tcp port must be a whole number from 0 to 65535, not \"65536\""),
        ("HELLO 80 65536", .malformed, "HELLO: udp port must be a whole number from 0 to 65535, not \"65536\""),
        ("HELLO -1", .malformed, "HELLO: tcp port must be a whole number from 0 to 65535, not \"-1\""),
        ("HELLO eighty", .malformed, "HELLO: tcp port must be a whole number from 0 to 65535, not \"eighty\""),
        ("HELLO 80 90 100", .malformed, "HELLO: unexpected text at the end of the line"),
        ("UPDATE", .malformed, "UPDATE: missing count"),
        ("UPDATE 100001", .tooMany, "at most 100000 files per peer"),
        ("UPDATE 9223372036854775807", .tooMany, "at most 100000 files per peer"),
        ("UPDATE 9223372036854775808", .malformed,
         "UPDATE: count must be a whole number from 0 to 9223372036854775807, not \"9223372036854775808\""),
        ("UPDATE 1 2", .malformed, "UPDATE: unexpected text at the end of the line"),
        ("FILE", .malformed, "FILE: missing size"),
        ("FILE 1", .malformed, "FILE: sha256 must be 64 hexadecimal digits"),
        ("FILE 1 abc a", .malformed, "FILE: sha256 must be 64 hexadecimal digits"),
        ("FILE 1 \(hex)", .malformed, "FILE: missing name"),
        ("FILE -1 \(hex) a", .malformed, "FILE: size must be a whole number from 0 to 9223372036854775807, not \"-1\""),
        ("FILE 9223372036854775808 \(hex) a", .malformed,
         "FILE: size must be a whole number from 0 to 9223372036854775807, not \"9223372036854775808\""),
        ("FILE 1 \(hex) \"a\" b", .malformed, "FILE: root must be 64 hexadecimal digits"),
        ("FILE 1 \(hex) \"a", .malformed, "FILE: unterminated quoted name"),
        ("FILE 1 \(hex) a/b", .badName, "bad name \"a/b\": name contains '/' or '\\'"),
        ("FILE 1 \(hex) \"..\"", .badName, "bad name \"..\": name is '.' or '..'"),
        ("FILE 1 \(hex) \"\"", .badName, "bad name \"\": name is empty"),
        ("FILE 1 \(hex) \"a\u{1}\"", .badName, "bad name \"a\u{FFFD}\": name contains a control character"),
        ("FILE 1 \(hex) \(String(repeating: "n", count: 256))", .badName,
         "bad name \"\(String(repeating: "n", count: 256))\": name is longer than 255 bytes of UTF-8"),
        ("ADD 1 \(hex) \"a\\\\b\"", .badName, "bad name \"a\\\\b\": name contains '/' or '\\'"),
        ("ADD 1 \(hex) .", .badName, "bad name \".\": name is '.' or '..'"),
        ("ADD 1 nothex a", .malformed, "ADD: sha256 must be 64 hexadecimal digits"),
        ("REMOVE", .malformed, "REMOVE: missing name"),
        ("REMOVE .", .badName, "bad name \".\": name is '.' or '..'"),
        ("REMOVE \"a", .malformed, "REMOVE: unterminated quoted name"),
        ("SEND", .malformed, "SEND: missing name"),
        ("SEND \"a\" b", .malformed, "SEND: expected ',' between names"),
        ("SEND \"a\\q\"", .malformed, "SEND: only \\\" and \\\\ may follow a backslash in a quoted name"),
        ("SEND " + Array(repeating: "n", count: 257).joined(separator: ","), .tooMany, "at most 256 names per SEND"),
        ("LIST \"a\" b", .malformed, "LIST: unexpected text after the quoted name"),
        ("LIST \"a", .malformed, "LIST: unterminated quoted name"),
        ("PING x", .malformed, "PING: unexpected text at the end of the line"),
        ("REPORT", .malformed,
         "REPORT: host must be an address of at most 64 letters, digits and . : % - _"),
        ("REPORT a/b 1 FAILED", .malformed,
         "REPORT: host must be an address of at most 64 letters, digits and . : % - _"),
        ("REPORT \(String(repeating: "1", count: 65)) 1 FAILED", .malformed,
         "REPORT: host must be an address of at most 64 letters, digits and . : % - _"),
        ("REPORT 127.0.0.2", .malformed, "REPORT: missing tcp port"),
        ("REPORT 127.0.0.2 0 FAILED", .malformed, "REPORT: tcp port must be from 1 to 65535"),
        ("REPORT 127.0.0.2 5555", .malformed, "REPORT: expected OK <bytes> <milliseconds> or FAILED after the port"),
        ("REPORT 127.0.0.2 5555 MAYBE", .malformed, "REPORT: expected OK <bytes> <milliseconds> or FAILED after the port"),
        ("REPORT 127.0.0.2 5555 OK", .malformed, "REPORT: missing bytes"),
        ("REPORT 127.0.0.2 5555 OK 1", .malformed, "REPORT: missing milliseconds"),
        ("REPORT 127.0.0.2 5555 OK -1 5", .malformed,
         "REPORT: bytes must be a whole number from 0 to 9223372036854775807, not \"-1\""),
        ("REPORT 127.0.0.2 5555 FAILED now", .malformed, "REPORT: unexpected text at the end of the line"),
    ]

    @Test("bad lines are refused with a status and a message", arguments: badLines)
    func refusesBadLines(_ line: String, _ status: TrackerStatus, _ message: String) {
        #expect(throws: TrackerProtocolError(status, message)) { try TrackerRequest(parsing: line) }
    }

    @Test("SEND takes up to 256 names")
    func sendLimit() throws {
        let names = (0..<TrackerLimits.maximumNamesPerLookup).map { "n\($0)" }
        #expect(try TrackerRequest(parsing: TrackerRequest.send(names).line) == .send(names))
        #expect(throws: TrackerProtocolError(.tooMany, "at most 256 names per SEND")) {
            try TrackerRequest(parsing: TrackerRequest.send(names + ["one more"]).line)
        }
    }

    // MARK: encoding

    static let encodings: [(TrackerRequest, String)] = [
        (.hello(tcpPort: 5555, udpPort: 0), "HELLO 5555 0"),
        (.hello(tcpPort: 1, udpPort: 65535), "HELLO 1 65535"),
        (.update(count: 3), "UPDATE 3"),
        (.file(entry("a.txt")), "FILE 12 \(hex) \"a.txt\""),
        (.add(entry("say \"hi\"", 0)), "ADD 0 \(hex) \"say \\\"hi\\\"\""),
        (.remove(name(" a, b ")), "REMOVE \" a, b \""),
        (.send(["a", "b, c", "x\\y"]), "SEND \"a\", \"b, c\", \"x\\\\y\""),
        (.list(pattern: nil), "LIST"),
        (.list(pattern: "*.txt"), "LIST \"*.txt\""),
        (.report(HolderReport(host: "127.0.0.2", tcpPort: 5555, verdict: .served(bytes: 7, milliseconds: 3))),
         "REPORT 127.0.0.2 5555 OK 7 3"),
        (.report(HolderReport(host: "::1", tcpPort: 4, verdict: .failed)), "REPORT ::1 4 FAILED"),
        (.ping, "PING"),
        (.help, "HELP"),
        (.quit, "QUIT"),
    ]

    @Test("requests encode to their exact line and parse back", arguments: encodings)
    func encodes(_ request: TrackerRequest, _ line: String) throws {
        #expect(request.line == line)
        #expect(try TrackerRequest(parsing: line) == request)
    }

    @Test("a port of 0 encodes, but is refused on parsing")
    func helloPortZero() {
        #expect(TrackerRequest.hello(tcpPort: 0, udpPort: 0).line == "HELLO 0 0")
        #expect(throws: TrackerProtocolError.self) { try TrackerRequest(parsing: "HELLO 0 0") }
    }

    // MARK: round trips

    @Test("SEND round-trips seeded random names with Unicode, spaces, commas, quotes and backslashes",
          arguments: [11, 12, 13, 14] as [UInt64])
    func sendRoundTrip(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<300 {
            let names = (0..<Int.random(in: 1...8, using: &generator)).map { _ in randomLineSafeText(using: &generator) }
            let line = TrackerRequest.send(names).line
            let parsed = try TrackerRequest(parsing: line)
            guard case .send(let back) = parsed else {
                Issue.record("not a SEND: \(parsed)")
                continue
            }
            #expect(back.map(\.scalarValues) == names.map(\.scalarValues), "seed \(seed): \(line.debugDescription)")
        }
    }

    @Test("FILE, ADD, REMOVE and LIST round-trip seeded random valid names", arguments: [21, 22, 23] as [UInt64])
    func entryRoundTrip(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<300 {
            let name = randomValidName(using: &generator)
            let entry = SharedFileEntry(name: name, size: UInt64.random(in: 0...UInt64(Int64.max), using: &generator),
                                        digest: randomDigest(using: &generator))
            let requests: [TrackerRequest] = [.file(entry), .add(entry), .remove(name), .list(pattern: name.rawValue),
                                              .hello(tcpPort: UInt16.random(in: 1...65535, using: &generator),
                                                     udpPort: UInt16.random(in: 0...65535, using: &generator)),
                                              .update(count: Int.random(in: 0...TrackerLimits.maximumFilesPerPeer, using: &generator))]
            for request in requests {
                let back = try TrackerRequest(parsing: request.line)
                #expect(back == request, "seed \(seed): \(request.line.debugDescription)")
                #expect(back.line.scalarValues == request.line.scalarValues)
            }
        }
    }

    /// Grammar-shaped random lines: known and unknown verbs with good and bad fields.
    static func randomRequestLine(using generator: inout SeededGenerator) -> String {
        let verbs = ["HELLO", "UPDATE", "FILE", "ADD", "REMOVE", "SEND", "LIST", "PING", "HELP", "QUIT", "BYE",
                     "hello", "Send", "X", "", "GET"]
        let fields: [() -> String] = [
            { ["0", "1", "80", "65535", "65536", "-1", "9223372036854775807", "9223372036854775808", "007"].randomElement()! },
            { hex }, { "abc" }, { "*" }, { "," }, { ", " }, { "\"" },
        ]
        var line = verbs.randomElement(using: &generator)!
        for _ in 0..<Int.random(in: 0...4, using: &generator) {
            line += [" ", "\t", "  "].randomElement(using: &generator)!
            switch Int.random(in: 0...3, using: &generator) {
            case 0: line += LineScanner.quote(randomLineSafeText(using: &generator))
            case 1: line += randomLineSafeText(using: &generator)
            default: line += fields.randomElement(using: &generator)!()
            }
        }
        return line
    }

    @Test("whatever parses re-encodes to a line that parses to the same request; errors are protocol errors",
          arguments: [31, 32, 33, 34] as [UInt64])
    func parseEncodeParse(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let statuses: Set<TrackerStatus> = [.malformed, .unknownCommand, .badName, .tooMany]
        for _ in 0..<1000 {
            let line = Self.randomRequestLine(using: &generator)
            do {
                let request = try TrackerRequest(parsing: line)
                let again = try? TrackerRequest(parsing: request.line)
                #expect(again == request, "seed \(seed): \(line.debugDescription) -> \(request.line.debugDescription)")
            } catch {
                #expect(statuses.contains(error.status), "seed \(seed): \(line.debugDescription): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test("seeded random bytes never crash the parser", arguments: [41, 42] as [UInt64])
    func randomBytes(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let statuses: Set<TrackerStatus> = [.malformed, .unknownCommand, .badName, .tooMany]
        for _ in 0..<2000 {
            var bytes = generator.bytes(Int.random(in: 0...60, using: &generator))
            if Bool.random(using: &generator) {
                bytes = Array(["HELLO ", "FILE 1 \(Self.hex) ", "SEND ", "LIST ", "REMOVE "].randomElement(using: &generator)!.utf8) + bytes
            }
            let line = String(decoding: bytes, as: UTF8.self)
            do {
                let request = try TrackerRequest(parsing: line)
                #expect((try? TrackerRequest(parsing: request.line)) == request)
            } catch {
                #expect(statuses.contains(error.status))
            }
        }
    }

    // MARK: a byte stream of requests, however it is cut

    enum Outcome: Equatable {
        case request(TrackerRequest)
        case refused(TrackerStatus)
        case frameError(LineFrameError)
    }

    static let streamLimit = 300

    /// A session's worth of lines, good and bad, and what each must become.
    static let session: [([UInt8], Outcome)] = [
        (utf8("HELLO 5555 5556"), .request(.hello(tcpPort: 5555, udpPort: 5556))),
        (utf8("UPDATE 2\r"), .request(.update(count: 2))),
        (utf8("FILE 12 \(hex) \"a, b.txt\""), .request(.file(entry("a, b.txt")))),
        (utf8("FILE 12 \(hex) bad/name"), .refused(.badName)),
        (utf8("ADD 12 \(hex) 日本 🚀"), .request(.add(entry("日本 🚀")))),
        (utf8("SEND a, \"b, c\", \"q\\\"uote\""), .request(.send(["a", "b, c", "q\"uote"]))),
        (utf8("BOGUS verb"), .refused(.unknownCommand)),
        (utf8(String(repeating: "S", count: 400)), .frameError(.tooLong(limit: streamLimit))),
        (utf8("PING\u{0}"), .frameError(.containsNUL)),
        ([0x50, 0x49, 0xFF, 0x47], .frameError(.notUTF8)),
        (utf8(""), .refused(.malformed)),
        (utf8("HELLO 0"), .refused(.malformed)),
        (utf8("LIST *.txt"), .request(.list(pattern: "*.txt"))),
        (utf8("PING"), .request(.ping)),
        (utf8("QUIT"), .request(.quit)),
    ]

    static var sessionBytes: [UInt8] { session.flatMap { $0.0 + [UInt8(ascii: "\n")] } }

    static func outcomes(_ frames: [LineFrame]) -> [Outcome] {
        frames.map { frame in
            switch frame {
            case .invalid(let error): return .frameError(error)
            case .line(let line): return outcome(of: line)
            }
        }
    }

    static func outcome(of line: String) -> Outcome {
        do {
            return .request(try TrackerRequest(parsing: line))
        } catch {
            return .refused(error.status)
        }
    }

    @Test("a stream of requests fed whole gives one outcome per line")
    func streamWhole() throws {
        let frames = try FrameCollector.frames(of: Self.sessionBytes, limit: Self.streamLimit)
        #expect(Self.outcomes(frames) == Self.session.map(\.1))
    }

    @Test("a stream of requests split at every index gives the same outcomes")
    func streamSplitEverywhere() throws {
        let input = Self.sessionBytes
        let expected = Self.session.map(\.1)
        for cut in 0...input.count {
            let frames = try FrameCollector.frames(of: input, cutAt: [cut], limit: Self.streamLimit).all
            #expect(Self.outcomes(frames) == expected, "cut at \(cut)")
        }
    }

    @Test("a stream of requests fed byte by byte gives the same outcomes, each as soon as its line ends")
    func streamByteByByte() throws {
        let input = Self.sessionBytes
        let result = try FrameCollector.frames(of: input, cutAt: Array(input.indices.dropFirst()), limit: Self.streamLimit)
        #expect(Self.outcomes(result.beforeEOF) == Self.session.map(\.1))
        #expect(result.all == result.beforeEOF)
    }

    @Test("seeded random streams of good lines, bad lines and random bytes give the same outcomes however they are cut",
          arguments: [61, 62, 63] as [UInt64])
    func randomStreams(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for round in 0..<20 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                switch Int.random(in: 0...4, using: &generator) {
                case 0: input += utf8(Self.randomRequestLine(using: &generator))
                case 1: input += generator.bytes(Int.random(in: 0...40, using: &generator))
                case 2: input += [UInt8](repeating: UInt8(ascii: "x"), count: Int.random(in: 250...400, using: &generator))
                case 3: input += utf8("SEND ") + generator.bytes(Int.random(in: 0...10, using: &generator))
                default: input += utf8(TrackerRequest.add(SharedFileEntry(name: randomValidName(using: &generator), size: 1,
                                                                          digest: Self.digest)).line)
                }
                input += Bool.random(using: &generator) ? [0x0A] : [0x0D, 0x0A]
            }
            let whole = Self.outcomes(try FrameCollector.frames(of: input, limit: Self.streamLimit))
            #expect(whole.count == input.filter { $0 == 0x0A }.count, "seed \(seed) round \(round)")
            let dripped = try FrameCollector.frames(of: input, cutAt: Array(input.indices.dropFirst()), limit: Self.streamLimit)
            #expect(Self.outcomes(dripped.beforeEOF) == whole, "seed \(seed) round \(round): byte by byte")
            for _ in 0..<20 {
                let cuts = Set((0..<Int.random(in: 1...4, using: &generator)).map { _ in Int.random(in: 0...input.count, using: &generator) })
                let frames = try FrameCollector.frames(of: input, cutAt: cuts.sorted(), limit: Self.streamLimit).all
                #expect(Self.outcomes(frames) == whole, "seed \(seed) round \(round): cuts \(cuts.sorted())")
            }
        }
    }

    @Test("encoded requests survive framing at every cut")
    func encodedRequestsThroughFraming() throws {
        var generator = SeededGenerator(seed: 51)
        let requests: [TrackerRequest] = (0..<6).map { _ in
            let name = randomValidName(using: &generator, maximumPieces: 6)
            return [.add(SharedFileEntry(name: name, size: 5, digest: Self.digest)), .remove(name),
                    .send([name.rawValue, randomLineSafeText(using: &generator, maximumPieces: 4)])].randomElement(using: &generator)!
        }
        let input = requests.flatMap { utf8($0.line + "\n") }
        for cut in 0...input.count {
            let frames = try FrameCollector.frames(of: input, cutAt: [cut], limit: TrackerLimits.maximumLineLength)
            #expect(Self.outcomes(frames.beforeEOF) == requests.map { .request($0) }, "cut at \(cut)")
        }
    }
}

import FerryTestSupport
import FerryWire
import Testing

@Suite("LookupResult: SEND replies, encoded by the tracker and read by the peer")
struct LookupResultTests {
    static let hexA = String(repeating: "a", count: 64)
    static let hexB = String(repeating: "b", count: 64)
    static let digestA = ContentDigest(hex: hexA)!
    static let digestB = ContentDigest(hex: hexB)!

    static let sample: [LookupResult] = [
        LookupResult(name: "a.txt", outcome: .found([
            HolderGroup(size: 12, digest: digestA, holders: [
                Holder(host: "127.0.0.2", tcpPort: 5555, udpPort: 5556),
                Holder(host: "::1", tcpPort: 6000, udpPort: 0),
            ]),
            HolderGroup(size: 13, digest: digestB, holders: [Holder(host: "10.0.0.9", tcpPort: 1, udpPort: 65535)]),
        ])),
        LookupResult(name: "gone.bin", outcome: .notFound),
        LookupResult(name: "a/b", outcome: .badName(NameError.separator.description)),
        LookupResult(name: "say \"hi\", ok", outcome: .found([
            HolderGroup(size: 0, digest: digestB, holders: [Holder(host: "fe80::1%eth0", tcpPort: 80, udpPort: 0)]),
        ])),
    ]

    static func reply(_ results: [LookupResult]) -> TrackerReply {
        TrackerReply(lines: results.flatMap(\.replyLines),
                     final: TrackerReplyLine(status: .ok, isFinal: true, text: "SEND \(results.count)"))
    }

    static func reply(_ lines: [String], final: String = "200 SEND 1") throws -> TrackerReply {
        var assembler = TrackerReplyAssembler()
        for line in lines { #expect(try assembler.push(line) == nil) }
        return try #require(try assembler.push(final))
    }

    @Test("replyLines are the documented continuation lines")
    func encodes() {
        #expect(Self.sample.flatMap(\.replyLines).map(\.line) == [
            "210-FILE \"a.txt\" 12 \(Self.hexA) 2",
            "211-PEER 127.0.0.2 5555 5556",
            "211-PEER ::1 6000 0",
            "210-FILE \"a.txt\" 13 \(Self.hexB) 1",
            "211-PEER 10.0.0.9 1 65535",
            "404-NOTFOUND \"gone.bin\"",
            "403-BADNAME \"a/b\" name contains '/' or '\\'",
            "210-FILE \"say \\\"hi\\\", ok\" 0 \(Self.hexB) 1",
            "211-PEER fe80::1%eth0 80 0",
        ])
    }

    @Test("a bad name is echoed printable")
    func badNameEchoIsPrintable() {
        let result = LookupResult(name: "x\u{1B}[2J\ty", outcome: .badName("name contains a control character"))
        #expect(result.replyLines.map(\.line) == ["403-BADNAME \"x\u{FFFD}[2J\u{FFFD}y\" name contains a control character"])
    }

    @Test("replyLines -> assembler -> results(of:) round-trips the sample")
    func roundTripSample() throws {
        var assembler = TrackerReplyAssembler()
        var reply: TrackerReply?
        for line in Self.reply(Self.sample).lines.map(\.line) + ["200 SEND 4"] {
            reply = try assembler.push(line)
        }
        #expect(try LookupResult.results(of: try #require(reply)) == Self.sample)
    }

    @Test("the sample reply cut at every index or fed byte by byte reads back the same")
    func sampleThroughFramingEverywhere() throws {
        let input = utf8((Self.reply(Self.sample).lines.map(\.line) + ["200 SEND 4"]).joined(separator: "\r\n") + "\r\n")
        func read(_ frames: [LineFrame]) throws -> [LookupResult] {
            var assembler = TrackerReplyAssembler()
            var replies: [TrackerReply] = []
            for case .line(let line) in frames {
                if let reply = try assembler.push(line) { replies.append(reply) }
            }
            #expect(replies.count == 1)
            return try replies.flatMap { try LookupResult.results(of: $0) }
        }
        for cut in 0...input.count {
            let frames = try FrameCollector.frames(of: input, cutAt: [cut], limit: TrackerLimits.maximumLineLength)
            #expect(try read(frames.beforeEOF) == Self.sample, "cut at \(cut)")
        }
        let dripped = try FrameCollector.frames(of: input, cutAt: Array(input.indices.dropFirst()), limit: TrackerLimits.maximumLineLength)
        #expect(try read(dripped.beforeEOF) == Self.sample)
    }

    static func randomHolder(using generator: inout SeededGenerator) -> Holder {
        let hosts = ["127.0.0.1", "10.1.2.3", "255.255.255.255", "0.0.0.0", "::1", "::", "2001:db8::7", "fe80::1",
                     "::ffff:192.0.2.1"]
        return Holder(host: hosts.randomElement(using: &generator)!, tcpPort: UInt16.random(in: 1...65535, using: &generator),
                      udpPort: UInt16.random(in: 0...65535, using: &generator))
    }

    @Test("seeded random results round-trip through lines, framing and the assembler", arguments: [71, 72, 73] as [UInt64])
    func randomRoundTrip(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for round in 0..<100 {
            var results: [LookupResult] = []
            var used = Set<[UInt32]>()
            for _ in 0..<Int.random(in: 0...6, using: &generator) {
                let name = randomValidName(using: &generator).rawValue
                guard used.insert(name.scalarValues).inserted else { continue }
                switch Int.random(in: 0...3, using: &generator) {
                case 0: results.append(LookupResult(name: name, outcome: .notFound))
                case 1:
                    let bad = [".", "..", "", "a/b", "c\\d", String(repeating: "x", count: 256)].randomElement(using: &generator)!
                    results.append(LookupResult(name: bad, outcome: .badName(SharedFileName.problem(with: bad)!.description)))
                default:
                    let groups = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                        HolderGroup(size: UInt64.random(in: 0...UInt64(Int64.max), using: &generator),
                                    digest: randomDigest(using: &generator),
                                    holders: (0..<Int.random(in: 1...4, using: &generator)).map { _ in Self.randomHolder(using: &generator) })
                    }
                    results.append(LookupResult(name: name, outcome: .found(groups)))
                }
            }
            let bytes = utf8((Self.reply(results).lines.map(\.line) + ["200 SEND \(results.count)"]).joined(separator: "\n") + "\n")
            let cuts = [Int.random(in: 0...bytes.count, using: &generator), Int.random(in: 0...bytes.count, using: &generator)].sorted()
            var assembler = TrackerReplyAssembler()
            var replies: [TrackerReply] = []
            for frame in try FrameCollector.frames(of: bytes, cutAt: cuts, limit: TrackerLimits.maximumLineLength).beforeEOF {
                guard case .line(let line) = frame else {
                    Issue.record("unexpected frame \(frame)")
                    continue
                }
                if let reply = try assembler.push(line) { replies.append(reply) }
            }
            let reply = try #require(replies.count == 1 ? replies.first : nil, "seed \(seed) round \(round)")
            let back = try LookupResult.results(of: reply)
            #expect(back == results, "seed \(seed) round \(round)")
            #expect(back.map(\.name.scalarValues) == results.map(\.name.scalarValues))
        }
    }

    @Test("an empty SEND reply has no results")
    func emptyReply() throws {
        #expect(try LookupResult.results(of: try Self.reply([], final: "200 SEND 0")).isEmpty)
    }

    @Test("consecutive FILE lines of one name are one result; a new name starts another")
    func grouping() throws {
        let reply = try Self.reply([
            "210-FILE \"a\" 1 \(Self.hexA) 1", "211-PEER 1.2.3.4 1 0",
            "210-FILE \"a\" 2 \(Self.hexB) 1", "211-PEER 1.2.3.5 1 0",
            "210-FILE \"b\" 1 \(Self.hexA) 1", "211-PEER 1.2.3.6 1 0",
        ], final: "200 SEND 2")
        let results = try LookupResult.results(of: reply)
        #expect(results.map(\.name) == ["a", "b"])
        guard case .found(let groups) = results.first?.outcome else {
            Issue.record("not found")
            return
        }
        #expect(groups.map(\.size) == [1, 2])
    }

    // MARK: hostile replies

    static let hostile: [(String, [String])] = [
        ("PEER before FILE", ["211-PEER 1.2.3.4 5555 0"]),
        ("PEER after NOTFOUND", ["404-NOTFOUND \"a\"", "211-PEER 1.2.3.4 5555 0"]),
        ("PEER host is a name", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER example.com 5555 0"]),
        ("PEER host is garbage", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER 1.2.3.999 5555 0"]),
        ("PEER host missing", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER"]),
        ("PEER tcp port 0", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER 1.2.3.4 0 0"]),
        ("PEER tcp port too big", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER 1.2.3.4 65536 0"]),
        ("PEER udp port too big", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER 1.2.3.4 1 65536"]),
        ("PEER udp port missing", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER 1.2.3.4 1"]),
        ("PEER negative port", ["210-FILE \"a\" 1 \(hexA) 1", "211-PEER 1.2.3.4 -1 0"]),
        ("FILE bad sha", ["210-FILE \"a\" 1 \(hexA.dropLast())x 1"]),
        ("FILE short sha", ["210-FILE \"a\" 1 abc 1"]),
        ("FILE bare name", ["210-FILE a 1 \(hexA) 1"]),
        ("FILE no count", ["210-FILE \"a\" 1 \(hexA)"]),
        ("FILE size too big", ["210-FILE \"a\" 99999999999999999999 \(hexA) 1"]),
        ("FILE unterminated name", ["210-FILE \"a 1 \(hexA) 1"]),
        ("unknown status", ["299-FILE \"a\" 1 \(hexA) 1"]),
        ("status and verb disagree", ["211-FILE \"a\" 1 \(hexA) 1"]),
        ("unknown verb", ["210-FOO \"a\""]),
        ("LIST entry in a SEND reply", ["212-\"a\" 1 \(hexA) 1"]),
        ("help text in a SEND reply", ["214-HELLO <tcp-port>"]),
        ("NOTFOUND without a name", ["404-NOTFOUND"]),
        ("NOTFOUND with junk after the name", ["404-NOTFOUND \"a\" junk"]),
        ("BADNAME bare", ["403-BADNAME a/b reason"]),
        ("BADNAME nothing", ["403-BADNAME"]),
    ]

    @Test("hostile replies throw instead of being trusted", arguments: hostile)
    func hostileReplies(_ label: String, _ lines: [String]) throws {
        let reply = try Self.reply(lines)
        let error = #expect(throws: TrackerProtocolError.self, "\(label)") { try LookupResult.results(of: reply) }
        #expect(error?.status == .malformed)
        #expect(error?.message.hasPrefix("tracker reply line \"") == true)
    }

    @Test("the hostile line is quoted printable and cut to 120 characters in the error")
    func hostileLineIsCut() throws {
        let line = "211-PEER " + String(repeating: "\u{1B}", count: 500)
        let error = #expect(throws: TrackerProtocolError.self) { try LookupResult.results(of: try Self.reply([line])) }
        let message = try #require(error?.message)
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 })
        #expect(message.hasPrefix("tracker reply line \"211-PEER \u{FFFD}"))
        #expect(message.contains(String(repeating: "\u{FFFD}", count: 111) + "\":"))
        #expect(!message.contains(String(repeating: "\u{FFFD}", count: 112)))
    }

    @Test("a refusal as the final line throws its status")
    func refusedFinal() throws {
        let reply = try Self.reply([], final: "413 at most 256 names per SEND")
        #expect(throws: TrackerProtocolError(.tooMany, "at most 256 names per SEND")) { try LookupResult.results(of: reply) }
    }

    @Test("seeded random reply lines never crash the reader", arguments: [81, 82] as [UInt64])
    func randomReplies(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let prefixes = ["210-FILE ", "211-PEER ", "404-NOTFOUND ", "403-BADNAME ", "212-", "210-FILE \"a\" 1 \(Self.hexA) "]
        for _ in 0..<1000 {
            var lines: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let tail = Bool.random(using: &generator)
                    ? String(decoding: generator.bytes(Int.random(in: 0...30, using: &generator)), as: UTF8.self)
                    : randomLineSafeText(using: &generator)
                lines.append(prefixes.randomElement(using: &generator)! + tail)
            }
            let reply = TrackerReply(lines: lines.compactMap(TrackerReplyLine.init(parsing:)),
                                     final: TrackerReplyLine(status: .ok, isFinal: true, text: "SEND"))
            do {
                let results = try LookupResult.results(of: reply)
                #expect(results.count <= lines.count)
            } catch {
                #expect(error.status == .malformed)
            }
        }
    }
}

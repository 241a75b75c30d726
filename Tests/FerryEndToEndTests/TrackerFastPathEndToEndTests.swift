import FerryTestSupport
import FerryWire
import Testing

/// The tracker answers `SEND` and `PING` on its event loop, from memory, and everything else in a turn
/// of the connection's conversation: replies must keep the order of the requests whatever the mix.
@Suite("Tracker: lookups on the event loop, everything else in turns, replies in order")
struct TrackerFastPathEndToEndTests {
    static let digest = String(repeating: "ab", count: 32)

    @Test("pipelined requests of both kinds in one write are answered in order, each seeing the ones before")
    func pipelinedOrder() async throws {
        let tracker = try await TestTracker.start()
        try await RawClient.withConnection(host: "127.0.0.1", port: tracker.port) { raw in
            try await raw.send("""
                SEND a.txt
                HELLO 5555 0
                UPDATE 1
                FILE 7 \(Self.digest) a.txt
                SEND a.txt
                PING
                LIST a.
                REMOVE a.txt
                SEND a.txt

                """)
            #expect(try await raw.readReply() == ["404-NOTFOUND \"a.txt\"", "200 SEND 1"])
            #expect(try await raw.readReply().first?.hasPrefix("200 HELLO 127.0.0.1 ") == true)
            #expect(try await raw.readReply() == ["200 UPDATED 1 0"])
            #expect(try await raw.readReply() == ["210-FILE \"a.txt\" 7 \(Self.digest) 1", "211-PEER 127.0.0.1 5555 0", "200 SEND 1"])
            #expect(try await raw.readReply() == ["200 PONG"])
            #expect(try await raw.readReply() == ["212-\"a.txt\" 7 \(Self.digest) 1", "200 LIST 1"])
            #expect(try await raw.readReply() == ["200 REMOVED \"a.txt\""])
            #expect(try await raw.readReply() == ["404-NOTFOUND \"a.txt\"", "200 SEND 1"])
        }
        await tracker.stop()
    }

    @Test("a SEND in the middle of an UPDATE goes to the conversation, which aborts the update, as before")
    func lookupDuringUpdate() async throws {
        let tracker = try await TestTracker.start()
        try await RawClient.withConnection(host: "127.0.0.1", port: tracker.port) { raw in
            try await raw.send("HELLO 5555 0\nUPDATE 2\nFILE 7 \(Self.digest) a.txt\nSEND a.txt\nFILE 7 \(Self.digest) b.txt\nSEND a.txt\n")
            #expect(try await raw.readReply().first?.hasPrefix("200 HELLO") == true)
            let abort = try await raw.readReply()
            #expect(abort.first?.contains("UPDATE aborted: 1 more FILE lines were expected") == true, "\(abort)")
            // The FILE line left over from the aborted update is dropped without a reply; nothing changed.
            #expect(try await raw.readReply() == ["404-NOTFOUND \"a.txt\"", "200 SEND 1"])
        }
        await tracker.stop()
    }

    @Test("a thousand one-lookup connections, each closed by the client: all answered, none left behind")
    func manyShortConnections() async throws {
        let tracker = try await TestTracker.start()
        let client = try await tracker.connect()
        let clock = ContinuousClock()
        var lastKeptLookup = clock.now
        for index in 0..<Sanitizers.scaled(1000, sanitized: 200) {
            let reply = try await RawClient.withConnection(host: "127.0.0.1", port: tracker.port) { raw in
                try await raw.send("SEND n\(index)\n")
                return try await raw.readReply()
            }
            #expect(reply == ["404-NOTFOUND \"n\(index)\"", "200 SEND 1"])
            // The kept connection is served meanwhile: every 100 connections, and at least every
            // 2 s, so never silent for the 10 s idle timeout (under a sanitizer 100 connections took
            // longer than that).
            if index % 100 == 99 || clock.now - lastKeptLookup > .seconds(2) {
                #expect(try await client.lookup(["x"]).first?.outcome == .notFound)
                lastKeptLookup = clock.now
            }
        }
        #expect(try await client.lookup(["x"]).first?.outcome == .notFound)
        await client.close()
        await tracker.stop()
    }
}

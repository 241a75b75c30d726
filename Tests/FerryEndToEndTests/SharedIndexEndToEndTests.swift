import FerryTestSupport
import FerryWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Three real `ferry server` processes on one PostgreSQL database behave as one tracker: a peer
/// registered on one is found on the others at once, and when one is killed (SIGKILL, no goodbye) its
/// peers leave the survivors' lookups within 15 s while every other answer stays right.
@Suite("three trackers on one PostgreSQL index", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 2))),
       .enabled(if: PostgresTestEnvironment.runs, Comment(rawValue: PostgresTestEnvironment.skipReason)))
struct SharedIndexEndToEndTests {
    typealias Launcher = EndToEndTests.ProcessSignalTests

    /// A peer as raw lines: `HELLO`, an `UPDATE` of one file, then a `PING` every second until cancelled.
    static func holdPeer(tracker: String, tcpPort: Int, file: String, registered: AsyncStream<String>.Continuation) -> Task<Void, any Error> {
        Task {
            try await RawClient.withConnection(host: tracker, port: 4444) { client in
                try await client.send("HELLO \(tcpPort) 0\n")
                let hello = try await client.readReply()
                try await client.send("UPDATE 1\nFILE 5 \(String(repeating: "a", count: 64)) \(file)\n")
                let update = try await client.readReply()
                registered.yield("\(hello.last ?? "") / \(update.last ?? "")")
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    guard !Task.isCancelled else { break }
                    try await client.send("PING\n")
                    _ = try await client.readReply()
                }
            }
        }
    }

    /// The `211-PEER` lines of `SEND name` on `tracker`, as `tcp-port`s, in the order given.
    static func holders(of name: String, on tracker: String) async throws -> [Int] {
        try await RawClient.withConnection(host: tracker, port: 4444) { client in
            try await client.send("SEND \(name)\n")
            return try await client.readReply().compactMap { line -> Int? in
                guard line.hasPrefix("211-PEER ") else { return nil }
                return Int(line.split(separator: " ")[2])
            }
        }
    }

    @Test("peers spread over three trackers; one is killed; the survivors answer right and drop its peers",
          .enabled(if: Launcher.binary != nil))
    func threeTrackers() async throws {
        let url = PostgresTestEnvironment.url(try PostgresTestEnvironment.requireURL(), schema: PostgresTestEnvironment.freshSchema())
        let temporary = try TemporaryFolder()
        defer { temporary.remove() }
        let trackers = [host(91), host(92), host(93)]
        var processes: [Process] = []
        for tracker in trackers {
            processes.append(try Launcher.launch(["server", "--host", tracker, "--port", "4444", "--db", url], home: temporary.path))
        }
        var peers: [Task<Void, any Error>] = []
        do {
            for tracker in trackers {
                let up = await eventually(within: .seconds(30)) {
                    (try? await Self.holders(of: "nothing", on: tracker)) != nil
                }
                #expect(up, "tracker \(tracker) did not start")
            }
            // Peer n (tcp port 6000 + n) registers on tracker n % 3, all sharing "shared.bin".
            let (registrations, registered) = AsyncStream.makeStream(of: String.self)
            var iterator = registrations.makeAsyncIterator()
            for number in 0..<6 {
                peers.append(Self.holdPeer(tracker: trackers[number % 3], tcpPort: 6000 + number, file: "shared.bin",
                                           registered: registered))
                // One at a time: the lookup order is the order of registration.
                let reply = await iterator.next()
                #expect(reply?.hasPrefix("200 HELLO") == true && reply?.hasSuffix("200 UPDATED 1 0") == true, "\(reply ?? "-")")
            }
            // At once on every tracker: every peer, in the order they registered.
            for tracker in trackers {
                #expect(try await Self.holders(of: "shared.bin", on: tracker) == Array(6000..<6006))
            }

            // Tracker 0 dies without a word. Its peers (6000, 6003) leave the survivors' lookups within 15 s.
            kill(processes[0].processIdentifier, SIGKILL)
            processes[0].waitUntilExit()
            let survivors = [trackers[1], trackers[2]]
            let expected = [6001, 6002, 6004, 6005]
            let clock = ContinuousClock()
            let killed = clock.now
            var wrong: [String] = []
            var converged = false
            // Polled by hand (no closure over the counters): every 100 ms for at most 15 s.
            while !converged, clock.now - killed < .seconds(15) {
                var all = true
                for tracker in survivors {
                    let seen = try await Self.holders(of: "shared.bin", on: tracker)
                    // Meanwhile every answer is the survivors' peers, perhaps with the dead tracker's: never
                    // anything else, never out of order.
                    if seen != Array(6000..<6006), seen != expected { wrong.append("\(tracker): \(seen)") }
                    if seen != expected { all = false }
                }
                converged = all
                if !all { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(converged, "after \(clock.now - killed)")
            #expect(wrong.isEmpty, "\(wrong)")
            // A peer registered on a survivor now is found on the other survivor at once.
            peers.append(Self.holdPeer(tracker: trackers[1], tcpPort: 6100, file: "shared.bin", registered: registered))
            _ = await iterator.next()
            #expect(try await Self.holders(of: "shared.bin", on: trackers[2]) == expected + [6100])
        } catch {
            Issue.record(error)
        }
        for peer in peers { peer.cancel() }
        for peer in peers { _ = try? await peer.value }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        for process in processes { _ = await Launcher.exitStatus(of: process) }
    }
}

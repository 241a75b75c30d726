import FerryPeer
import FerryTestSupport
import Foundation
import Testing

extension EndToEndTests {
    /// The README's three-terminal walk-through, run for real: its shell commands as written, its
    /// `ferry` commands as written but on this run's loopback addresses, and every line the README
    /// quotes (log lines, the prompt's answers, `ferry list`) compared with what the processes print.
    ///
    /// A documented line matches an actual one when they are equal after the run's addresses are
    /// written as the README's (127.0.0.1 the tracker, 127.0.0.2 and 127.0.0.3 the peers), with two
    /// placeholders: `…` stands for any text, and a duration (`in 5 ms`, `in 0.0 s`) for any duration.
    @Suite("the README's walk-through, run for real", .enabled(if: ProcessSignalTests.binary != nil))
    struct DocsCheckTests {
        static let readme: String = {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
        }()

        /// The lines of the first fenced block after the first line that contains `marker`.
        static func block(after marker: String) throws -> [String] {
            let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let start = try #require(lines.firstIndex { $0.contains(marker) }, "no \(marker.debugDescription) in README.md")
            let open = try #require(lines[start...].firstIndex { $0.hasPrefix("```") })
            let close = try #require(lines[(open + 1)...].firstIndex { $0.hasPrefix("```") })
            return Array(lines[(open + 1)..<close])
        }

        /// Whether `actual` is what `documented` says, placeholders allowed.
        static func matches(_ documented: String, _ actual: String) -> Bool {
            var pattern = NSRegularExpression.escapedPattern(for: documented)
            pattern = pattern.replacingOccurrences(of: "…", with: ".*")
            pattern = pattern.replacing(#/in \d+ ms/#, with: #"in \d+ ms"#)
            pattern = pattern.replacing(#/in \d+\\\.\d s/#, with: #"in \d+\.\d s"#)
            guard let regex = try? Regex("^" + pattern + "$") else { return false }
            // A result line shows a rate only when the transfer took long enough to measure one (on a
            // loaded or sanitized run, an 18-byte file can): a documented line without one matches
            // either way.
            let plain = documented.contains("B/s") ? actual : actual.replacing(#/, [0-9.]+ [KMGT]?i?B\/s/#, with: "")
            return plain.wholeMatch(of: regex) != nil
        }

        /// Lines whose order between parallel downloads is not fixed: a download's plain start line
        /// (`"x" from …`) and its result line.
        static func isUnordered(_ line: String) -> Bool {
            line.hasPrefix("✔") || line.hasPrefix("✘") || line.hasPrefix("=") || line.contains(#/^ +"[^"]*" /#)
        }

        /// Records an issue unless `actual` is `documented`, line by line, except that unordered lines
        /// may come in any order among themselves.
        static func expectLines(_ actual: [String], match documented: [String], _ what: String, anyOrder: Bool = false,
                                sourceLocation: SourceLocation = #_sourceLocation) {
            let isUnordered = { (line: String) in anyOrder || Self.isUnordered(line) }
            let (documentedOrdered, actualOrdered) = (documented.filter { !isUnordered($0) }, actual.filter { !isUnordered($0) })
            var unmatched = actual.filter(isUnordered)
            var problems: [String] = []
            for line in documented where isUnordered(line) {
                if let index = unmatched.firstIndex(where: { matches(line, $0) }) { unmatched.remove(at: index) } else {
                    problems.append("documented, not printed: \(line)")
                }
            }
            problems += unmatched.map { "printed, not documented: \($0)" }
            if documentedOrdered.count != actualOrdered.count
                || !zip(documentedOrdered, actualOrdered).allSatisfy({ matches($0, $1) }) {
                problems.append("lines differ")
            }
            if !problems.isEmpty {
                let text: String = "\(what): \(problems.joined(separator: "; "))\nREADME:\n\(documented.joined(separator: "\n"))\n"
                    + "printed:\n\(actual.joined(separator: "\n"))"
                Issue.record(Comment(rawValue: text), sourceLocation: sourceLocation)
            }
        }

        /// One terminal of the walk-through: a folder, and the processes it started.
        final class TerminalSession {
            var folder: String
            let home: String
            let addresses: [(run: String, documented: String)]
            var ferry: RunningFerry?

            init(folder: String, home: String, addresses: [(run: String, documented: String)]) {
                self.folder = folder
                self.home = home
                self.addresses = addresses
            }

            /// Runs the block's `$ ` lines: shell commands with `/bin/sh` (following a `cd`), and
            /// `ferry …` as a process with the README's addresses replaced by this run's, plus `extra`.
            func run(_ block: [String], extra: [String]) throws {
                for line in block where line.hasPrefix("$ ") {
                    let command = String(line.dropFirst(2))
                    if command.hasPrefix("ferry ") {
                        var arguments = command.split(separator: " ").dropFirst().map(String.init)
                        arguments = arguments.map { argument in
                            addresses.first { $0.documented == argument }?.run ?? argument
                        }
                        ferry = try RunningFerry(arguments + extra, in: folder, home: home)
                    } else {
                        let shell = Process()
                        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
                        shell.arguments = ["-c", command + " && pwd"]
                        shell.currentDirectoryURL = URL(fileURLWithPath: folder)
                        let output = Pipe()
                        shell.standardOutput = output
                        try shell.run()
                        let printed = output.fileHandleForReading.readDataToEndOfFile()
                        shell.waitUntilExit()
                        try #require(shell.terminationStatus == 0, "\(command) failed")
                        folder = String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                }
            }

            /// `text` with this run's addresses written as the README's.
            func documented(_ text: String) -> String {
                addresses.reduce(text) { $0.replacingOccurrences(of: $1.run, with: $1.documented) }
            }
        }

        static let protocolText: String = {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            return (try? String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)) ?? ""
        }()

        @Test("PROTOCOL.md's 416 examples are what a file server sends")
        func rangeRefusals() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let peer = try await TestPeer.start(host: host(133), tracker: tracker.endpoint, in: temporary,
                                                files: ["file1.txt": Array("hello from peer 2\n".utf8)])
            for request in ["GET 0 100 \"file1.txt\"", "GET 5 2 \"file1.txt\""] {
                let reply = try await RawClient.withConnection(host: host(133), port: 5555) { client in
                    try await client.send(request + "\n")
                    return try await client.readToEnd()
                }
                let line = String(decoding: reply.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
                #expect(line.hasPrefix("416 "), "\(line)")
                #expect(Self.protocolText.contains("`\(line.dropFirst(4))`"), "PROTOCOL.md does not quote \(line.debugDescription)")
            }
            await peer.kill()
            await tracker.stop()
        }

        @Test("the walk-through's commands print what the README says they print")
        func walkThrough() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let home = try temporary.subfolder("home")
            let (tracker, two, three) = (host(130), host(131), host(132))
            let peerAddresses = [(tracker, "127.0.0.1"), (two, "127.0.0.2"), (three, "127.0.0.3")]
            let server = TerminalSession(folder: temporary.path, home: home, addresses: [(tracker, "0.0.0.0")])
            let first = TerminalSession(folder: temporary.path, home: home, addresses: peerAddresses)
            let second = TerminalSession(folder: temporary.path, home: home, addresses: peerAddresses)
            let serverAddress = ["--server", "\(tracker):4444"]

            // Terminal 1: the tracker (the README's runs on 0.0.0.0; this one on its own address).
            try server.run(try Self.block(after: "**Terminal 1: the tracker**"), extra: ["--host", tracker])
            let trackerProcess = try #require(server.ferry)
            #expect(await trackerProcess.waitFor("tracker listening", inErrors: true))
            Self.expectLines(trackerProcess.errorLines.map(server.documented),
                             match: try Self.block(after: "**Terminal 1: the tracker**").filter { $0.hasPrefix("… ") },
                             "the tracker's log", anyOrder: true)

            // Terminal 2: the peer sharing two files; its log until it has announced them.
            let terminal2 = try Self.block(after: "**Terminal 2: a peer on 127.0.0.2")
            try first.run(terminal2, extra: serverAddress)
            let peer2 = try #require(first.ferry)
            #expect(await peer2.waitFor("announced 2 files", inErrors: true))
            // The servers start and the share is scanned at once: those lines come in any order.
            Self.expectLines(peer2.errorLines.map(first.documented), match: terminal2.filter { $0.hasPrefix("… ") },
                             "peer 2's log", anyOrder: true)
            // No terminal: no banner, no prompt.
            #expect(peer2.standardOutput.isEmpty, "\(peer2.standardOutput)")

            // Terminal 3: the peer that asks for both files.
            let terminal3 = try Self.block(after: "**Terminal 3: a peer on 127.0.0.3")
            try second.run(terminal3, extra: serverAddress)
            let peer3 = try #require(second.ferry)
            #expect(await peer3.waitFor("announced 1 file", inErrors: true))
            peer3.type("Send file1.txt, file2.md")
            #expect(await peer3.waitFor("files in place and verified"))
            let piped = peer3.outputLines.map(second.documented)
            // What the README shows without a terminal, line for line…
            Self.expectLines(piped, match: try Self.block(after: "Without a terminal"), "Send without a terminal")
            // …and on a terminal: the same lines, prompts and live progress aside.
            let onTerminal = terminal3.drop { !$0.hasPrefix("ferry> Send") }
                .map { $0.hasPrefix("ferry> ") ? String($0.dropFirst("ferry> ".count)) : $0 }
                .filter { $0 != "ferry>" && !$0.hasPrefix("Send ") }
            Self.expectLines(piped.filter { !$0.contains(#/^ +"[^"]*" /#) }, match: Array(onTerminal), "Send on a terminal")
            let info = try String(contentsOfFile: second.folder + "/downloads/info.txt", encoding: .utf8)
            #expect(second.documented(info) == onTerminal.prefix { !Self.isUnordered($0) }.joined(separator: "\n") + "\n")

            // A name nobody shares.
            let before = peer3.outputLines.count
            peer3.type("Send file3.txt")
            #expect(await eventually { peer3.outputLines.count >= before + 3 && peer3.standardOutput.hasSuffix("s)\n") })
            let notFound = try Self.block(after: "A name that no live peer").filter { $0 != "ferry> Send file3.txt" && $0 != "ferry>" }
                .map { $0.hasPrefix("ferry> ") ? String($0.dropFirst("ferry> ".count)) : $0 }
            Self.expectLines(Array(peer3.outputLines.dropFirst(before)).map(second.documented), match: notFound, "a name not found")

            // The same over UDP, once the first download is out of the way.
            try FileManager.default.removeItem(atPath: second.folder + "/downloads/file1.txt")
            let udpLine = try #require(Self.readme.firstMatch(of: #/`(✔ "file1.txt" [^`]*\(udp\)[^`]*)`/#)).1
            peer3.type("Send file1.txt via udp")
            #expect(await eventually { peer3.outputLines.filter { $0.contains("in place and verified") }.count == 3 })
            let udpResult = peer3.outputLines.map(second.documented).filter { $0.hasPrefix("✔") }.last ?? ""
            #expect(Self.matches(String(udpLine), udpResult), "README: \(udpLine)\nprinted: \(udpResult)")

            // `ferry list`, from the CLI reference, in this state.
            let list = try Self.block(after: "`ferry list` is the prompt's `list`")
            let listing = try CommandLineTests.run(["list"] + serverAddress)
            #expect(listing.status == 0)
            Self.expectLines(RunningFerry.lines(listing.output), match: list.filter { !$0.hasPrefix("$ ") }, "ferry list")

            // quit ends each peer with status 0; SIGTERM ends the tracker with status 0.
            peer3.type("quit")
            peer2.type("quit")
            #expect(await peer3.exitStatus() == 0)
            #expect(await peer2.exitStatus() == 0)
            #expect(await trackerProcess.stop() == 0)
        }
    }
}

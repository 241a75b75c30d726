import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEndTests {
    /// `ferry peer` at a terminal (a pseudo-terminal driven by the test): line editing and history at
    /// the `ferry>` prompt, log lines that never break into the prompt, `--log-file`. Issue 11, "The
    /// prompt". Runs the binary built next to the tests; skipped when it is not there.
    @Suite("the ferry> prompt on a terminal", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 2))))
    struct PromptTests {
        static let up = "\u{1B}[A"

        /// Starts `ferry peer` on a terminal against `tracker`, on host(`number`), at home in `home`.
        static func peer(_ tracker: TestTracker, host number: Int, home: String, _ extra: [String] = []) throws -> TerminalSession {
            try TerminalSession.start(ProcessSignalTests.binary!, [
                "peer", "--server", "127.0.0.1:\(tracker.port)", "--host", host(number), "--port", "5555",
                "--share", home + "/share", "--downloads", home + "/downloads",
            ] + extra, environment: TerminalSession.environment(home: home))
        }

        static func statusLines(_ session: TerminalSession, _ tracker: TestTracker) -> Int {
            session.transcript.components(separatedBy: "tracker 127.0.0.1:\(tracker.port):").count - 1
        }

        @Test("Up recalls the last command and Enter runs it; Ctrl-R finds one; the history is read again at the next start",
              .enabled(if: ProcessSignalTests.binary != nil))
        func history() async throws {
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            _ = try temporary.subfolder("share")

            let first = try Self.peer(tracker, host: 140, home: temporary.path)
            #expect(await first.waitFor("ferry> "))
            #expect(!first.isInLineMode, "libedit did not take the terminal")
            first.type("status\r")
            #expect(await first.waitFor("tracker 127.0.0.1:\(tracker.port):"))
            first.type(Self.up)
            #expect(await first.waitForPrompt("ferry> status"), "\(first.screen.visibleLines)")
            first.type("\r")
            #expect(await first.waitFor("tracker 127.0.0.1:\(tracker.port):", count: 2), "\(first.screen.visibleLines)")
            first.type("quit\r")
            #expect(await first.exitStatus() == 0)
            #expect(first.isInLineMode, "the terminal was not put back")
            #expect(!first.transcript.contains("unknown command"), "\(first.transcript)")
            await first.close()

            let historyFile = temporary.path + "/cache/ferry/history"
            let saved = try String(contentsOfFile: historyFile, encoding: .utf8)
            #expect(saved.contains("status") && saved.contains("quit"), "\(saved)")

            // Next start: the history is there; Ctrl-R finds `status`, Enter runs it; Ctrl-D quits.
            let second = try Self.peer(tracker, host: 140, home: temporary.path)
            #expect(await second.waitFor("ferry> "))
            second.type("\u{12}stat")
            #expect(await second.waitFor("status"), "\(second.screen.visibleLines)")
            second.type("\r")
            #expect(await second.waitFor("tracker 127.0.0.1:\(tracker.port):"), "\(second.screen.visibleLines)")
            second.type(Self.up + Self.up)
            #expect(await second.waitForPrompt("ferry> quit"), "\(second.screen.visibleLines)")
            second.type("\u{15}\u{04}")  // Ctrl-U empties the line, Ctrl-D on an empty line quits
            #expect(await second.exitStatus() == 0)
            #expect(second.isInLineMode)
            #expect(Self.statusLines(second, tracker) == 1, "\(second.screen.visibleLines)")
            await second.close()
            await tracker.stop()
        }

        @Test("a log line arriving while a command is typed goes above the prompt, which is drawn again with the text",
              .enabled(if: ProcessSignalTests.binary != nil))
        func logAbovePrompt() async throws {
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            _ = try temporary.subfolder("share")

            let session = try Self.peer(tracker, host: 141, home: temporary.path)
            #expect(await session.waitFor("ferry> "))
            #expect(await session.waitFor("connected to the tracker"))
            session.type("lis")
            #expect(await session.waitForPrompt("ferry> lis"), "\(session.screen.visibleLines)")
            // The tracker goes away: the peer logs a warning while "lis" is on the prompt.
            await tracker.stop()
            #expect(await session.waitFor("lost the tracker"))
            // One look at the screen once it shows both (more warnings follow as the peer retries).
            let seen = NIOLockedValueBox<[String]>([])
            let redrawn = await eventually {
                let lines = session.screen.visibleLines
                seen.withLockedValue { $0 = lines }
                return lines.last == "ferry> lis" && lines.contains { $0.contains("lost the tracker") }
            }
            let lines = seen.withLockedValue { $0 }
            #expect(redrawn, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("20") && $0.contains("warning ferry.peer:") }, "the log line does not start its row: \(lines)")
            // No prompt was left behind by the log lines that came before.
            #expect(lines.dropLast().allSatisfy { !$0.contains("ferry>") }, "\(lines)")

            // The typed text is still in the editor: "t" and Enter run `list`.
            session.type("t\r")
            #expect(await session.waitFor("list failed"), "\(session.screen.visibleLines)")
            session.type("quit\r")
            #expect(await session.exitStatus() == 0)
            await session.close()
        }

        @Test("after Ctrl-Z and fg the prompt takes the terminal back and edits again",
              .enabled(if: ProcessSignalTests.binary != nil))
        func continueAfterStop() async throws {
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            _ = try temporary.subfolder("share")

            let session = try Self.peer(tracker, host: 143, home: temporary.path)
            #expect(await session.waitFor("ferry> "))
            // SIGSTOP, not Ctrl-Z's SIGTSTP: the kernel drops SIGTSTP for a session of its own with no
            // shell above it (an orphaned process group). What matters is the SIGCONT after it.
            kill(session.processIdentifier, SIGSTOP)
            #expect(await eventually { session.isStopped })
            session.setLineMode()  // what a shell does when it takes the terminal back
            kill(session.processIdentifier, SIGCONT)
            #expect(await eventually { !session.isInLineMode }, "the editor did not set the terminal up again")
            session.type("status\r")
            #expect(await session.waitFor("tracker 127.0.0.1:\(tracker.port):"), "\(session.screen.visibleLines)")
            session.type("quit\r")
            #expect(await session.exitStatus() == 0)
            #expect(session.isInLineMode)
            await session.close()
            await tracker.stop()
        }

        @Test("--log-file receives the log lines and the terminal none of them", .enabled(if: ProcessSignalTests.binary != nil))
        func logFile() async throws {
            let tracker = try await TestTracker.start()
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            try write(Array("hello".utf8), to: try temporary.subfolder("share") + "/hello.txt")
            let log = temporary.path + "/peer.log"

            let session = try Self.peer(tracker, host: 142, home: temporary.path, ["--log-file", log])
            #expect(await session.waitFor("ferry> "))
            let logged = await eventually {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("announced 1 file")
            }
            #expect(logged)
            session.type("quit\r")
            #expect(await session.exitStatus() == 0)
            await session.close()
            await tracker.stop()

            let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            #expect(lines.contains { $0.contains("notice ferry.peer:") && $0.contains("connected to the tracker") }, "\(lines)")
            #expect(lines.allSatisfy { $0.hasPrefix("20") }, "\(lines)")
            let shown = session.transcript
            #expect(!shown.contains("ferry.peer:"), "\(shown)")
            #expect(!shown.contains("connected to the tracker"), "\(shown)")
            #expect(shown.contains("Ferry peer sharing"), "\(shown)")
        }

        @Test("--log-file that cannot be opened is a usage error naming the file", .enabled(if: ProcessSignalTests.binary != nil))
        func logFileUnopenable() throws {
            let result = try CommandLineTests.run(["server", "--log-file", "/nonexistent-folder/ferry.log"])
            #expect(result.status == 64)
            #expect(result.errors.contains("--log-file: cannot open the log file /nonexistent-folder/ferry.log"), "\(result.errors)")
        }
    }
}

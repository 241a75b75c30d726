import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EndToEndTests {
    /// The `ferry` executable itself under SIGINT and SIGTERM: exit statuses and what reaches the
    /// tracker. Runs the binary built next to the tests; skipped when it is not there.
    @Suite("ferry under signals", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct ProcessSignalTests {
        static let binary: String? = {
            let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            for candidate in [folder, folder.deletingLastPathComponent()] {
                let path = candidate.appendingPathComponent("ferry").path
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
            return nil
        }()

        /// Starts `ferry arguments…` with stdin closed and output discarded.
        static func launch(_ arguments: [String], home: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary!)
            process.arguments = arguments
            var environment = ["HOME": home, "PATH": "/usr/bin:/bin"]
            // A sanitized binary reads its options (CI turns leak detection off) from these.
            for name in ["ASAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS", "SWIFT_DEBUG_ENABLE_TASK_SLAB_ALLOCATOR"] {
                environment[name] = ProcessInfo.processInfo.environment[name]
            }
            process.environment = environment
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
            process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            return process
        }

        /// Waits for the process to exit, at most `limit`; kills it (SIGKILL) if it does not.
        static func exitStatus(of process: Process, within limit: Duration = .seconds(15)) async -> Int32? {
            let exited = await eventually(within: limit) { !process.isRunning }
            guard exited else {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            process.waitUntilExit()
            return process.terminationStatus
        }

        @Test("`ferry get` stopped by SIGINT exits 130, by SIGTERM 143", .enabled(if: binary != nil),
              arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
        func getExitStatus(signal: Int32, expected: Int32) async throws {
            // A tracker that accepts and never answers: the get waits for its lookup when the signal comes.
            let tracker = try await ScriptedTracker.start(.neverAnswer)
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let process = try Self.launch(["get", "a.txt", "--server", "127.0.0.1:\(tracker.port)",
                                           "--downloads", temporary.path + "/downloads"], home: temporary.path)
            let connected = await eventually { tracker.connections.count == 1 }
            kill(process.processIdentifier, signal)
            let status = await Self.exitStatus(of: process)
            await tracker.stop()
            #expect(connected)
            #expect(status == expected)
        }

        @Test("`ferry peer` stopped by SIGTERM says QUIT and exits 0", .enabled(if: binary != nil))
        func peerLeavesOnSIGTERM() async throws {
            let tracker = try await ScriptedTracker.start(.answer)
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let share = try temporary.subfolder("share")
            try write(Array("hello".utf8), to: share + "/hello.txt")
            let process = try Self.launch(["peer", "--server", "127.0.0.1:\(tracker.port)", "--host", host(71), "--port", "5555",
                                           "--share", share, "--downloads", temporary.path + "/downloads"], home: temporary.path)
            let announced = await eventually { tracker.connections.first?.lines.contains { $0.hasPrefix("FILE ") } ?? false }
            kill(process.processIdentifier, SIGTERM)
            let status = await Self.exitStatus(of: process)
            await tracker.stop()
            #expect(announced)
            #expect(status == 0)
            #expect(tracker.connections.first?.lines.last == "QUIT", "\(tracker.connections.first?.lines ?? [])")
            // The default hash cache under $HOME was closed: its write-ahead log is folded in (gone or truncated).
            let cache = temporary.path + "/.cache/ferry/hashes.sqlite"
            #expect(FileManager.default.fileExists(atPath: cache))
            #expect(walIsEmpty(cache))
        }
    }
}

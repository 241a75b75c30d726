import FerryTestSupport
import FerryPeer
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `ferry` process of the test's own, its stdout and stderr gathered as they come, its stdin a pipe
/// the test writes lines to (no terminal anywhere: what a script sees).
final class RunningFerry {
    private let process: Process
    private let input: FileHandle
    private let output = NIOLockedValueBox("")
    private let errors = NIOLockedValueBox("")

    /// Starts `ferry arguments…` in `folder`, with `home` as `$HOME` (so its hash cache is the test's).
    init(_ arguments: [String], in folder: String, home: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EndToEndTests.ProcessSignalTests.binary!)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        var environment = ["HOME": home, "PATH": "/usr/bin:/bin", "COLUMNS": "100"]
        for name in ["ASAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS", "SWIFT_DEBUG_ENABLE_TASK_SLAB_ALLOCATOR"] {
            environment[name] = ProcessInfo.processInfo.environment[name]
        }
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let output = self.output, errors = self.errors
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { output.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } }
        }
        stderr.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { errors.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } }
        }
        self.process = process
        self.input = stdin.fileHandleForWriting
        try process.run()
    }

    var standardOutput: String { output.withLockedValue { $0 } }
    var standardError: String { errors.withLockedValue { $0 } }

    /// Lines of stdout or stderr so far (a last line without its newline included).
    var outputLines: [String] { Self.lines(standardOutput) }
    var errorLines: [String] { Self.lines(standardError) }

    static func lines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Types `line` at the process's stdin.
    func type(_ line: String) {
        input.write(Data((line + "\n").utf8))
    }

    /// Waits until stdout or stderr contains `text`, at most `limit`.
    func waitFor(_ text: String, inErrors: Bool = false, within limit: Duration = .seconds(30)) async -> Bool {
        await eventually(within: limit) { (inErrors ? standardError : standardOutput).contains(text) }
    }

    /// Sends `signal` and waits for the exit, at most 15 s (then SIGKILL); the exit status, if it exited.
    func stop(_ signal: Int32 = SIGTERM) async -> Int32? {
        kill(process.processIdentifier, signal)
        return await EndToEndTests.ProcessSignalTests.exitStatus(of: process)
    }

    /// Closes stdin and waits for the exit, at most 15 s (then SIGKILL).
    func exitStatus() async -> Int32? {
        await EndToEndTests.ProcessSignalTests.exitStatus(of: process)
    }
}

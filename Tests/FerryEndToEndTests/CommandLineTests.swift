import FerryPeer
import FerryTestSupport
import Foundation
import Testing

extension EndToEndTests {
    /// The `ferry` executable's own command line: version and typos. Runs the binary built next to
    /// the tests; skipped when it is not there.
    @Suite("ferry's command line", .timeLimit(.minutes(1)))
    struct CommandLineTests {
        /// Runs `ferry arguments…` to its end; returns its status, stdout and stderr.
        static func run(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ProcessSignalTests.binary!)
            process.arguments = arguments
            var environment = ["PATH": "/usr/bin:/bin"]
            for name in ["ASAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS", "SWIFT_DEBUG_ENABLE_TASK_SLAB_ALLOCATOR"] {
                environment[name] = ProcessInfo.processInfo.environment[name]
            }
            process.environment = environment
            let output = Pipe(), errors = Pipe()
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
        }

        @Test("`ferry --version` prints the version", .enabled(if: ProcessSignalTests.binary != nil))
        func version() throws {
            let result = try Self.run(["--version"])
            #expect(result.status == 0)
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == FerryVersion.number)
        }

        @Test("a mistyped command gets the one it probably meant, exit status 64", .enabled(if: ProcessSignalTests.binary != nil))
        func typo() throws {
            let result = try Self.run(["serve", "--port", "4444"])
            #expect(result.status == 64)
            #expect(result.errors.contains("unknown command 'serve'; did you mean 'server'?"), "\(result.errors)")
            let unknown = try Self.run(["frobnicate"])
            #expect(unknown.status == 64)
            #expect(!unknown.errors.contains("did you mean"), "\(unknown.errors)")
        }
    }
}

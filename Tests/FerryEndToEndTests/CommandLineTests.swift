import FerryPeer
import FerryTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

extension EndToEndTests {
    /// The `ferry` executable's own command line: version and typos. Runs the binary built next to
    /// the tests; skipped when it is not there.
    @Suite("ferry's command line", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 1))))
    struct CommandLineTests {
        /// Runs `ferry arguments…` to its end; returns its status, stdout and stderr.
        static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ProcessSignalTests.binary!)
            process.arguments = arguments
            var environment = ["PATH": "/usr/bin:/bin"]
            for name in ["ASAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS", "SWIFT_DEBUG_ENABLE_TASK_SLAB_ALLOCATOR"] {
                environment[name] = ProcessInfo.processInfo.environment[name]
            }
            process.environment = environment.merging(extra) { $1 }
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

        @Test("`ferry --version` prints the version and the commit it was built from", .enabled(if: ProcessSignalTests.binary != nil))
        func version() throws {
            let result = try Self.run(["--version"])
            #expect(result.status == 0)
            let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            let prefix = FerryVersion.number + " (commit "
            #expect(text.hasPrefix(prefix) && text.hasSuffix(")"), "\(text)")
            let commit = String(text.dropFirst(prefix.count).dropLast())
            let hash = commit.hasSuffix("-modified") ? String(commit.dropLast("-modified".count)) : commit
            // The tests run from a checkout: when git can read it here, the build could too, and the
            // commit must be one of it.
            guard try Self.run(git: ["rev-parse", "HEAD"]) == 0 else {
                #expect(hash == "unknown", "\(text)")
                return
            }
            #expect(hash.count == 12 && hash.allSatisfy(\.isHexDigit), "\(text)")
            let known = try Self.run(git: ["cat-file", "-e", hash + "^{commit}"])
            #expect(known == 0, "\(hash) is not a commit of this checkout")
        }

        /// Runs git in the package's folder; its exit status.
        static func run(git arguments: [String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "-C", URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().path] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }

        static let helpCommands: [[String]] = [[], ["server"], ["peer"], ["get"], ["list"], ["demo"]]

        @Test("--help wraps at word boundaries at 80 and 100 columns and keeps commands whole",
              .enabled(if: ProcessSignalTests.binary != nil), arguments: helpCommands, [80, 100])
        func helpWraps(command: [String], columns: Int) throws {
            let help = try Self.run(command + ["--help"], environment: ["COLUMNS": "\(columns)"])
            #expect(help.status == 0)
            // The same help unwrapped: every word as written.
            let wide = try Self.run(command + ["--help"], environment: ["COLUMNS": "2000"])
            let words = Set(wide.output.split(whereSeparator: \.isWhitespace))
            let lines = help.output.split(separator: "\n", omittingEmptySubsequences: false)
            // The usage line is the parser's own, never wrapped.
            for line in lines where !line.hasPrefix("USAGE:") {
                #expect(line.count <= columns, "longer than \(columns): \(line)")
                #expect(line.filter { $0 == "`" }.count % 2 == 0, "a code span split: \(line)")
            }
            for (line, next) in zip(lines, lines.dropFirst()) {
                guard let last = line.split(separator: " ").last, let first = next.split(separator: " ").first else { continue }
                let joined = Substring(last + first)
                #expect(!(words.contains(joined) && !(words.contains(last) && words.contains(first))),
                        "a word split across lines: \(last) | \(first)")
            }
            // Commands and their arguments stay on one line.
            if command.isEmpty || command == ["peer"] {
                #expect(lines.contains { $0.contains("Send a.txt, b.md") }, "\(help.output)")
            }
            if command.isEmpty {
                #expect(lines.contains { $0.contains("ferry get a.txt b.md") }, "\(help.output)")
            }
            if command == ["peer"] {
                // --port's help, however it wraps, says that it serves TCP and UDP.
                let start = try #require(lines.firstIndex { $0.drop(while: { $0 == " " }).hasPrefix("--port") })
                let entry = lines[start...].prefix { $0 == lines[start] || !$0.drop(while: { $0 == " " }).hasPrefix("-") }
                #expect(entry.joined(separator: " ").split(separator: " ").joined(separator: " ").contains("over TCP and UDP"),
                        "\(entry)")
            }
        }

        /// A TCP port free on 127.0.0.1 a moment ago (from the kernel's ephemeral range).
        static func freePort() throws -> Int {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard socket >= 0 else { throw POSIXError(.EMFILE) }
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
            }
            guard bound else { throw POSIXError(.EADDRINUSE) }
            return Int(UInt16(bigEndian: address.sin_port))
        }

        // The README's first command. Not under a sanitizer: its 90 MB of sample files take minutes
        // there, and the same code runs in the end-to-end tests.
        @Test("`ferry demo` runs the whole walk through and exits 0, with nothing on stderr",
              .enabled(if: ProcessSignalTests.binary != nil && !Sanitizers.active))
        func demo() throws {
            let result = try Self.run(["demo", "--tracker-port", "\(try Self.freePort())", "--port", "\(try Self.freePort())"])
            #expect(result.status == 0, "\(result.output)\n\(result.errors)")
            #expect(result.output.contains("All 6 downloads arrived and match their SHA-256."), "\(result.output)")
            #expect(result.output.contains("then 127.0.0.3:"), "a failover is shown: \(result.output)")
            #expect(result.output.contains("over udp"), "\(result.output)")
            #expect(result.errors.isEmpty, "\(result.errors)")
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

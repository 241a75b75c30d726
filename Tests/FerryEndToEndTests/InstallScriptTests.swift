import FerryPeer
import FerryTestSupport
import Foundation
import Testing

extension EndToEndTests {
    /// `scripts/install.sh`: the binary and the completion scripts under a prefix, and the static
    /// release binary running with no Swift toolchain in sight. Issue 11, "Shipping".
    @Suite("scripts/install.sh", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 2))))
    struct InstallScriptTests {
        static let script: String? = {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            let path = root.appendingPathComponent("scripts/install.sh").path
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }()

        /// A binary from `swift build -c release --static-swift-stdlib`, named by the environment
        /// (a static release build takes many minutes, too long for every `swift test`).
        static let staticBinary: String? = ProcessInfo.processInfo.environment["FERRY_STATIC_BINARY"].flatMap {
            $0.isEmpty ? nil : $0
        }

        /// Runs `executable arguments…` with only `PATH=/usr/bin:/bin` and `HOME` (no toolchain, no
        /// `LD_LIBRARY_PATH`); returns its status and its output (stdout and stderr together).
        static func run(_ executable: String, _ arguments: [String], home: String) throws -> (status: Int32, output: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            var environment = ["PATH": "/usr/bin:/bin", "HOME": home]
            for name in ["ASAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"] {
                environment[name] = ProcessInfo.processInfo.environment[name]
            }
            process.environment = environment
            let output = Pipe()
            process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }

        /// Installs `binary` under `prefix` and checks what a user gets: the binary runs, and each
        /// shell's completion script is there and knows the subcommands.
        static func install(_ binary: String, prefix: String, home: String) throws {
            let installed = try run("/bin/bash", [script!, "--prefix", prefix, "--binary", binary], home: home)
            #expect(installed.status == 0, "\(installed.output)")
            let version = try run(prefix + "/bin/ferry", ["--version"], home: home)
            #expect(version.status == 0, "\(version.output)")
            #expect(version.output.hasPrefix(FerryVersion.number), "\(version.output)")
            for file in ["share/bash-completion/completions/ferry", "share/zsh/site-functions/_ferry",
                         "share/fish/vendor_completions.d/ferry.fish"] {
                let text = (try? String(contentsOfFile: prefix + "/" + file, encoding: .utf8)) ?? ""
                #expect(!text.isEmpty, "\(file) is missing or empty")
                #expect(text.contains("peer") && text.contains("server"), "\(file)")
            }
        }

        @Test("installs the binary and the bash, zsh and fish completions under a prefix",
              .enabled(if: ProcessSignalTests.binary != nil && script != nil))
        func installsUnderPrefix() throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            try Self.install(ProcessSignalTests.binary!, prefix: temporary.path + "/prefix", home: temporary.path)
            let refused = try Self.run("/bin/bash", [Self.script!, "--frobnicate"], home: temporary.path)
            #expect(refused.status == 64, "\(refused.output)")
        }

        @Test("the static release binary, installed, runs with no Swift toolchain on PATH and links no Swift library",
              .enabled(if: staticBinary != nil && script != nil,
                       "set FERRY_STATIC_BINARY to a binary from `swift build -c release --static-swift-stdlib` (see README, Install)"))
        func staticBinaryRunsAlone() throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let prefix = temporary.path + "/prefix"
            try Self.install(Self.staticBinary!, prefix: prefix, home: temporary.path)
            let help = try Self.run(prefix + "/bin/ferry", ["help", "peer"], home: temporary.path)
            #expect(help.status == 0 && help.output.contains("--share"), "\(help.output)")
            let libraries = try Self.run("/usr/bin/ldd", [prefix + "/bin/ferry"], home: temporary.path)
            #expect(libraries.status == 0, "\(libraries.output)")
            #expect(!libraries.output.contains("libswift") && !libraries.output.contains("libFoundation")
                    && !libraries.output.contains("not found"), "\(libraries.output)")
            #expect(libraries.output.contains("libedit"), "\(libraries.output)")
        }
    }
}

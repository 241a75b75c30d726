import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where log lines go, each a whole line written at once (swift-log's `StreamLogHandler` formats
/// them, as before):
/// - `--log-file PATH`: appended to that file, and none on the terminal;
/// - stderr and stdout both a terminal: through `ConsoleScreen` to stderr, above the live progress
///   lines and the prompt, which are drawn again after;
/// - otherwise: straight to stderr.
enum LogDestination {
    static func stream(logFile: LogFile?) -> any TextOutputStream & Sendable {
        if let logFile { return logFile }
        if isatty(STDERR_FILENO) == 1, Terminal.standardOutput.isInteractive { return ScreenLogStream() }
        return StandardErrorLogStream()
    }
}

/// Log lines through the console's one writer.
struct ScreenLogStream: TextOutputStream, Sendable {
    mutating func write(_ string: String) {
        ConsoleScreen.shared.write(string, to: .errors)
    }
}

/// Log lines straight to stderr, each in one write.
struct StandardErrorLogStream: TextOutputStream, Sendable {
    mutating func write(_ string: String) {
        ConsoleScreen.writeAll(.init(descriptor: STDERR_FILENO, bytes: Array(string.utf8)))
    }
}

/// A log file opened for appending (created 0644 if missing): each line is one `write(2)` with
/// `O_APPEND`, so lines of several processes logging to one file do not cut into each other. Never
/// synced: a log line costs what it costs on stderr.
final class LogFile: TextOutputStream, Sendable {
    let path: String
    private let descriptor: Int32

    /// Opens `path`; throws a message naming the file and the reason if it cannot.
    init(path: String) throws(CommandFailure) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CommandFailure("cannot open the log file \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    func write(_ string: String) {
        ConsoleScreen.writeAll(.init(descriptor: descriptor, bytes: Array(string.utf8)))
    }
}

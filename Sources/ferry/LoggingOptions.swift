import ArgumentParser
import Logging

/// `--log-level` and `--log-file`, shared by every subcommand that logs: logs go to stderr through
/// swift-log (above the live progress lines and the prompt on a terminal), or to a file.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: ArgumentHelp("Append log lines to this file instead of writing them to the terminal.",
                                            valueName: "path"))
    var logFile: String?

    func validate() throws {
        if let logFile {
            do { _ = try LogFile(path: logFile) } catch { throw ValidationError("--log-file: \(error)") }
        }
    }

    func makeLogger(label: String) -> Logger {
        // Checked by `validate()`; should it have gone since, the lines go to stderr after all.
        Self.makeLogger(label: label, level: logLevel, file: logFile.flatMap { try? LogFile(path: $0) })
    }

    /// Sets up swift-log for the process (once) and returns the command's logger. (A command that
    /// has no `LoggingOptions` of its own, `demo`, calls this: an option group made with `init()`
    /// instead of parsed has no values.)
    static func makeLogger(label: String, level: Logger.Level, file: LogFile?) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler(label: label, stream: LogDestination.stream(logFile: file))
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Standard output as a person sees it: whether it is a terminal, whether colour is welcome
/// (`NO_COLOR` honoured), and how wide it is.
struct Terminal: Sendable {
    let isInteractive: Bool
    let color: Bool

    static let standardOutput: Terminal = {
        let tty = isatty(STDOUT_FILENO) == 1
        let noColor = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        let dumb = ProcessInfo.processInfo.environment["TERM"] == "dumb"
        return Terminal(isInteractive: tty && !dumb, color: tty && !noColor && !dumb)
    }()

    var width: Int {
        var size = winsize()
        guard isInteractive, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 else { return 100 }
        return Int(size.ws_col)
    }

    /// Writes `text` to stdout, above the live progress lines and the prompt (see `ConsoleScreen`).
    func write(_ text: String) {
        ConsoleScreen.shared.write(text)
    }
}

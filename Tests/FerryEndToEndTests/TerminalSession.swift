import FerryTestSupport
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A `ferry` process on a pseudo-terminal, as a person at a terminal runs it: the pty is its
/// stdin, stdout, stderr and controlling terminal (its own session), so the line editor starts and
/// Ctrl-C reaches it as SIGINT. Everything it writes is kept (a thread reads the pty's master side)
/// and can be played on a `VirtualTerminal`.
final class TerminalSession: Sendable {
    let processIdentifier: pid_t
    let columns: Int
    let rows: Int
    private let master: Int32
    /// The pty's terminal side, held open by the test so that its modes can be read after the
    /// process exits.
    private let terminal: Int32
    private let output = NIOLockedValueBox<[UInt8]>([])
    private let status = NIOLockedValueBox<Int32?>(nil)
    private let reading = NIOLockedValueBox(true)
    private let readerDone = NIOLockedValueBox(false)

    private init(processIdentifier: pid_t, master: Int32, terminal: Int32, columns: Int, rows: Int) {
        self.processIdentifier = processIdentifier
        self.master = master
        self.terminal = terminal
        self.columns = columns
        self.rows = rows
    }

    // Linux's values, from <asm-generic/ioctls.h> and glibc's <spawn.h> (function-like macros and
    // GNU extensions that Swift does not import).
    private static let getNumber: UInt = 0x8004_5430  // TIOCGPTN
    private static let setLock: UInt = 0x4004_5431  // TIOCSPTLCK
    private static let spawnSetSID: Int32 = 0x80  // POSIX_SPAWN_SETSID

    /// Starts `binary arguments…` on a new pty of `columns` × `rows` with exactly `environment`.
    static func start(_ binary: String, _ arguments: [String], environment: [String: String],
                      columns: Int = 120, rows: Int = 40) throws -> TerminalSession {
        // posix_openpt, unlockpt and ptsname are hidden from Swift's Glibc module (they need
        // _XOPEN_SOURCE): the same through /dev/ptmx and its ioctls (grantpt does nothing on devpts).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0, number: UInt32 = 0
        guard master >= 0, ioctl(master, Self.setLock, &unlock) == 0, ioctl(master, Self.getNumber, &number) == 0 else {
            throw POSIXError(.ENXIO)
        }
        let path = "/dev/pts/\(number)"
        var size = winsize(ws_row: UInt16(rows), ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        let terminal = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard terminal >= 0 else { throw POSIXError(.ENXIO) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        // After setsid (an attribute, applied first), opening the pty makes it the controlling terminal.
        posix_spawn_file_actions_addopen(&actions, 0, path, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(Self.spawnSetSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, binary, &actions, &attributes, argv, envp)
        for pointer in argv + envp { free(pointer) }
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
        guard spawned == 0 else {
            Glibc.close(master)
            Glibc.close(terminal)
            throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL)
        }
        let session = TerminalSession(processIdentifier: pid, master: master, terminal: terminal, columns: columns, rows: rows)
        let reader = Thread { session.readOutput() }
        reader.start()
        return session
    }

    /// The environment a test gives `ferry` on a terminal: `HOME` and the cache under `home`, a
    /// terminal type libedit knows, and the sanitizers' options.
    static func environment(home: String) -> [String: String] {
        var environment = ["HOME": home, "XDG_CACHE_HOME": home + "/cache", "PATH": "/usr/bin:/bin",
                           "TERM": "xterm", "LANG": "C.UTF-8"]
        for name in ["ASAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS", "SWIFT_DEBUG_ENABLE_TASK_SLAB_ALLOCATOR"] {
            environment[name] = ProcessInfo.processInfo.environment[name]
        }
        return environment
    }

    private func readOutput() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while reading.withLockedValue({ $0 }) {
            var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready < 0, errno != EINTR { break }
            guard ready > 0 else { continue }
            let count = read(master, &buffer, buffer.count)
            if count > 0 {
                output.withLockedValue { $0 += buffer[..<count] }
            } else if count < 0, errno == EINTR || errno == EAGAIN {
                continue
            } else {
                break
            }
        }
        readerDone.withLockedValue { $0 = true }
    }

    /// Types `text` (escape sequences and control characters included).
    func type(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Everything written to the terminal so far.
    var transcript: String { String(decoding: output.withLockedValue { $0 }, as: UTF8.self) }

    /// The screen after everything written so far.
    var screen: VirtualTerminal {
        var screen = VirtualTerminal(columns: columns, rows: rows)
        screen.feed(output.withLockedValue { $0 })
        return screen
    }

    /// Waits until the transcript holds `text` at least `count` times (at most `limit`).
    func waitFor(_ text: String, count: Int = 1, within limit: Duration = .seconds(20)) async -> Bool {
        await eventually(within: limit) { transcript.components(separatedBy: text).count - 1 >= count }
    }

    /// Waits until the screen's last row that is not blank is `line` (at most `limit`).
    func waitForPrompt(_ line: String, within limit: Duration = .seconds(20)) async -> Bool {
        await eventually(within: limit) { screen.visibleLines.last == line }
    }

    /// Whether the terminal is in its usual line mode (canonical input, echo), as a shell expects it.
    var isInLineMode: Bool {
        var modes = termios()
        guard tcgetattr(terminal, &modes) == 0 else { return false }
        return modes.c_lflag & tcflag_t(ICANON) != 0 && modes.c_lflag & tcflag_t(ECHO) != 0
    }

    /// Puts the terminal in line mode, as a shell does when a job it ran stops.
    func setLineMode() {
        var modes = termios()
        guard tcgetattr(terminal, &modes) == 0 else { return }
        modes.c_lflag |= tcflag_t(ICANON | ECHO)
        _ = tcsetattr(terminal, TCSANOW, &modes)
    }

    /// Whether the process is stopped (by SIGTSTP, say), from `/proc`.
    var isStopped: Bool {
        let stat = (try? String(contentsOfFile: "/proc/\(processIdentifier)/stat", encoding: .utf8)) ?? ""
        return stat.split(separator: ")").last.map { $0.hasPrefix(" T") } ?? false
    }

    /// Waits for the process to exit (at most `limit`, then SIGKILL); its exit status, or 128 + the
    /// signal that ended it, or `nil` if it had to be killed.
    func exitStatus(within limit: Duration = .seconds(20)) async -> Int32? {
        let exited = await eventually(within: limit) { reap() }
        if !exited {
            kill(processIdentifier, SIGKILL)
            _ = await eventually(within: .seconds(5)) { reap() }
            return nil
        }
        return status.withLockedValue { $0 }
    }

    private func reap() -> Bool {
        if status.withLockedValue({ $0 }) != nil { return true }
        var raw: Int32 = 0
        guard waitpid(processIdentifier, &raw, WNOHANG) == processIdentifier else { return false }
        let code = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        status.withLockedValue { $0 = code }
        return true
    }

    /// Ends the session: kills the process if it still runs, stops reading, closes the pty.
    func close() async {
        if !reap() {
            kill(processIdentifier, SIGKILL)
            _ = await eventually(within: .seconds(5)) { reap() }
        }
        reading.withLockedValue { $0 = false }
        _ = await eventually(within: .seconds(5)) { readerDone.withLockedValue { $0 } }
        Glibc.close(master)
        Glibc.close(terminal)
    }
}

import CEditLine
import FerryPeer
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `ferry>` prompt on a terminal, edited with libedit: arrow keys, Home/End, Ctrl-A/E/K/U/W,
/// Up/Down through the history, Ctrl-R to search it (and whatever `~/.editrc` binds). The history
/// is kept in a file (one line per command, libedit's format) and read again at the next start.
///
/// libedit reads the keyboard with a blocking call, so it runs on a thread of its own, never on the
/// concurrency pool or an event loop; lines reach the console through `lines`. Its read function
/// waits for a key or for output from `ConsoleScreen`: output is put out there, on this thread,
/// with the prompt taken away first and drawn again after (libedit is not thread-safe, so no other
/// thread calls it). `stop()` ends it and puts the terminal back as it was.
final class LineEditor: @unchecked Sendable {
    // Unchecked: `editLine` and `history` are used by the editor's thread only (after `start` made
    // them); the other members are constants, or locked.

    /// What was typed, one line per Enter (Ctrl-D on an empty line ends the stream).
    let lines: AsyncStream<String>

    private let continuation: AsyncStream<String>.Continuation
    private let editLine: OpaquePointer
    private let history: OpaquePointer
    private let historyPath: String?
    private let screen: ConsoleScreen
    /// The prompt, NUL-terminated wide characters that libedit reads for as long as it runs.
    private let prompt: UnsafeMutableBufferPointer<wchar_t>
    private let promptWidth: Int
    /// Written to (one byte) to wake the editor's thread: output is waiting, or it must stop.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    private struct State {
        var stopping = false
        /// SIGCONT came: the process was stopped (Ctrl-Z) and a shell may have reset the terminal.
        var continued = false
        var ended = false
        var endedByUser = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = NIOLockedValueBox(State())
    private let continuedSource = NIOLockedValueBox<(any DispatchSourceSignal)?>(nil)

    /// The most lines the history keeps.
    static let historySize: Int32 = 1000

    /// Starts editing at `prompt` if stdin and stdout are a terminal that can do it (not
    /// `TERM=dumb`); otherwise returns `nil` and the console reads plain lines.
    static func start(prompt: String, historyPath: String?, screen: ConsoleScreen = .shared) -> LineEditor? {
        guard isatty(STDIN_FILENO) == 1, isatty(STDOUT_FILENO) == 1,
              ProcessInfo.processInfo.environment["TERM"].map({ $0 != "dumb" && !$0.isEmpty }) ?? false
        else { return nil }
        useUTF8Characters()
        var modes = termios()
        if tcgetattr(STDIN_FILENO, &modes) == 0 { savedModes.withLockedValue { $0 = modes } }
        guard let editLine = ferry_el_init("ferry") else { return nil }
        guard let history = history_winit() else {
            el_end(editLine)
            return nil
        }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            history_wend(history)
            el_end(editLine)
            return nil
        }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        let editor = LineEditor(editLine: editLine, history: history, historyPath: historyPath, screen: screen,
                                prompt: prompt, wakeRead: pipeEnds[0], wakeWrite: pipeEnds[1])
        editor.configure()
        screen.attach { [wakeWrite = pipeEnds[1]] in
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)  // full pipe: a wake-up is already waiting
        }
        // After Ctrl-Z and `fg`, the shell has put the terminal back in line mode: the editor's thread
        // sets it up again and redraws the prompt.
        let continued = DispatchSource.makeSignalSource(signal: SIGCONT, queue: .global())
        continued.setEventHandler { [wakeWrite = pipeEnds[1]] in
            editor.state.withLockedValue { $0.continued = true }
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
        continued.resume()
        editor.continuedSource.withLockedValue { $0 = continued }
        let thread = Thread { editor.readLines() }
        thread.name = "ferry.prompt"
        thread.start()
        return editor
    }

    private init(editLine: OpaquePointer, history: OpaquePointer, historyPath: String?, screen: ConsoleScreen,
                 prompt: String, wakeRead: Int32, wakeWrite: Int32) {
        (lines, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        self.editLine = editLine
        self.history = history
        self.historyPath = historyPath
        self.screen = screen
        let characters = prompt.unicodeScalars.map { wchar_t(bitPattern: $0.value) } + [0]
        self.prompt = .allocate(capacity: characters.count)
        _ = self.prompt.initialize(from: characters)
        self.promptWidth = Self.columns(characters.dropLast())
        self.wakeRead = wakeRead
        self.wakeWrite = wakeWrite
    }

    deinit {
        prompt.deallocate()
        close(wakeRead)
        close(wakeWrite)
    }

    /// The terminal's settings before the editor changed them, while it runs.
    private static let savedModes = NIOLockedValueBox<termios?>(nil)

    /// Puts the terminal's settings back as they were before the editor started, if it runs: for
    /// a process about to end at once (a second SIGINT), which leaves the editor no time to.
    static func restoreTerminal() {
        guard var modes = savedModes.withLockedValue({ $0 }) else { return }
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &modes)
    }

    /// Whether the user ended the prompt (Ctrl-D on an empty line) rather than `stop()`.
    var endedByUser: Bool { state.withLockedValue { $0.endedByUser } }

    /// Ends the prompt: the editor's thread takes the prompt off the screen, puts the terminal back
    /// as it was and hands output back to `ConsoleScreen`. Returns when that is done.
    func stop() async {
        let ended = state.withLockedValue { state in
            state.stopping = true
            return state.ended
        }
        guard !ended else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let ended = state.withLockedValue { state in
                if !state.ended { state.waiters.append(waiter) }
                return state.ended
            }
            if ended { waiter.resume() }
        }
    }

    private func configure() {
        ferry_el_set_client_data(editLine, Unmanaged.passUnretained(self).toOpaque())
        ferry_el_set_prompt(editLine) { editLine in
            guard let editor = LineEditor.of(editLine) else { return nil }
            return editor.prompt.baseAddress
        }
        ferry_el_set_read_function(editLine) { editLine, character in
            guard let editor = LineEditor.of(editLine), let character else { return -1 }
            return editor.readCharacter(into: character)
        }
        // SIGINT and SIGTERM stay with the command (ShutdownSignals, the service group); the tty's
        // own Ctrl-C still sends SIGINT, as libedit keeps ISIG on.
        ferry_el_set_signal(editLine, 0)
        wide("emacs") { ferry_el_set_editor(editLine, $0) }
        for (key, command) in [("^R", "em-inc-search-prev"), ("^W", "ed-delete-prev-word"),
                               ("\\e[1;5D", "ed-prev-word"), ("\\e[1;5C", "em-next-word")] {
            wide(key) { key in wide(command) { ferry_el_bind(editLine, key, $0) } }
        }
        _ = el_source(editLine, nil)  // ~/.editrc, as every libedit program reads it
        ferry_history_set_size(history, Self.historySize)
        ferry_history_set_unique(history, 1)
        if let historyPath { _ = ferry_history_load(history, historyPath) }
        ferry_el_set_history(editLine, history)
    }

    private static func of(_ editLine: OpaquePointer?) -> LineEditor? {
        guard let editLine, let data = ferry_el_client_data(editLine) else { return nil }
        return Unmanaged<LineEditor>.fromOpaque(data).takeUnretainedValue()
    }

    /// The editor's thread: one line per Enter, until Ctrl-D or `stop()`.
    private func readLines() {
        var count: Int32 = 0
        while !state.withLockedValue({ $0.stopping }) {
            guard let line = el_wgets(editLine, &count), count > 0 else { break }
            var characters = Array(UnsafeBufferPointer(start: line, count: Int(count)))
            while let last = characters.last, last == 0x0A || last == 0x0D { characters.removeLast() }
            let text = String(String.UnicodeScalarView(characters.compactMap { Unicode.Scalar(UInt32(bitPattern: $0)) }))
            if !text.allSatisfy(\.isWhitespace) {
                ferry_history_enter(history, characters + [0])
                if let historyPath { _ = ferry_history_save(history, historyPath) }
            }
            continuation.yield(text)
        }
        let byUser = !state.withLockedValue { $0.stopping }
        continuedSource.withLockedValue { $0?.cancel() }
        el_end(editLine)  // the terminal's settings as they were
        Self.savedModes.withLockedValue { $0 = nil }
        history_wend(history)
        screen.detach()
        let waiters = state.withLockedValue { state in
            state.ended = true
            state.endedByUser = byUser
            let waiters = state.waiters
            state.waiters = []
            return waiters
        }
        continuation.finish()
        for waiter in waiters { waiter.resume() }
    }

    /// libedit's read function: the next character typed, decoded from UTF-8 (1), or the end (0).
    /// While it waits, output queued by `ConsoleScreen` is put out above the prompt.
    private func readCharacter(into character: UnsafeMutablePointer<wchar_t>) -> Int32 {
        while true {
            var descriptors = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if poll(&descriptors, 2, -1) < 0 {
                if errno == EINTR { continue }
                return -1
            }
            if descriptors[1].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drained, drained.count) > 0 {}
                if state.withLockedValue({ $0.stopping }) {
                    putOut(screen.takePending(), redraw: false)
                    return 0
                }
                if state.withLockedValue({ state in defer { state.continued = false }; return state.continued }) {
                    ferry_el_prepare_terminal(editLine, 0)
                    ferry_el_prepare_terminal(editLine, 1)
                    // The shell wrote below the prompt: draw it again where the cursor is now.
                    for chunk in screen.takePending() { ConsoleScreen.writeAll(chunk) }
                    ferry_el_refresh(editLine)
                    continue
                }
                putOut(screen.takePending(), redraw: true)
                continue
            }
            if descriptors[0].revents != 0 {
                guard let scalar = readScalar() else { return 0 }
                character.pointee = wchar_t(bitPattern: scalar.value)
                return 1
            }
        }
    }

    /// Takes the prompt off the screen, writes `chunks`, and draws the prompt and the typed text
    /// again (`redraw`) or leaves the screen without them (the editor is ending).
    private func putOut(_ chunks: [ConsoleScreen.Chunk], redraw: Bool) {
        guard !chunks.isEmpty || !redraw else { return }
        ferry_flush_standard_output()  // what libedit buffered goes first
        var erase = ConsoleScreen.Chunk(descriptor: STDOUT_FILENO, bytes: [])
        if let info = el_wline(editLine)?.pointee, let buffer = info.buffer, let cursor = info.cursor {
            let typed = Self.columns(UnsafeBufferPointer(start: buffer, count: buffer.distance(to: cursor)))
            erase.bytes = Array(LiveRegion.erasePrompt(cursorColumn: promptWidth + typed, width: Self.width()).utf8)
        }
        ConsoleScreen.writeAll(erase)
        for chunk in chunks { ConsoleScreen.writeAll(chunk) }
        if redraw {
            el_resize(editLine)  // the terminal may have been resized meanwhile
            ferry_el_refresh(editLine)
        }
    }

    /// One character from stdin, decoded from UTF-8 (U+FFFD for a malformed sequence); `nil` at
    /// the end of input.
    private func readScalar() -> Unicode.Scalar? {
        guard let first = readByte() else { return nil }
        let length = first < 0x80 ? 1 : first >= 0xF0 && first < 0xF8 ? 4 : first >= 0xE0 ? 3 : first >= 0xC0 ? 2 : 0
        guard length > 1 else { return length == 1 ? Unicode.Scalar(first) : "\u{FFFD}" }
        var bytes = [first]
        for _ in 1..<length {
            guard let next = readByte() else { return nil }
            bytes.append(next)
            guard next & 0xC0 == 0x80 else { return "\u{FFFD}" }
        }
        var decoded = String(decoding: bytes, as: UTF8.self).unicodeScalars
        return decoded.count == 1 ? decoded.removeFirst() : "\u{FFFD}"
    }

    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let count = read(STDIN_FILENO, &byte, 1)
            if count == 1 { return byte }
            if count < 0, errno == EINTR { continue }
            return nil
        }
    }

    /// The terminal's width in columns (80 if it cannot be told).
    private static func width() -> Int {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// How many columns `characters` take on the terminal (wide characters two, combining ones none).
    private static func columns<C: Collection>(_ characters: C) -> Int where C.Element == wchar_t {
        characters.reduce(0) { $0 + max(0, Int(ferry_character_width($1))) }
    }

    /// libedit shows and reads characters in the C library's encoding: UTF-8, whatever the locale
    /// says (`C`/`POSIX` included), so that names with accents can be typed.
    private static func useUTF8Characters() {
        if setlocale(LC_CTYPE, "") == nil || nl_langinfo(nl_item(CODESET)).map({ String(cString: $0) }) != "UTF-8" {
            _ = setlocale(LC_CTYPE, "C.UTF-8")
        }
    }
}

/// Calls `body` with `text` as NUL-terminated wide characters.
@discardableResult
private func wide<Result>(_ text: String, _ body: (UnsafePointer<wchar_t>) -> Result) -> Result {
    let characters = text.unicodeScalars.map { wchar_t(bitPattern: $0.value) } + [0]
    return characters.withUnsafeBufferPointer { body($0.baseAddress!) }
}

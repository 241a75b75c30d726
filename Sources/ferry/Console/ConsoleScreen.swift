import FerryPeer
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one writer of everything a `ferry` process shows on its terminal: messages and results
/// (stdout), log lines (stderr, when it is the terminal too), the live progress lines and, while a
/// line editor runs, the prompt. Text goes above the live lines, which go above the prompt; the
/// live lines and the prompt are drawn again after it, so that nothing printed from another task
/// or thread ever lands inside them.
///
/// Without a line editor, each write goes out at once, in order, under a lock. While a line editor
/// runs (`attach`), writes are queued and the editor's thread puts them out between keystrokes: it
/// alone touches libedit's state, which is not thread-safe.
final class ConsoleScreen: Sendable {
    enum Stream: Sendable {
        case output
        case errors

        var descriptor: Int32 { self == .output ? STDOUT_FILENO : STDERR_FILENO }
    }

    /// Bytes for one file descriptor, in the order they must be written.
    struct Chunk: Sendable {
        var descriptor: Int32
        var bytes: [UInt8]
    }

    /// The most that waits for the editor's thread (which is busy only while a key is handled, or
    /// during a Ctrl-R search). Past it, writes go out at once: the prompt may then be drawn over,
    /// but output is neither lost nor held without bound.
    static let pendingLimit = 1 << 20

    private struct State {
        var region = LiveRegion()
        /// Set while a line editor draws the prompt: called after writes are queued.
        var wake: (@Sendable () -> Void)?
        var pending: [Chunk] = []
        var pendingBytes = 0
    }

    static let shared = ConsoleScreen()

    private let state = NIOLockedValueBox(State())

    /// Writes `text` above the live lines (and the prompt) to stdout or stderr.
    func write(_ text: String, to stream: Stream = .output) {
        guard !text.isEmpty else { return }
        state.withLockedValue { state in
            var text = text
            // The prompt is drawn again from column 0 of a fresh row.
            if state.wake != nil, !text.hasSuffix("\n") { text += "\n" }
            let chunks = [
                Chunk(descriptor: STDOUT_FILENO, bytes: Array(state.region.clear().utf8)),
                Chunk(descriptor: stream.descriptor, bytes: Array(text.utf8)),
                Chunk(descriptor: STDOUT_FILENO, bytes: Array(state.region.draw().utf8)),
            ]
            emit(chunks, &state)
        }
    }

    /// Shows `lines` as `owner`'s block of live lines (an empty list removes it).
    func show(_ lines: [String], for owner: ObjectIdentifier) {
        state.withLockedValue { state in
            emit([Chunk(descriptor: STDOUT_FILENO, bytes: Array(state.region.show(lines, for: owner).utf8))], &state)
        }
    }

    /// From now on writes are queued for a line editor, which `wake` tells.
    func attach(wake: @escaping @Sendable () -> Void) {
        state.withLockedValue { $0.wake = wake }
    }

    /// The queued writes, for the line editor to put out (after taking its prompt away).
    func takePending() -> [Chunk] {
        state.withLockedValue { state in
            let pending = state.pending
            state.pending = []
            state.pendingBytes = 0
            return pending
        }
    }

    /// Back to writing at once: what is still queued goes out first.
    func detach() {
        state.withLockedValue { state in
            state.wake = nil
            for chunk in state.pending { Self.writeAll(chunk) }
            state.pending = []
            state.pendingBytes = 0
        }
    }

    private func emit(_ chunks: [Chunk], _ state: inout State) {
        let chunks = chunks.filter { !$0.bytes.isEmpty }
        guard !chunks.isEmpty else { return }
        let size = chunks.reduce(0) { $0 + $1.bytes.count }
        guard let wake = state.wake, state.pendingBytes + size <= Self.pendingLimit else {
            for chunk in state.pending + chunks { Self.writeAll(chunk) }
            state.pending = []
            state.pendingBytes = 0
            return
        }
        state.pending += chunks
        state.pendingBytes += size
        wake()
    }

    /// Writes every byte of `chunk`, going on after interruptions; gives up on any other error (a
    /// closed terminal has no one to tell).
    static func writeAll(_ chunk: Chunk) {
        var bytes = chunk.bytes[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { systemWrite(chunk.descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            bytes = bytes.dropFirst(written)
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif

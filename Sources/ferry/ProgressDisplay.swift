import FerryPeer
import FerryWire
import NIOConcurrencyHelpers

/// Shows downloads while they run: on a terminal, one live line per file (name, peer, bytes, rate,
/// ETA) redrawn in place; otherwise plain lines, at most one per file per second. Result lines go
/// above the live lines as files finish.
final class ProgressDisplay: Sendable {
    private struct Transfer {
        var name: String
        var peer: String
        var transport: Transport
        var received: UInt64
        var size: UInt64
        var rate: Double = 0
        var sampleAt: ContinuousClock.Instant
        var sampleBytes: UInt64
        var lastPlainLine: ContinuousClock.Instant?
        /// A swarm download: how many sources are fetching now.
        var sources: Int?
    }

    private struct State {
        var transfers: [String: Transfer] = [:]
        var order: [String] = []
        var lastDraw: ContinuousClock.Instant?
    }

    private let terminal: Terminal
    private let state = NIOLockedValueBox(State())

    init(terminal: Terminal = .standardOutput) {
        self.terminal = terminal
    }

    func handle(_ event: DownloadEvent) {
        let now = ContinuousClock.now
        state.withLockedValue { state in
            switch event {
            case .attemptStarted(let name, let peer, let transport, let offset, let size):
                if state.transfers[name] == nil { state.order.append(name) }
                state.transfers[name] = Transfer(name: name, peer: peer, transport: transport, received: offset, size: size,
                                                 sampleAt: now, sampleBytes: offset)
                if !terminal.isInteractive {
                    emit("  \(quoted(name)) from \(peer) (\(transport.rawValue))" + (offset > 0 ? ", resuming at \(ByteCount.format(offset))" : ""), &state)
                } else if offset > 0 {
                    emit("  \(quoted(name)) resuming at \(ByteCount.format(offset)) from \(peer) (\(transport.rawValue))", &state)
                }
                draw(&state, now: now, force: true)
            case .progress(let name, let received, let size):
                guard var transfer = state.transfers[name] else { return }
                transfer.received = received
                transfer.size = size
                let elapsed = (now - transfer.sampleAt).seconds
                if elapsed >= 0.25 {
                    let instant = Double(received - min(received, transfer.sampleBytes)) / elapsed
                    transfer.rate = transfer.rate == 0 ? instant : 0.7 * transfer.rate + 0.3 * instant
                    transfer.sampleAt = now
                    transfer.sampleBytes = received
                }
                if !terminal.isInteractive, transfer.lastPlainLine.map({ (now - $0).seconds >= 1 }) ?? true {
                    transfer.lastPlainLine = now
                    state.transfers[name] = transfer
                    emit("  " + line(for: transfer), &state)
                    return
                }
                state.transfers[name] = transfer
                draw(&state, now: now, force: false)
            case .sources(let name, let active, let received, let size):
                if state.transfers[name] == nil {
                    state.order.append(name)
                    state.transfers[name] = Transfer(name: name, peer: "", transport: .tcp, received: received, size: size,
                                                     sampleAt: now, sampleBytes: received)
                }
                // The first time sources are at work, a plain line says how many (none are, the
                // moment a swarm starts).
                if !active.isEmpty, state.transfers[name]!.sources == nil {
                    if !terminal.isInteractive {
                        emit("  \(quoted(name)) from \(counted(active.count, "source"))"
                             + (received > 0 ? ", resuming with \(ByteCount.format(received)) verified" : ""), &state)
                    } else if received > 0 {
                        emit("  \(quoted(name)) resuming with \(ByteCount.format(received)) verified", &state)
                    }
                }
                if !active.isEmpty || state.transfers[name]!.sources != nil {
                    state.transfers[name]!.sources = active.count
                }
                draw(&state, now: now, force: false)
            case .attemptFailed(let name, let attempt):
                let next = state.transfers[name]?.sources != nil ? "the other sources go on" : "trying the next peer"
                emit("  \(quoted(name)): \(attempt.peer) (\(attempt.transport.rawValue)) \(attempt.error?.rawValue ?? "failed") after \(ByteCount.format(attempt.bytes)); \(next)", &state)
            case .finished(let outcome):
                state.transfers[outcome.name] = nil
                state.order.removeAll { $0 == outcome.name }
                emit(TransferReport.resultText(outcome, color: terminal.color), &state)
            }
        }
    }

    /// Prints a line above the live lines.
    private func emit(_ text: String, _ state: inout State) {
        terminal.write(text + "\n")
        draw(&state, now: .now, force: true)
    }

    /// Shows this display's live lines (one per running file, cut to the terminal's width) through
    /// the console's one writer, which keeps them below everything printed and above the prompt.
    private func draw(_ state: inout State, now: ContinuousClock.Instant, force: Bool) {
        guard terminal.isInteractive else { return }
        if !force, let last = state.lastDraw, (now - last).seconds < 0.1 { return }
        let width = terminal.width - 1
        let lines = state.order.compactMap { state.transfers[$0].map { String(line(for: $0).prefix(width)) } }
        ConsoleScreen.shared.show(lines, for: ObjectIdentifier(self))
        state.lastDraw = now
    }

    private func line(for transfer: Transfer) -> String {
        let percent = transfer.size > 0 ? Int(Double(transfer.received) / Double(transfer.size) * 100) : 100
        var line = "\(quoted(transfer.name)) \(percent)% \(ByteCount.format(transfer.received))/\(ByteCount.format(transfer.size))"
        if let sources = transfer.sources {
            line += " from \(sources) source\(sources == 1 ? "" : "s")"
        } else {
            line += " from \(transfer.peer) (\(transfer.transport.rawValue))"
        }
        if transfer.rate > 0 {
            line += " \(ByteCount.format(UInt64(transfer.rate)))/s"
            let eta = Double(transfer.size - min(transfer.size, transfer.received)) / transfer.rate
            line += " ETA \(eta < 1 ? "<1" : String(Int(eta.rounded()))) s"
        }
        return line
    }

    private func quoted(_ name: String) -> String {
        LineScanner.quote(TrackerReplyLine.printable(name))
    }
}

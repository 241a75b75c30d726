import FerryPeer
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The prompt of `ferry peer`: reads commands from stdin and runs them; downloads run in the
/// background so the prompt stays usable. Returns on `quit` (the peer then shuts down); at the end of
/// stdin it waits for SIGINT/SIGTERM, the peer serving meanwhile. On a terminal the prompt is
/// edited with libedit (`LineEditor`: arrow keys, history, Ctrl-R), where Ctrl-D on an empty line
/// is `quit`; otherwise stdin is read as plain lines.
struct PeerConsole: Service, CustomStringConvertible {
    let node: PeerNode
    let transport: NIOLockedValueBox<Transport>
    let overwrite: Bool
    private let terminal = Terminal.standardOutput
    private let interactive = isatty(STDIN_FILENO) == 1
    /// Whether a `LineEditor` draws the prompt (then `prompt()` prints nothing).
    private let editing = NIOLockedValueBox(false)

    let maximumSources: Int
    private let board = DownloadBoard()

    init(node: PeerNode, transport: Transport, overwrite: Bool, maximumSources: Int = 8) {
        self.maximumSources = maximumSources
        self.node = node
        self.transport = NIOLockedValueBox(transport)
        self.overwrite = overwrite
    }

    var description: String { "PeerConsole" }

    func run() async throws {
        if interactive {
            terminal.write("Ferry peer sharing \(node.configuration.shareFolder) on port \(node.configuration.port). Type help for commands.\n")
        }
        let editor = interactive ? LineEditor.start(prompt: "ferry> ", historyPath: Self.historyPath()) : nil
        editing.withLockedValue { $0 = editor != nil }
        let lines = editor?.lines ?? StandardInput.lines()
        let quit = await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group -> Bool in
                prompt()
                for await line in lines {
                    let command: ConsoleCommand
                    do {
                        command = try ConsoleCommand(parsing: line)
                    } catch let error as SyntaxError {
                        terminal.write("\(error.message)\n")
                        prompt()
                        continue
                    } catch {
                        terminal.write("\(error)\n")
                        prompt()
                        continue
                    }
                    switch command {
                    case .quit:
                        group.cancelAll()
                        return true
                    case .send(let names, let via):
                        // The prompt comes back when the downloads end; meanwhile commands are still read.
                        group.addTask { await send(names, via: via ?? transport.withLockedValue { $0 }) }
                    default:
                        await handle(command)
                        prompt()
                    }
                }
                if editor?.endedByUser == true {
                    // Ctrl-D at the prompt: as `quit`.
                    group.cancelAll()
                    return true
                }
                return false
            }
        }
        // The terminal as it was before the prompt, whatever ended it (quit, Ctrl-D, a signal).
        if let editor { await editor.stop() }
        if !quit {
            // stdin ended: keep serving until a signal asks the peer to stop.
            try? await gracefulShutdown()
        }
    }

    private func prompt() {
        if interactive, !editing.withLockedValue({ $0 }) { terminal.write("ferry> ") }
    }

    /// The prompt's history: `history` beside the default hash cache, in `$XDG_CACHE_HOME/ferry` or
    /// `~/.cache/ferry`; `nil` (no history kept) if that folder cannot be made.
    static func historyPath() -> String? {
        PeerCommand.defaultCachePath().map { URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("history").path }
    }

    private func handle(_ command: ConsoleCommand) async {
        switch command {
        case .list(let pattern):
            do {
                // The same table as `ferry list`, with its note when the tracker listed only the first.
                terminal.write(try await node.session.connection().listing(pattern).table)
            } catch {
                terminal.write("list failed: \(error)\n")
            }
        case .transport(let chosen):
            transport.withLockedValue { $0 = chosen }
            terminal.write("Send now uses \(chosen.rawValue)\n")
        case .status:
            let tracker = node.session.connectedTracker
            terminal.write("""
                tracker \(tracker.map { "\($0): connected" } ?? "\(Endpoint.describe(node.configuration.servers)): not connected (reconnecting)")
                sharing \(counted(node.share.snapshot.files.count, "file")) from \(node.configuration.shareFolder) on port \(node.configuration.port)
                downloads go to \(node.configuration.downloadFolder); Send uses \(transport.withLockedValue { $0 }.rawValue), up to \(maximumSources) source\(maximumSources == 1 ? "" : "s") per file

                """ + board.lines.map { $0 + "\n" }.joined())
        case .help:
            terminal.write(ConsoleCommand.helpText + "\n")
        case .version:
            terminal.write("ferry \(BuildVersion.text)\n")
        case .send, .quit, .empty:
            break
        }
    }

    private func send(_ names: [String], via transport: Transport) async {
        let results: [LookupResult]
        do {
            results = try await node.session.lookup(names.filter { SharedFileName($0) != nil })
        } catch {
            terminal.write("Send failed: \(error)\n")
            return
        }
        let info = TransferReport.lookupText(results)
        terminal.write(info)
        saveInfo(info)
        let display = ProgressDisplay(terminal: terminal)
        let start = ContinuousClock.now
        let outcomes = await node.downloader(overwrite: overwrite, transports: Transport.preferring(transport),
                                                maximumSources: maximumSources)
            .download(names, lookups: results) { [board] event in
                display.handle(event)
                board.record(event)
            }
        let good = outcomes.filter(\.succeeded)
        let bytes = outcomes.filter { $0.status == .ok }.reduce(0) { $0 + $1.bytes }
        terminal.write("\(good.count) of \(outcomes.count) file\(outcomes.count == 1 ? "" : "s") in place and verified"
            + " (\(ByteCount.format(bytes)) downloaded in \(String(format: "%.1f", (ContinuousClock.now - start).seconds)) s)\n")
        prompt()
    }

    /// Saves the tracker's answer as `info.txt` in the download folder, atomically.
    private func saveInfo(_ text: String) {
        let path = node.configuration.downloadFolder + "/info.txt"
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// Lines of standard input, read on a thread of their own so that a blocking read never holds up
/// the concurrency pool.
enum StandardInput {
    static func lines() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(256))
        let thread = Thread {
            while let line = readLine(strippingNewline: true) {
                continuation.yield(line)
            }
            continuation.finish()
        }
        thread.start()
        return stream
    }
}

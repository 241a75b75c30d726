import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM for a command that shuts down gracefully on the first one (the `ServiceGroup`
/// or the command itself handles it): this watcher remembers the first and ends the process at once,
/// with status 128 + the signal's number, on the second. Keep it alive while the command runs.
final class ShutdownSignals: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let received = NIOLockedValueBox<[Int32]>([])

    private init(sources: [any DispatchSourceSignal]) {
        self.sources = sources
    }

    /// Starts watching; `onFirst` hears the first signal (from a dispatch queue).
    static func watch(onFirst: @escaping @Sendable (Int32) -> Void = { _ in }) -> ShutdownSignals {
        let queue = DispatchQueue(label: "ferry.signals")
        var sources: [any DispatchSourceSignal] = []
        let watcher = NIOLockedValueBox<ShutdownSignals?>(nil)
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)  // the dispatch source, not the default action, handles it
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                guard let watcher = watcher.withLockedValue({ $0 }) else { return }
                let count = watcher.received.withLockedValue { received in
                    received.append(number)
                    return received.count
                }
                if count == 1 {
                    onFirst(number)
                } else {
                    LineEditor.restoreTerminal()
                    _exit(128 + number)
                }
            }
            sources.append(source)
        }
        let result = ShutdownSignals(sources: sources)
        watcher.withLockedValue { $0 = result }
        for source in sources { source.resume() }
        return result
    }

    /// The first signal received, if any.
    var first: Int32? { received.withLockedValue { $0.first } }

    /// The exit status for a command stopped by the first signal: 128 + its number (130 for SIGINT,
    /// 143 for SIGTERM), as shells report it.
    var exitStatus: Int32? { first.map { 128 + $0 } }
}

import NIOPosix
import ServiceLifecycle

/// Scans a ``Share`` at once, then again at an interval, so that added, removed and changed files are
/// announced within seconds. Scans run on an `NIOThreadPool`: hashing a large new file holds up neither the event loops
/// nor the concurrency pool, so heartbeats and uploads go on meanwhile.
public struct ShareWatcher: Service, CustomStringConvertible {
    private let share: Share
    private let interval: Duration
    private let threadPool: NIOThreadPool
    private let beforeFirstScan: @Sendable () -> Void
    private let onFirstScan: @Sendable () -> Void

    /// - Parameters:
    ///   - beforeFirstScan: blocking preparation run on the thread pool before the first scan
    ///     (the peer opens its hash cache there).
    ///   - onFirstScan: called once the first scan is done (the peer then registers).
    public init(share: Share, interval: Duration = .seconds(2), threadPool: NIOThreadPool = .singleton,
                beforeFirstScan: @escaping @Sendable () -> Void = {}, onFirstScan: @escaping @Sendable () -> Void = {}) {
        self.share = share
        self.interval = interval
        self.threadPool = threadPool
        self.beforeFirstScan = beforeFirstScan
        self.onFirstScan = onFirstScan
    }

    public var description: String { "ShareWatcher(\(share.folder))" }

    public func run() async throws {
        await cancelWhenGracefulShutdown { [share, interval, threadPool, beforeFirstScan, onFirstScan] in
            do {
                try await threadPool.runIfActive {
                    beforeFirstScan()
                    share.rescan()
                }
            } catch {
                return
            }
            onFirstScan()
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                    // Cancelling drops a scan not yet started; one under way finishes first.
                    try await share.rescan(on: threadPool)
                } catch {
                    return
                }
            }
        }
    }
}

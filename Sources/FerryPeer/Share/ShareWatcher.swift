import ServiceLifecycle

/// Rescans a ``Share`` at an interval, so that added, removed and changed files are announced within
/// seconds.
public struct ShareWatcher: Service, CustomStringConvertible {
    private let share: Share
    private let interval: Duration

    public init(share: Share, interval: Duration = .seconds(2)) {
        self.share = share
        self.interval = interval
    }

    public var description: String { "ShareWatcher(\(share.folder))" }

    public func run() async throws {
        await cancelWhenGracefulShutdown { [share, interval] in
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                share.rescan()
            }
        }
    }
}

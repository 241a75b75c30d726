import NIOCore

/// Deadlines that always hold.
///
/// `EventLoopFuture.get()` ignores task cancellation, so a task-group timeout around it waits for a
/// child that never ends. Instead the deadline is a task scheduled on the promise's event loop that
/// fails the promise, and cancelling the waiting task fails it too: either way `get()` returns.
extension EventLoopPromise where Value: Sendable {
    /// Fails the promise with `error` if nothing completed it within `timeout`, then runs `onTimeout`
    /// (on the event loop). The timer is cancelled as soon as the promise completes.
    func failAfter(_ timeout: TimeAmount, with error: @autoclosure @escaping @Sendable () -> any Error,
                   onTimeout: @escaping @Sendable () -> Void = {}) {
        let timer = futureResult.eventLoop.scheduleTask(in: timeout) { [self] in
            fail(error())
            onTimeout()
        }
        futureResult.whenComplete { _ in timer.cancel() }
    }

    /// Waits for the result; if the waiting task is cancelled, the promise fails with
    /// `CancellationError` and the wait ends at once.
    func valueCancellingOnTaskCancel() async throws -> Value {
        try await withTaskCancellationHandler {
            try await futureResult.get()
        } onCancel: {
            fail(CancellationError())
        }
    }
}

extension Duration {
    /// "10 s", "250 ms": for messages.
    var spoken: String {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }
}

import Foundation

/// Runs long CPU-bound test work (a simulated transfer of megabytes) on a thread of its own, one
/// piece at a time, instead of on Swift's cooperative pool.
///
/// The pool has one thread per core: 2 here. Synchronous tests that compute for seconds (minutes
/// under a sanitizer) hold those threads, and every other test's tasks (a server's accept loop, a
/// client's timeout) wait for them, so tests that race a deadline fail for want of a thread, not
/// for a fault of their own. Off the pool, such work only takes its share of the CPU; one at a time,
/// it never takes more than one core from the rest.
public enum CPUBoundWork {
    private static let permit = SerialGate()

    /// `body`'s result, computed on a dedicated thread after the work before it finished.
    public static func run<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
        await permit.acquire()
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result, Never>) in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 8 << 20
            thread.name = "cpu-bound test work"
            thread.start()
        }
        await permit.release()
        return result
    }
}

/// One holder at a time, the others wait in order.
private actor SerialGate {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            held = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}

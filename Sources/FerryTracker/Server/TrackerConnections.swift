import FerryWire
import NIOConcurrencyHelpers
import NIOCore

/// Every admitted connection of one running tracker and who may come in (``ConnectionAdmission``).
/// It is what makes shutdown complete: ``beginShutdown()`` hands out how to close each connection,
/// refuses new ones, and ``drained()`` returns once the last has closed.
final class TrackerConnections: Sendable {
    typealias Closer = @Sendable (TrackerReplyLine) -> Void

    enum Admission {
        case admitted
        case refused(String)
    }

    private struct State {
        var shuttingDown = false
        var served: [ObjectIdentifier: Closer] = [:]
        var admission: ConnectionAdmission
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let state: NIOLockedValueBox<State>

    init(limits: ConnectionAdmission.Limits) {
        state = NIOLockedValueBox(State(admission: ConnectionAdmission(limits: limits)))
    }

    /// Counts a connection in, or says why it is refused. `closer` is how shutdown closes it.
    func admit(_ channel: ObjectIdentifier, address: String, closer: @escaping Closer) -> Admission {
        state.withLockedValue { state in
            guard !state.shuttingDown else { return .refused("tracker shutting down") }
            if let refusal = state.admission.admit(address) { return .refused(refusal.text) }
            state.served[channel] = closer
            return .admitted
        }
    }

    /// Counts an admitted connection out.
    func release(_ channel: ObjectIdentifier, address: String) {
        let drained = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            guard state.served.removeValue(forKey: channel) != nil else { return [] }
            state.admission.release(address)
            guard state.shuttingDown, state.served.isEmpty else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for continuation in drained { continuation.resume() }
    }

    /// From now on new connections are refused; returns how to close each one being served.
    func beginShutdown() -> [Closer] {
        state.withLockedValue { state in
            state.shuttingDown = true
            return Array(state.served.values)
        }
    }

    /// How to close each connection being served now (new ones are still admitted).
    func closers() -> [Closer] {
        state.withLockedValue { Array($0.served.values) }
    }

    /// Returns once shutdown has begun and every admitted connection has closed.
    func drained() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLockedValue { state -> Bool in
                if state.shuttingDown, state.served.isEmpty { return true }
                state.drained.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Connections served now, and the addresses they come from.
    var counts: (connections: Int, addresses: Int) {
        state.withLockedValue { ($0.admission.total, $0.admission.addressCount) }
    }
}

import FerryWire
import NIOConcurrencyHelpers
import NIOCore

/// Every connection of one running tracker: those accepted and not yet served, those being served,
/// and who may come in (``ConnectionAdmission``). It is what makes shutdown safe: each accepted
/// `NIOAsyncChannel` is recorded here as it is made and is handed out exactly once, to the task that
/// serves it or to the clean-up at the end, so that every one reaches `executeThenClose`.
final class TrackerConnections: Sendable {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>
    typealias Closer = @Sendable (TrackerReplyLine) -> Void

    /// An accepted channel came in after the tracker stopped accepting; NIO closes it.
    struct NotAccepting: Error {}

    enum Admission {
        case admitted
        case refused(String)
    }

    private struct State {
        var accepting = true
        var shuttingDown = false
        var unserved: [ObjectIdentifier: Connection] = [:]
        var served: [ObjectIdentifier: Closer] = [:]
        var admission: ConnectionAdmission
    }

    private let state: NIOLockedValueBox<State>

    init(limits: ConnectionAdmission.Limits) {
        state = NIOLockedValueBox(State(admission: ConnectionAdmission(limits: limits)))
    }

    /// Makes the `NIOAsyncChannel` of an accepted channel and records it, in one step, so that a
    /// channel accepted while the tracker stops is either recorded (and closed by ``stopAccepting()``)
    /// or never wrapped.
    func accept(_ make: () throws -> Connection) throws -> Connection {
        try state.withLockedValue { state in
            guard state.accepting else { throw NotAccepting() }
            let connection = try make()
            state.unserved[ObjectIdentifier(connection.channel)] = connection
            return connection
        }
    }

    /// Hands `connection` to the task that serves it; `false` when the clean-up already has it.
    func take(_ connection: Connection) -> Bool {
        state.withLockedValue { $0.unserved.removeValue(forKey: ObjectIdentifier(connection.channel)) != nil }
    }

    /// Stops accepting and hands out every connection never served.
    func stopAccepting() -> [Connection] {
        state.withLockedValue { state in
            state.accepting = false
            defer { state.unserved = [:] }
            return Array(state.unserved.values)
        }
    }

    /// Counts a connection in, or says why it is refused. `closer` is how shutdown closes it.
    func admit(_ connection: Connection, address: String, closer: @escaping Closer) -> Admission {
        state.withLockedValue { state in
            guard !state.shuttingDown else { return .refused("tracker shutting down") }
            if let refusal = state.admission.admit(address) { return .refused(refusal.text) }
            state.served[ObjectIdentifier(connection.channel)] = closer
            return .admitted
        }
    }

    /// Counts a connection out.
    func release(_ connection: Connection, address: String) {
        state.withLockedValue { state in
            state.admission.release(address)
            state.served[ObjectIdentifier(connection.channel)] = nil
        }
    }

    /// From now on new connections are refused; returns how to close each one being served.
    func beginShutdown() -> [Closer] {
        state.withLockedValue { state in
            state.shuttingDown = true
            return Array(state.served.values)
        }
    }

    /// Connections served now, and the addresses they come from.
    var counts: (connections: Int, addresses: Int, unserved: Int) {
        state.withLockedValue { ($0.admission.total, $0.admission.addressCount, $0.unserved.count) }
    }
}

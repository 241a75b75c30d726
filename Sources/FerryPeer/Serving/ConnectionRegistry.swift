import FerryWire
import NIOConcurrencyHelpers
import NIOCore

/// The TCP file server's live connections: admission (the ``ConnectionLedger`` caps), upload slots,
/// and shutdown, which closes the idle connections at once and the uploading ones after a grace
/// period.
///
/// Room for new clients: at the total cap, a new connection takes the place of the oldest one
/// still waiting for its request line (which is closed), so that a crowd of connections that send
/// nothing or trickle (a slowloris from many addresses) delays nobody who asks at once. Only when
/// every connection has sent its request is a new one refused.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        var channel: any Channel
        var uploading: Bool
        /// Admission order, to find the oldest.
        var sequence: UInt64
        /// Still waiting for its request line (may give its place to a new connection).
        var waitingForRequest = true
    }

    private struct State {
        var ledger: ConnectionLedger
        var uploads = 0
        var entries: [ObjectIdentifier: Entry] = [:]
        var shuttingDown = false
        var nextSequence: UInt64 = 0
        /// Accepted, not yet taken by the accept loop (see ``accepted(_:)``).
        var unserved: [ObjectIdentifier: any Channel] = [:]
        /// The accept loop ended: an accepted connection is closed at once.
        var acceptingStopped = false
    }

    private let maximumUploads: Int
    private let state: NIOLockedValueBox<State>

    init(limits: FileServer.Limits) {
        maximumUploads = limits.maximumUploads
        state = NIOLockedValueBox(State(ledger: ConnectionLedger(maximumPerAddress: limits.maximumConnectionsPerAddress,
                                                                 maximumTotal: limits.maximumConnections)))
    }

    /// The connections held and the uploads running.
    var counts: (connections: Int, uploads: Int) {
        state.withLockedValue { ($0.ledger.total, $0.uploads) }
    }

    /// Records a connection the listener accepted (from its child initializer). The accept loop
    /// may never take it (it drops what it could not hand over when it ends): until
    /// ``handedOver(_:)`` it is closed by ``stoppedAccepting()`` or ``shutDown(grace:listener:)``,
    /// and at once if those already ran.
    func accepted(_ channel: any Channel) {
        let closeNow = state.withLockedValue { state in
            guard !state.acceptingStopped, !state.shuttingDown else { return true }
            state.unserved[ObjectIdentifier(channel)] = channel
            return false
        }
        if closeNow { channel.close(promise: nil) }
    }

    /// Records that the accept loop took the connection: its serving task owns it from now on.
    func handedOver(_ channel: any Channel) {
        _ = state.withLockedValue { $0.unserved.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// The accept loop ended: closes what it never took, and what is accepted from now on.
    func stoppedAccepting() {
        let unserved = state.withLockedValue { state in
            state.acceptingStopped = true
            defer { state.unserved = [:] }
            return Array(state.unserved.values)
        }
        for channel in unserved { channel.close(promise: nil) }
    }

    /// Admits a new connection from `host`, or returns the reply that refuses it (then it holds
    /// nothing and must not be released).
    func admit(_ channel: any Channel, host: String) -> FileProtocolError? {
        let (refusal, evicted): (FileProtocolError?, (any Channel)?) = state.withLockedValue { state in
            guard !state.shuttingDown else {
                return (FileProtocolError(.busy, "busy: shutting down; try another peer"), nil)
            }
            var evicted: (any Channel)?
            var result = state.ledger.admit(host)
            if case .server? = result, let oldest = state.entries.filter({ $0.value.waitingForRequest })
                .min(by: { $0.value.sequence < $1.value.sequence }) {
                // Make room: the oldest connection still without a request goes.
                state.entries[oldest.key]!.waitingForRequest = false
                evicted = oldest.value.channel
                result = state.ledger.admit(host, overTotal: true)
            }
            switch result {
            case .address(let limit)?:
                return (FileProtocolError(.busy, "busy: \(limit) connections from your address already; close one or try later"), nil)
            case .server(let limit)?:
                return (FileProtocolError(.busy, "busy: \(limit) connections open; try another peer"), nil)
            case nil:
                state.nextSequence += 1
                state.entries[ObjectIdentifier(channel)] = Entry(channel: channel, uploading: false, sequence: state.nextSequence)
                return (nil, evicted)
            }
        }
        evicted?.close(promise: nil)
        return refusal
    }

    /// Records that the connection's request line arrived: it keeps its place from now on.
    func requestReceived(_ channel: any Channel) {
        state.withLockedValue { state in
            state.entries[ObjectIdentifier(channel)]?.waitingForRequest = false
        }
    }

    /// Records that an admitted connection ended.
    func release(_ channel: any Channel, host: String) {
        state.withLockedValue { state in
            if state.entries.removeValue(forKey: ObjectIdentifier(channel))?.uploading == true {
                state.uploads -= 1
            }
            state.ledger.release(host)
        }
    }

    /// Uploads running now (for the status page and metrics).
    var uploads: Int { state.withLockedValue { $0.uploads } }

    /// Takes an upload slot for the connection; `false` when all are taken or the server is
    /// shutting down.
    func beginUpload(_ channel: any Channel) -> Bool {
        state.withLockedValue { state in
            guard !state.shuttingDown, state.uploads < maximumUploads,
                  state.entries[ObjectIdentifier(channel)]?.uploading == false else { return false }
            state.entries[ObjectIdentifier(channel)]!.uploading = true
            state.uploads += 1
            return true
        }
    }

    /// Gives the connection's upload slot back.
    func endUpload(_ channel: any Channel) {
        state.withLockedValue { state in
            guard state.entries[ObjectIdentifier(channel)]?.uploading == true else { return }
            state.entries[ObjectIdentifier(channel)]!.uploading = false
            state.uploads -= 1
        }
    }

    /// Stops accepting (closes `listener`), closes every connection that is not uploading now and
    /// the uploading ones after `grace` (at once for zero). Called again, e.g. cancellation after
    /// a graceful shutdown, it closes what is left at once if its grace is shorter.
    func shutDown(grace: TimeAmount, listener: any Channel) {
        let (idle, uploading) = state.withLockedValue { state in
            state.shuttingDown = true
            let idle = state.entries.values.filter { !$0.uploading }.map(\.channel) + Array(state.unserved.values)
            state.unserved = [:]
            return (idle, state.entries.values.filter(\.uploading).map(\.channel))
        }
        listener.close(promise: nil)
        for channel in idle { channel.close(promise: nil) }
        guard grace > .zero else {
            for channel in uploading { channel.close(promise: nil) }
            return
        }
        listener.eventLoop.scheduleTask(in: grace) { [self] in
            let left = state.withLockedValue { $0.entries.values.map(\.channel) }
            for channel in left { channel.close(promise: nil) }
        }
    }
}

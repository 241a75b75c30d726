import FerryWire
import NIOConcurrencyHelpers
import NIOCore

/// The TCP file server's live connections: admission (the ``ConnectionLedger`` caps), upload slots,
/// and shutdown, which closes the idle connections at once and the uploading ones after a grace
/// period.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        var channel: any Channel
        var uploading: Bool
    }

    private struct State {
        var ledger: ConnectionLedger
        var uploads = 0
        var entries: [ObjectIdentifier: Entry] = [:]
        var shuttingDown = false
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

    /// Admits a new connection from `host`, or returns the reply that refuses it (then it holds
    /// nothing and must not be released).
    func admit(_ channel: any Channel, host: String) -> FileProtocolError? {
        state.withLockedValue { state in
            guard !state.shuttingDown else {
                return FileProtocolError(.busy, "busy: shutting down; try another peer")
            }
            switch state.ledger.admit(host) {
            case .address(let limit)?:
                return FileProtocolError(.busy, "busy: \(limit) connections from your address already; close one or try later")
            case .server(let limit)?:
                return FileProtocolError(.busy, "busy: \(limit) connections open; try another peer")
            case nil:
                state.entries[ObjectIdentifier(channel)] = Entry(channel: channel, uploading: false)
                return nil
            }
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
            let idle = state.entries.values.filter { !$0.uploading }.map(\.channel)
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

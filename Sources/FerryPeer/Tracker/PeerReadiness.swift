import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What a peer must have done before it says `HELLO`: bind its TCP and UDP servers (a peer that
/// cannot serve must never enter the index) and scan its share once (so the first announcement is
/// complete). ``TrackerSession`` waits on it.
final class PeerReadiness: Sendable {
    private struct State {
        var servesFiles = true
        var tcpBound = false
        var udpBound = false
        var scanned = false
        var onTCPListening: @Sendable (SocketAddress) -> Void = { _ in }

        var isReady: Bool { scanned && (!servesFiles || (tcpBound && udpBound)) }
    }

    private let state = NIOLockedValueBox(State())
    private let ready: EventLoopPromise<Void>

    init(eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()) {
        ready = eventLoop.makePromise(of: Void.self)
    }

    /// Sets, before the peer starts, whether it serves files and who hears of the TCP server's address.
    func prepare(servesFiles: Bool, onTCPListening: @escaping @Sendable (SocketAddress) -> Void) {
        state.withLockedValue {
            $0.servesFiles = servesFiles
            $0.onTCPListening = onTCPListening
        }
    }

    func tcpListening(_ address: SocketAddress) {
        let listener = update { $0.tcpBound = true }
        listener(address)
    }

    func udpListening(_: SocketAddress) { _ = update { $0.udpBound = true } }

    func scanned() { _ = update { $0.scanned = true } }

    /// Whether the file servers are bound (always, for a peer that serves none): for `/healthz`.
    var listening: Bool { state.withLockedValue { !$0.servesFiles || ($0.tcpBound && $0.udpBound) } }

    /// Returns when the peer is ready; throws `CancellationError` if cancelled first.
    func wait() async throws {
        try await ready.valueCancellingOnTaskCancel()
    }

    /// Ends every wait: the peer stopped (a wait that had not finished fails).
    func finish() {
        ready.fail(CancellationError())
    }

    private func update(_ change: (inout State) -> Void) -> @Sendable (SocketAddress) -> Void {
        let (isReady, listener) = state.withLockedValue { state in
            change(&state)
            return (state.isReady, state.onTCPListening)
        }
        if isReady { ready.succeed() }
        return listener
    }
}

import FerryWire
import NIOConcurrencyHelpers
import NIOCore

/// The rule for a `HELLO` whose host and TCP port belong to a live session on another connection.
///
/// A live session is never silently replaced:
/// - if its connection was heard from within the quiet period (a live peer pings every 3 s), the new
///   `HELLO` is refused with `423`; the new connection stays open and may retry;
/// - otherwise the old connection is presumed dead (a peer reconnecting after a network blip, before
///   the heartbeat timeout noticed): the new connection takes the session over, and the old one is sent
///   `421` and closed, so that if its peer is alive after all it reconnects and says `HELLO` again.
public enum HelloRule {
    public enum Decision: Sendable, Equatable {
        /// Nobody holds the endpoint: register.
        case register
        /// The holder has been silent for `silentFor`: register, and close the holder with `421`.
        case takeOver(silentFor: TimeAmount)
        /// The holder was heard from `heardAgo` ago: refuse with `423`.
        case refuse(heardAgo: TimeAmount)
    }

    public static func decide(holderLastHeard: NIODeadline?, now: NIODeadline, quietPeriod: TimeAmount) -> Decision {
        guard let lastHeard = holderLastHeard else { return .register }
        let silence = now - lastHeard
        return silence >= quietPeriod ? .takeOver(silentFor: silence) : .refuse(heardAgo: max(silence, .zero))
    }
}

/// One tracker connection as other connections see it: when it was last heard from, and how to close
/// it when a new connection takes its session over.
public final class TrackerConnectionHandle: Sendable {
    private struct State {
        var lastHeard: NIODeadline
        var superseded = false
        var closer: (@Sendable (TrackerReplyLine) -> Void)?
    }

    private let state: NIOLockedValueBox<State>

    public init(now: NIODeadline = .now()) {
        state = NIOLockedValueBox(State(lastHeard: now))
    }

    public var lastHeard: NIODeadline { state.withLockedValue { $0.lastHeard } }

    /// `true` once another connection took this one's session over; it must say nothing more.
    public var isSuperseded: Bool { state.withLockedValue { $0.superseded } }

    /// Records that a line arrived.
    public func heard(at now: NIODeadline) {
        state.withLockedValue { $0.lastHeard = max($0.lastHeard, now) }
    }

    /// Sets what ``supersede(with:)`` does: the server sends the line and closes the socket.
    public func onSupersede(_ closer: @escaping @Sendable (TrackerReplyLine) -> Void) {
        state.withLockedValue { $0.closer = closer }
    }

    /// Marks the connection superseded and closes it with `line`.
    func supersede(with line: TrackerReplyLine) {
        let closer = state.withLockedValue { state -> (@Sendable (TrackerReplyLine) -> Void)? in
            state.superseded = true
            return state.closer
        }
        closer?(line)
    }
}

/// Which connection holds each live peer endpoint (observed host, TCP port), across all connections of
/// one tracker, under ``HelloRule``.
public final class PeerEndpointTable: Sendable {
    /// A live peer's address as the tracker sees it.
    public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
        public var host: String
        public var tcpPort: UInt16
        public init(host: String, tcpPort: UInt16) {
            self.host = host
            self.tcpPort = tcpPort
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(tcpPort)" : "\(host):\(tcpPort)" }
    }

    public let quietPeriod: TimeAmount
    private let now: @Sendable () -> NIODeadline
    private let holders = NIOLockedValueBox<[Endpoint: TrackerConnectionHandle]>([:])

    /// - Parameter now: the clock (tests pass their own).
    public init(
        quietPeriod: TimeAmount = .seconds(Int64(TrackerLimits.helloTakeoverQuietPeriod)),
        now: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() }
    ) {
        self.quietPeriod = quietPeriod
        self.now = now
    }

    /// Endpoints held now.
    public var count: Int { holders.withLockedValue { $0.count } }

    /// Applies ``HelloRule`` for `connection` saying `HELLO` as `endpoint`. On `.register` and
    /// `.takeOver` the endpoint is now held by `connection`, and a previous holder has been sent `421`
    /// and told to close.
    public func claim(_ endpoint: Endpoint, by connection: TrackerConnectionHandle) -> HelloRule.Decision {
        let instant = now()
        let (decision, previous) = holders.withLockedValue { holders -> (HelloRule.Decision, TrackerConnectionHandle?) in
            let holder = holders[endpoint].flatMap { $0 === connection ? nil : $0 }
            let decision = HelloRule.decide(holderLastHeard: holder?.lastHeard, now: instant, quietPeriod: quietPeriod)
            if case .refuse = decision { return (decision, nil) }
            holders[endpoint] = connection
            return (decision, holder)
        }
        if let previous, case .takeOver(let silence) = decision {
            previous.supersede(with: TrackerReplyLine(
                status: .closing, isFinal: true,
                text: "a new connection registered \(endpoint) after \(silence.nanoseconds / 1_000_000_000) s of silence here; closing"))
        }
        return decision
    }

    /// Lets go of `endpoint` if `connection` still holds it.
    public func release(_ endpoint: Endpoint, by connection: TrackerConnectionHandle) {
        holders.withLockedValue { holders in
            if holders[endpoint] === connection { holders[endpoint] = nil }
        }
    }
}

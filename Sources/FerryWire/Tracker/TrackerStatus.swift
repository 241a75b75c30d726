/// The three-digit status code that starts every line the tracker sends.
///
/// Codes are stable: scripts rely on them. 2xx is success or data, 4xx a refused request (the
/// connection goes on), 5xx a failure of the tracker itself. Every code is listed in docs/PROTOCOL.md.
public struct TrackerStatus: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt16

    public init(code: UInt16) { self.code = code }

    /// The request succeeded; the final line of every successful reply.
    public static let ok = TrackerStatus(code: 200)
    /// `SEND`: one group of holders of a name with one size and SHA-256.
    public static let file = TrackerStatus(code: 210)
    /// `SEND`: one holder of the group above it.
    public static let peer = TrackerStatus(code: 211)
    /// `LIST`: one shared file.
    public static let listEntry = TrackerStatus(code: 212)
    /// `HELP`: one line of help text.
    public static let help = TrackerStatus(code: 214)

    /// The line does not follow the grammar.
    public static let malformed = TrackerStatus(code: 400)
    /// The verb is not one the tracker knows.
    public static let unknownCommand = TrackerStatus(code: 401)
    /// The line is longer than ``TrackerLimits/maximumLineLength``.
    public static let lineTooLong = TrackerStatus(code: 402)
    /// A name breaks the name rule.
    public static let badName = TrackerStatus(code: 403)
    /// No live peer shares the name (or, for `REMOVE`, this peer does not share it).
    public static let notFound = TrackerStatus(code: 404)
    /// The request needs a registered peer: send `HELLO` first.
    public static let notRegistered = TrackerStatus(code: 405)
    /// The line came at the wrong point: `FILE` outside an `UPDATE`, or another line inside one.
    public static let outOfSequence = TrackerStatus(code: 406)
    /// `HELLO` on a connection that is already registered.
    public static let alreadyRegistered = TrackerStatus(code: 409)
    /// A count is over its limit (files per peer, names per `SEND`).
    public static let tooMany = TrackerStatus(code: 413)
    /// The tracker is closing this connection (idle timeout, too many connections, a new connection
    /// took this peer's session over, shutdown). A peer reconnects and says `HELLO` again.
    public static let closing = TrackerStatus(code: 421)
    /// `HELLO` for a host and TCP port that another live connection holds and heartbeats: refused, the
    /// connection goes on. Retry after ``TrackerLimits/helloTakeoverQuietPeriod`` seconds if the old
    /// connection is gone.
    public static let endpointInUse = TrackerStatus(code: 423)

    /// The tracker failed (its storage, for example); the request may be retried.
    public static let internalError = TrackerStatus(code: 500)

    public var isSuccess: Bool { code < 300 }

    public var description: String { String(code) }
}

/// A request the tracker refuses: the status code and short text of the error reply.
public struct TrackerProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: TrackerStatus
    public var message: String

    public init(_ status: TrackerStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The reply line that reports this error.
    public var replyLine: TrackerReplyLine {
        TrackerReplyLine(status: status, isFinal: true, text: message)
    }

    public var description: String { "\(status.code) \(message)" }

    public static func malformed(_ message: String) -> Self { .init(.malformed, message) }
    public static func badName(_ name: String, _ error: NameError) -> Self {
        .init(.badName, "bad name \(LineScanner.quote(TrackerReplyLine.printable(name))): \(error)")
    }
}

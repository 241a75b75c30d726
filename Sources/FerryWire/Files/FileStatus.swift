/// The status code at the start of a file server's reply line. Stable: listed in docs/PROTOCOL.md.
public struct FileStatus: Hashable, Sendable, CustomStringConvertible {
    public let code: UInt16

    public init(code: UInt16) { self.code = code }

    /// The bytes follow.
    public static let ok = FileStatus(code: 200)
    /// The request line does not follow the grammar.
    public static let malformed = FileStatus(code: 400)
    /// The request line is longer than ``FileProtocolLimits/maximumRequestLength``.
    public static let lineTooLong = FileStatus(code: 402)
    /// The name breaks the name rule, or leads outside the share.
    public static let badName = FileStatus(code: 403)
    /// The peer does not share that name.
    public static let notFound = FileStatus(code: 404)
    /// The client sent nothing within the request timeout.
    public static let timeout = FileStatus(code: 408)
    /// The file changed since it was hashed; the peer will announce the new content.
    public static let changed = FileStatus(code: 409)
    /// The range is outside the file.
    public static let badRange = FileStatus(code: 416)
    /// The peer failed to read the file.
    public static let internalError = FileStatus(code: 500)
    /// The peer serves as many clients as it allows; try another peer or later.
    public static let busy = FileStatus(code: 503)

    public var description: String { String(code) }
}

/// The limits of the file protocol.
public enum FileProtocolLimits {
    /// The longest request line, in bytes, without the `\n`.
    public static let maximumRequestLength = 1024
    /// The longest reply line, in bytes, without the `\n`.
    public static let maximumReplyLength = 512
    /// The largest piece layer a client takes in a `LAYER` reply: 2048 chunk hashes, as many as
    /// Ferry's chunk size rule ever gives a file. A reply announcing more does not parse.
    public static let maximumPieceLayerLength = 2048 * 32
    /// The largest chunk bitmap a client takes in a `HAVE` reply: one bit for each of 2048 chunks.
    public static let maximumChunkBitmapLength = 2048 / 8
}

/// A refused file request: the status and short text of the reply line.
public struct FileProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public var status: FileStatus
    public var message: String

    public init(_ status: FileStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The reply line, without `\n`. A message that echoes a long request (a bad name of 1,000 bytes)
    /// is cut, ending with `…`, so that the line fits ``FileProtocolLimits/maximumReplyLength``: a
    /// longer one would reach the client as "reply too long" instead of the refusal.
    public var line: String {
        let line = "\(status.code) \(message)"
        guard line.utf8.count > FileProtocolLimits.maximumReplyLength else { return line }
        var cut = ""
        let room = FileProtocolLimits.maximumReplyLength - "…".utf8.count
        for character in line {
            guard cut.utf8.count + character.utf8.count <= room else { break }
            cut.append(character)
        }
        return cut + "…"
    }

    public var description: String { line }
}

extension FileProtocolError {
    /// The first line of a file server's reply, as every reply reader takes it: the text after `200`,
    /// or the refusal it carries (a failure, not thrown). Throws when the line has no status code.
    /// A refusal's text is shown to the user and may be echoed, so it loses its control characters
    /// (a `\r` at its end would not even survive re-encoding; found by FuzzFileRequest).
    static func okText(ofReply line: String) throws(FileProtocolError) -> Result<String, FileProtocolError> {
        guard let reply = TrackerReplyLine(parsing: line), reply.isFinal else {
            throw FileProtocolError(.malformed, "peer sent a reply without a status code")
        }
        guard reply.status.code == FileStatus.ok.code else {
            return .failure(FileProtocolError(FileStatus(code: reply.status.code), TrackerReplyLine.printable(reply.text)))
        }
        return .success(reply.text)
    }
}

import FerryWire

/// How one requested name ended. Encoded as one line of `ferry get --json`:
///
/// ```
/// {"name", "status": "ok|not_found|failed|refused|skipped", "bytes", "sha256", "peer": "IP:PORT",
///  "transport", "seconds", "path", "message", "attempts": [{"peer", "transport", "bytes", "error", "message"}]}
/// ```
public struct DownloadOutcome: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// Downloaded and verified.
        case ok
        /// No live peer shares the name.
        case notFound = "not_found"
        /// Every peer failed, the tracker was asked again, and those failed too.
        case failed
        /// Not attempted: a bad name, or a different file already has the name (see `--overwrite`).
        case refused
        /// A file with the same SHA-256 is already there.
        case skipped
    }

    public struct AttemptRecord: Sendable, Equatable {
        public var peer: String
        public var transport: Transport
        /// What this attempt received.
        public var bytes: UInt64
        /// `nil` for the successful attempt; otherwise a ``TransferError`` code.
        public var error: TransferError?
        public var message: String?
    }

    public var name: String
    public var status: Status
    /// The file's size for `ok` and `skipped`; otherwise the bytes received by all attempts.
    public var bytes: UInt64
    /// The verified SHA-256 (`ok`, `skipped`), or the announced one when known.
    public var sha256: String?
    /// The peer that delivered the last bytes (`ok`).
    public var peer: String?
    public var transport: Transport?
    public var seconds: Double
    /// Where the file is (`ok`, `skipped`, and `refused` because it exists).
    public var path: String?
    /// What went wrong and what to do, for every status but `ok`.
    public var message: String?
    public var attempts: [AttemptRecord]

    /// The outcome as one line of JSON, keys in the documented order.
    public var jsonLine: String {
        var json = JSONLine()
        json.field("name", name)
        json.field("status", status.rawValue)
        json.field("bytes", bytes)
        json.field("sha256", sha256)
        json.field("peer", peer)
        json.field("transport", transport?.rawValue)
        json.field("seconds", (seconds * 1000).rounded() / 1000)
        json.field("path", path)
        json.field("message", message)
        json.field("attempts", raw: "[" + attempts.map { attempt in
            var item = JSONLine()
            item.field("peer", attempt.peer)
            item.field("transport", attempt.transport.rawValue)
            item.field("bytes", attempt.bytes)
            item.field("error", attempt.error?.rawValue)
            item.field("message", attempt.message)
            return item.result
        }.joined(separator: ",") + "]")
        return json.result
    }

    /// `true` when the file is in place and verified.
    public var succeeded: Bool { status == .ok || status == .skipped }
}

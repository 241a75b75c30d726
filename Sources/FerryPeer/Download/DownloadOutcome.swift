import FerryWire

/// How one requested name ended. Encoded as one line of `ferry get --json`:
///
/// ```
/// {"name", "status": "ok|not_found|failed|refused|skipped|cancelled", "bytes", "sha256", "peer": "IP:PORT",
///  "transport", "seconds", "path", "message", "attempts": [{"peer", "transport", "bytes", "error", "message"}],
///  "sources": [{"peer", "transport", "bytes", "chunks", "bad_chunks"}]}
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
        /// Stopped before it finished (Ctrl-C, SIGTERM, `quit`): never a holder's failure. What was
        /// received and verified is kept in the part file for a later resume.
        case cancelled
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

    /// What one source (a peer over one transport) gave, summed over its connections.
    public struct SourceRecord: Sendable, Equatable {
        public var peer: String
        public var transport: Transport
        /// Bytes received from it, kept or not.
        public var bytes: UInt64
        /// Verified chunks it delivered first (0 on the one-source path, which checks only the whole file).
        public var chunks: Int
        /// Chunks it delivered that did not match their hashes.
        public var badChunks: Int

        public init(peer: String, transport: Transport, bytes: UInt64, chunks: Int = 0, badChunks: Int = 0) {
            self.peer = peer
            self.transport = transport
            self.bytes = bytes
            self.chunks = chunks
            self.badChunks = badChunks
        }
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
    /// Per source; by default the attempts summed per peer and transport.
    public var sources: [SourceRecord]?

    /// ``sources``, or the attempts summed per peer and transport, in the order first tried.
    public var sourceRecords: [SourceRecord] {
        if let sources { return sources }
        var records: [SourceRecord] = []
        for attempt in attempts {
            if let index = records.firstIndex(where: { $0.peer == attempt.peer && $0.transport == attempt.transport }) {
                records[index].bytes += attempt.bytes
            } else {
                records.append(SourceRecord(peer: attempt.peer, transport: attempt.transport, bytes: attempt.bytes))
            }
        }
        return records
    }

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
        json.field("sources", raw: "[" + sourceRecords.map { source in
            var item = JSONLine()
            item.field("peer", source.peer)
            item.field("transport", source.transport.rawValue)
            item.field("bytes", source.bytes)
            item.field("chunks", UInt64(source.chunks))
            item.field("bad_chunks", UInt64(source.badChunks))
            return item.result
        }.joined(separator: ",") + "]")
        return json.result
    }

    /// `true` when the file is in place and verified.
    public var succeeded: Bool { status == .ok || status == .skipped }
}

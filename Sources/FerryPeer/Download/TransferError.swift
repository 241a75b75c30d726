import FerryWire

/// Why one attempt to fetch a file from one peer failed. The raw values are the stable codes shown
/// in result lines and in `ferry get --json` (`attempts[].error`); see the README.
public enum TransferError: String, Error, Sendable, Codable, CaseIterable {
    /// The peer could not be reached (refused, unreachable, or no answer within the connect timeout).
    case connectFailed = "connect_failed"
    /// The peer took no step for the stall timeout: no reply, or no bytes.
    case stalled
    /// The connection closed before every byte arrived.
    case closedEarly = "closed_early"
    /// The peer does not share the name (any more).
    case notFound = "not_found"
    /// The peer refused the name.
    case badName = "bad_name"
    /// The peer refused the range.
    case badRange = "bad_range"
    /// The peer is serving as many clients as it allows.
    case busy
    /// The file changed on the peer since it was announced.
    case changed
    /// The peer answered with another error code.
    case peerError = "peer_error"
    /// The peer's reply broke the protocol (bad header, extra bytes, wrong range).
    case protocolError = "protocol_error"
    /// The peer offers other content (size or SHA-256) than the tracker announced.
    case wrongContent = "wrong_content"
    /// Every byte arrived, but their SHA-256 is not the announced one; the part file was discarded.
    case hashMismatch = "hash_mismatch"
    /// Writing or reading the part file in the download folder failed (a local error: the download
    /// stops, the part file is kept).
    case ioError = "io_error"
    /// The download folder's disk is full (`ENOSPC`, or `EDQUOT`): a local error, the download stops
    /// at once and the part file is kept for a later resume.
    case diskFull = "disk_full"
    /// The peer sent bytes, but fewer than the progress floor over a whole window (see
    /// ``ProgressFloor``): the next holder is tried.
    case tooSlow = "too_slow"

    /// An error of this machine, not of the peer: trying another peer would not help.
    public var isLocal: Bool {
        self == .ioError || self == .diskFull
    }

    /// The code for a refusal by the peer's file server.
    init(refusal status: FileStatus) {
        switch status {
        case .notFound: self = .notFound
        case .badName: self = .badName
        case .badRange: self = .badRange
        case .busy: self = .busy
        case .changed: self = .changed
        default: self = .peerError
        }
    }
}

/// How file bytes travel.
public enum Transport: String, Sendable, Codable, CaseIterable, Hashable {
    case tcp
    case udp

    /// `preferred` first, then the other transport as a fallback.
    public static func preferring(_ preferred: Transport) -> [Transport] {
        [preferred] + allCases.filter { $0 != preferred }
    }
}

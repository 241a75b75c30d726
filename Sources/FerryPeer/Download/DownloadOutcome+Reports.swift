import FerryWire

extension DownloadOutcome {
    /// What to tell the tracker about each holder this download tried (`REPORT`, docs/PROTOCOL.md):
    /// a holder that delivered bytes and no bad chunk *served*, with those bytes over the download's
    /// time; one that delivered nothing (or a bad chunk) and failed for a reason of its own
    /// *failed*. A holder that was only busy (`503`), or refused a request this client got wrong,
    /// is not reported; neither is anything about a download that was cancelled, refused, skipped or
    /// not found: those say nothing about the holders.
    public var holderReports: [HolderReport] {
        switch status {
        case .ok, .failed: break
        case .cancelled, .refused, .skipped, .notFound: return []
        }
        var order: [String] = []
        var delivered: [String: (bytes: UInt64, badChunks: Int)] = [:]
        for source in sourceRecords {
            if delivered[source.peer] == nil { order.append(source.peer) }
            delivered[source.peer, default: (0, 0)].bytes += source.bytes
            delivered[source.peer, default: (0, 0)].badChunks += source.badChunks
        }
        var failed: Set<String> = []
        for attempt in attempts {
            guard let error = attempt.error, error.isHolderFailure else { continue }
            if delivered[attempt.peer] == nil, !order.contains(attempt.peer) { order.append(attempt.peer) }
            failed.insert(attempt.peer)
        }
        let milliseconds = UInt64(max(0, (seconds * 1000).rounded()))
        return order.compactMap { peer in
            guard let endpoint = try? Endpoint(parsing: peer, defaultPort: 5555), let port = UInt16(exactly: endpoint.port) else {
                return nil
            }
            let got = delivered[peer] ?? (0, 0)
            if got.bytes > 0, got.badChunks == 0 {
                return HolderReport(host: endpoint.host, tcpPort: port, verdict: .served(bytes: got.bytes, milliseconds: milliseconds))
            }
            guard failed.contains(peer) || got.badChunks > 0 else { return nil }
            return HolderReport(host: endpoint.host, tcpPort: port, verdict: .failed)
        }
    }
}

extension TransferError {
    /// The attempt failed because of the holder: it could not be reached, stalled, broke off, lied
    /// about the content, or does not have the file it announced. Not: busy (it is alive and
    /// serving others), a request it refused as malformed, or an error of this machine.
    var isHolderFailure: Bool {
        switch self {
        case .connectFailed, .stalled, .closedEarly, .notFound, .changed, .peerError, .protocolError, .wrongContent,
             .hashMismatch, .tooSlow:
            return true
        case .busy, .badName, .badRange, .ioError, .diskFull:
            return false
        }
    }
}

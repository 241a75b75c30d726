import FerryWire

/// The text a person reads about lookups and downloads: result lines, attempt lines, `info.txt`.
public enum TransferReport {
    /// The tracker's answer for each name, as saved in `info.txt` and printed after `Send`.
    public static func lookupText(_ results: [LookupResult]) -> String {
        var lines: [String] = []
        for result in results {
            let name = LineScanner.quote(TrackerReplyLine.printable(result.name))
            switch result.outcome {
            case .found(let groups):
                for (index, group) in groups.enumerated() {
                    let version = groups.count > 1 ? " (version \(index + 1) of \(groups.count))" : ""
                    lines.append("\(name): \(counted(group.size, "byte")), sha256 \(group.digest.hex)\(version)")
                    for holder in group.holders {
                        lines.append("    \(holder.description) tcp" + (holder.udpPort > 0 ? ", udp \(holder.udpPort)" : ""))
                    }
                }
            case .notFound:
                lines.append("\(name): not found (404): no live peer shares it")
            case .badName(let reason):
                lines.append("\(name): refused (403): \(reason)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One result line per file, then one indented line per unsuccessful attempt.
    public static func resultText(_ outcome: DownloadOutcome, color: Bool) -> String {
        let name = LineScanner.quote(TrackerReplyLine.printable(outcome.name))
        let (mark, tint): (String, String) = switch outcome.status {
        case .ok: ("✔", "32")
        case .skipped: ("=", "36")
        case .notFound, .refused: ("✘", "33")
        case .failed: ("✘", "31")
        case .cancelled: ("◼", "33")
        }
        let paint = { (text: String) in color ? "\u{1B}[\(tint)m\(text)\u{1B}[0m" : text }
        var line: String
        switch outcome.status {
        case .ok:
            // The rate is of this run's bytes: a resumed download does not count what was already
            // here. A rate over a few milliseconds says nothing; it is shown for transfers that took a while.
            let records = outcome.sourceRecords
            let fetched = records.isEmpty ? outcome.bytes : records.reduce(UInt64(0)) { $0 + $1.bytes }
            let rate = outcome.seconds >= 0.2 ? ", " + ByteCount.format(UInt64(Double(fetched) / outcome.seconds)) + "/s" : ""
            let resumed = fetched < outcome.bytes ? ", resumed with \(ByteCount.format(outcome.bytes - fetched)) already here" : ""
            line = "\(paint(mark)) \(name) \(ByteCount.format(outcome.bytes)) from \(outcome.peer ?? "?") "
                + "(\(outcome.transport?.rawValue ?? "?")) in \(format(outcome.seconds))\(rate)\(resumed), sha256 verified"
        case .cancelled:
            // The message starts with the status: "cancelled; 300.0 MiB of 1.0 GiB kept in …".
            line = "\(paint(mark)) \(name) \(outcome.message ?? outcome.status.rawValue)"
        default:
            line = "\(paint(mark)) \(name) \(paint(outcome.status.rawValue)): \(outcome.message ?? "")"
        }
        for attempt in outcome.attempts where attempt.error != nil {
            line += "\n    attempt \(attempt.peer) (\(attempt.transport.rawValue)): \(attempt.error!.rawValue) after "
                + "\(ByteCount.format(attempt.bytes))" + (attempt.message.map { " - \($0)" } ?? "")
        }
        return line
    }

    /// `42 ms`, `1.5 s`, `12 s`.
    static func format(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        let tenths = (seconds * 10).rounded() / 10
        return seconds < 10 ? "\(tenths) s" : "\(Int(seconds.rounded())) s"
    }
}

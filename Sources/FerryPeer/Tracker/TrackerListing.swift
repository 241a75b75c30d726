import FerryWire

/// The tracker's answer to `LIST`, as `ferry list` prints it: a table for people, JSON lines for
/// scripts. Pure: the command asks the tracker (``TrackerConnection/listing(_:)``) and prints these.
public struct TrackerListing: Hashable, Sendable {
    /// One line per (name, size, SHA-256), in the tracker's order (by name, then most holders first).
    public var entries: [ListEntry]
    /// The tracker listed only the first ``TrackerLimits/maximumListEntries``: more match (`200 LIST <n> more`).
    public var isTruncated: Bool

    public init(entries: [ListEntry], isTruncated: Bool) {
        self.entries = entries
        self.isTruncated = isTruncated
    }

    /// Reads a `LIST` reply: its `212-` lines, and whether its final line says `more`.
    public init(reply: TrackerReply) throws(TrackerProtocolError) {
        entries = try ListEntry.entries(of: reply)
        isTruncated = reply.final.text.split(separator: " ").last == "more"
    }

    /// One JSON object per entry, keys in this order:
    /// `{"name":"file1.txt","size":18,"sha256":"d068…","holders":1}`.
    public static func jsonLine(_ entry: ListEntry) -> String {
        var json = JSONLine()
        json.field("name", entry.name)
        json.field("size", entry.size)
        json.field("sha256", entry.digest.hex)
        json.field("holders", UInt64(entry.holderCount))
        return json.result
    }

    /// The table: a header, one row per entry (name quoted only when it needs it, control characters
    /// shown as U+FFFD), then the count line. Nothing matching gives the count line alone.
    ///
    /// ```
    /// NAME       SIZE  HOLDERS  SHA-256
    /// file1.txt  18 B        1  d06852060d5e…
    /// file2.md   22 B        2  4ae65533904c…
    /// 2 files
    /// ```
    public var table: String {
        var text = ""
        if !entries.isEmpty {
            let rows = entries.map { entry in
                [Self.displayName(entry.name), ByteCount.format(entry.size), String(entry.holderCount),
                 entry.digest.shortHex + "…"]
            }
            let header = ["NAME", "SIZE", "HOLDERS", "SHA-256"]
            let widths = (0..<header.count).map { column in
                ([header] + rows).map { $0[column].count }.max() ?? 0
            }
            for row in [header] + rows {
                // Name left-aligned, size and holder count right-aligned, the digest last.
                text += Self.pad(row[0], widths[0], right: false) + "  " + Self.pad(row[1], widths[1], right: true) + "  "
                    + Self.pad(row[2], widths[2], right: true) + "  " + row[3] + "\n"
            }
        }
        return text + countLine + "\n"
    }

    /// `1 file`, `2 files`; with `(more match: only the first 1000 are listed)` when truncated. A name
    /// with two contents has two rows and counts twice: the count is of rows.
    public var countLine: String {
        counted(entries.count, "file")
            + (isTruncated ? " (more match: only the first \(entries.count) are listed; narrow the pattern)" : "")
    }

    /// A name as one cell: bare when it is plain, quoted (as at the prompt) when it has spaces at its
    /// edges, quotes, a comma or characters that are not printable.
    static func displayName(_ name: String) -> String {
        let printable = TrackerReplyLine.printable(name)
        let plain = printable == name && !name.isEmpty && name.first != " " && name.last != " "
            && !name.contains(where: { $0 == "\"" || $0 == "\\" || $0 == "," })
        return plain ? name : LineScanner.quote(printable)
    }

    private static func pad(_ text: String, _ width: Int, right: Bool) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }
}

extension TrackerConnection {
    /// Asks `LIST [pattern]`; the reply's entries and whether more matched than were listed.
    public func listing(_ pattern: String?) async throws -> TrackerListing {
        try TrackerListing(reply: try await send([TrackerRequest.list(pattern: pattern).line]))
    }
}

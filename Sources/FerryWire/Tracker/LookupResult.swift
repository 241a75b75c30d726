import NIOCore

/// A live peer that holds a file: the address the tracker observed on its control connection and the
/// ports it announced.
public struct Holder: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 or IPv6 address literal.
    public var host: String
    public var tcpPort: UInt16
    /// `0` when the peer serves no UDP.
    public var udpPort: UInt16

    public init(host: String, tcpPort: UInt16, udpPort: UInt16) {
        self.host = host
        self.tcpPort = tcpPort
        self.udpPort = udpPort
    }

    /// `host:port` for the TCP port, with IPv6 hosts in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(tcpPort)" : "\(host):\(tcpPort)"
    }
}

/// The holders of one name that share one content (size and SHA-256).
public struct HolderGroup: Hashable, Sendable {
    public var size: UInt64
    public var digest: ContentDigest
    /// The BEP 52 root of the content that most of its holders announced, `nil` when none did (older
    /// peers announce none). A downloader checks the piece layer it fetches against it, and still
    /// checks the whole file against `digest`.
    public var root: ContentDigest?
    /// Complete holders first, then partial ones.
    public var holders: [Holder]
    /// The holders that are still downloading the file and serve only the chunks they have verified
    /// (`211-PEER … PARTIAL`); ask them which (`HAVE`).
    public var partial: Set<Holder>

    public init(size: UInt64, digest: ContentDigest, root: ContentDigest? = nil, holders: [Holder], partial: Set<Holder> = []) {
        self.size = size
        self.digest = digest
        self.root = root
        self.holders = holders
        self.partial = partial
    }

    /// The holders that have the whole file.
    public var completeHolders: [Holder] { holders.filter { !partial.contains($0) } }
}

/// The tracker's answer for one requested name.
public struct LookupResult: Hashable, Sendable {
    public enum Outcome: Hashable, Sendable {
        /// Live peers hold the name; one group per distinct content, the most-held first.
        case found([HolderGroup])
        /// No live peer shares the name.
        case notFound
        /// The name breaks the name rule; the text says how.
        case badName(String)
    }

    /// The name as requested (for a bad name, as the tracker echoed it).
    public var name: String
    public var outcome: Outcome

    public init(name: String, outcome: Outcome) {
        self.name = name
        self.outcome = outcome
    }

    /// The continuation lines that carry this result in a `SEND` reply:
    ///
    /// ```
    /// 210-FILE "<name>" <size> <sha256> <holder-count> [<root>]   one per content group, then its holders:
    /// 211-PEER <ip> <tcp-port> <udp-port> [PARTIAL]
    /// 404-NOTFOUND "<name>"
    /// 403-BADNAME "<name>" <reason>
    /// ```
    public var replyLines: [TrackerReplyLine] {
        let quoted = LineScanner.quote(TrackerReplyLine.printable(name))
        switch outcome {
        case .found(let groups):
            var lines: [TrackerReplyLine] = []
            for group in groups {
                let root = group.root.map { " " + $0.hex } ?? ""
                lines.append(.init(status: .file, isFinal: false,
                                   text: "FILE \(quoted) \(group.size) \(group.digest.hex) \(group.holders.count)\(root)"))
                for holder in group.holders {
                    let partial = group.partial.contains(holder) ? " " + TrackerFeature.partial : ""
                    lines.append(.init(status: .peer, isFinal: false,
                                       text: "PEER \(holder.host) \(holder.tcpPort) \(holder.udpPort)\(partial)"))
                }
            }
            return lines
        case .notFound:
            return [.init(status: .notFound, isFinal: false, text: "NOTFOUND \(quoted)")]
        case .badName(let reason):
            return [.init(status: .badName, isFinal: false, text: "BADNAME \(quoted) \(reason)")]
        }
    }

    /// Reads the results of a `SEND` reply, in the order the tracker gave them. Throws on any line
    /// that does not follow the grammar, so a confused or hostile tracker is noticed, not trusted.
    public static func results(of reply: TrackerReply) throws(TrackerProtocolError) -> [LookupResult] {
        _ = try reply.checked()
        var results: [LookupResult] = []
        var groups: [HolderGroup] = []
        var currentName: String?

        func flush() {
            if let name = currentName { results.append(LookupResult(name: name, outcome: .found(groups))) }
            currentName = nil
            groups = []
        }

        for line in reply.lines {
            var scanner = LineScanner(line.text)
            do {
                switch (line.status, scanner.word()) {
                case (.file, "FILE"):
                    var rest = LineScanner(line.text.dropFirst(5))
                    let (name, size, digest, _) = try fileFields(&rest)
                    var root: ContentDigest?
                    if let word = rest.word() {
                        guard let parsed = ContentDigest(hex: word), SharedFileEntry.isPlausible(root: parsed, size: size) else {
                            throw SyntaxError("FILE root must be 64 hexadecimal digits, zero exactly for an empty file")
                        }
                        // Words after the root are left for later versions, as the root was left by earlier ones.
                        root = parsed
                    }
                    if name != currentName { flush(); currentName = name }
                    groups.append(HolderGroup(size: size, digest: digest, root: root, holders: []))
                case (.peer, "PEER"):
                    guard currentName != nil, !groups.isEmpty else { throw SyntaxError("PEER before FILE") }
                    guard let host = scanner.word(), (try? SocketAddress(ipAddress: host, port: 0)) != nil else {
                        throw SyntaxError("PEER address is not an IP address")
                    }
                    let tcp = try scanner.number("tcp port", maximum: 65535)
                    let udp = try scanner.number("udp port", maximum: 65535)
                    guard tcp > 0 else { throw SyntaxError("PEER tcp port is 0") }
                    let holder = Holder(host: host, tcpPort: UInt16(tcp), udpPort: UInt16(udp))
                    groups[groups.count - 1].holders.append(holder)
                    // Other words after the ports are left for later versions.
                    if scanner.word()?.uppercased() == TrackerFeature.partial { groups[groups.count - 1].partial.insert(holder) }
                case (.notFound, "NOTFOUND"):
                    flush()
                    results.append(LookupResult(name: try scanner.name(), outcome: .notFound))
                case (.badName, "BADNAME"):
                    flush()
                    var rest = LineScanner(line.text.dropFirst(8))
                    let name = try rest.quotedName()
                    results.append(LookupResult(name: name, outcome: .badName(rest.rest())))
                default:
                    throw SyntaxError("unexpected line")
                }
            } catch {
                throw .malformed("tracker reply line \(LineScanner.quote(TrackerReplyLine.printable(String(line.line.prefix(120))))): \(error)")
            }
        }
        flush()
        return results
    }

    /// Reads `"<name>" <size> <sha256> <count>`, shared by `FILE` and `LIST` lines.
    static func fileFields(_ scanner: inout LineScanner) throws -> (String, UInt64, ContentDigest, UInt64) {
        let name = try scanner.quotedName()
        let size = try scanner.number("size")
        guard let hex = scanner.word(), let digest = ContentDigest(hex: hex) else {
            throw SyntaxError("sha256 must be 64 hexadecimal digits")
        }
        let count = try scanner.number("holder count")
        return (name, size, digest, count)
    }
}

/// One entry of a `LIST` reply: `212-"<name>" <size> <sha256> <holder-count>`.
public struct ListEntry: Hashable, Sendable {
    public var name: String
    public var size: UInt64
    public var digest: ContentDigest
    public var holderCount: Int

    public init(name: String, size: UInt64, digest: ContentDigest, holderCount: Int) {
        self.name = name
        self.size = size
        self.digest = digest
        self.holderCount = holderCount
    }

    public var replyLine: TrackerReplyLine {
        .init(status: .listEntry, isFinal: false,
              text: "\(LineScanner.quote(TrackerReplyLine.printable(name))) \(size) \(digest.hex) \(holderCount)")
    }

    /// Reads the entries of a `LIST` reply.
    public static func entries(of reply: TrackerReply) throws(TrackerProtocolError) -> [ListEntry] {
        _ = try reply.checked()
        var entries: [ListEntry] = []
        for line in reply.lines {
            do {
                guard line.status == .listEntry else { throw SyntaxError("unexpected status") }
                var scanner = LineScanner(line.text)
                let (name, size, digest, count) = try LookupResult.fileFields(&scanner)
                entries.append(ListEntry(name: name, size: size, digest: digest, holderCount: Int(clamping: count)))
            } catch {
                throw .malformed("tracker LIST line \(LineScanner.quote(TrackerReplyLine.printable(String(line.line.prefix(120))))): \(error)")
            }
        }
        return entries
    }
}

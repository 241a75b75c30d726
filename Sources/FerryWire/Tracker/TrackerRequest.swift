/// A file as a peer announces it: its name, size and SHA-256, and the root of its BEP 52 Merkle tree
/// when the peer computed one (older peers do not).
public struct SharedFileEntry: Hashable, Sendable {
    public var name: SharedFileName
    public var size: UInt64
    public var digest: ContentDigest
    /// BEP 52's `pieces root` of the content (64 zero digits for an empty file), or `nil`.
    public var root: ContentDigest?
    /// The peer is still downloading the file and serves only the chunks it has verified (a *partial
    /// holder*: `ADD … <root> PARTIAL`). Only with a root: chunks are checked against it.
    public var isPartial: Bool

    public init(name: SharedFileName, size: UInt64, digest: ContentDigest, root: ContentDigest? = nil, isPartial: Bool = false) {
        precondition(!isPartial || root != nil, "a partial holder announces a root")
        self.name = name
        self.size = size
        self.digest = digest
        self.root = root
        self.isPartial = isPartial
    }

    /// The zero root: what an empty file has, and what no other file can have.
    public static let zeroRoot = ContentDigest(bytes: [UInt8](repeating: 0, count: ContentDigest.byteCount))!

    /// Whether `root` can be the root of a file of `size` bytes: the zero root exactly for an empty file.
    public static func isPlausible(root: ContentDigest, size: UInt64) -> Bool {
        (root == zeroRoot) == (size == 0)
    }

    /// The same entry without its root: what a tracker that did not offer `ROOTS` is sent (never a
    /// partial entry: those go only to trackers that offer `PARTIAL`).
    public var withoutRoot: SharedFileEntry {
        SharedFileEntry(name: name, size: size, digest: digest)
    }
}

/// One line a client sends to the tracker. Verbs are case-insensitive.
///
/// ```
/// HELLO <tcp-port> <udp-port>        register this connection as a peer (udp-port 0: no UDP)
/// UPDATE <count>                     replace this peer's whole share; <count> FILE lines follow
/// FILE <size> <sha256> <name> [<root>]   one file of an UPDATE (a root only after a quoted name)
/// ADD <size> <sha256> <name> [<root> [PARTIAL]]    add or replace one file (PARTIAL: still downloading it)
/// REMOVE <name>                      stop sharing one file
/// SEND <name>[, <name> …]            who has these files?
/// LIST [<pattern>]                   what is shared (glob with * and ?, or a substring)
/// REPORT <host> <tcp-port> OK <bytes> <ms> | FAILED    how a holder served a download
/// PING                               heartbeat
/// HELP                               the commands
/// QUIT                               close the connection
/// ```
public enum TrackerRequest: Hashable, Sendable {
    case hello(tcpPort: UInt16, udpPort: UInt16)
    case update(count: Int)
    case file(SharedFileEntry)
    case add(SharedFileEntry)
    case remove(SharedFileName)
    /// The names as sent; the tracker checks each one and answers a bad one in its place.
    case send([String])
    case list(pattern: String?)
    case report(HolderReport)
    case ping
    case help
    case quit

    /// Parses one line (without its `\n`).
    public init(parsing line: String) throws(TrackerProtocolError) {
        var scanner = LineScanner(line)
        guard let verb = scanner.word() else { throw .malformed("empty line; try HELP") }
        do {
            switch verb.uppercased() {
            case "HELLO":
                let tcp = try scanner.number("tcp port", maximum: 65535)
                let udp = scanner.isAtEnd ? 0 : try scanner.number("udp port", maximum: 65535)
                guard tcp > 0 else { throw SyntaxError("tcp port must be from 1 to 65535") }
                try Self.expectEnd(&scanner)
                self = .hello(tcpPort: UInt16(tcp), udpPort: UInt16(udp))
            case "UPDATE":
                let count = try scanner.number("count")
                try Self.expectEnd(&scanner)
                guard count <= UInt64(TrackerLimits.maximumFilesPerPeer) else {
                    throw TrackerProtocolError(.tooMany, "at most \(TrackerLimits.maximumFilesPerPeer) files per peer")
                }
                self = .update(count: Int(count))
            case "FILE":
                self = .file(try Self.entry(&scanner))
            case "ADD":
                self = .add(try Self.entry(&scanner))
            case "REMOVE":
                self = .remove(try Self.validName(scanner.name()))
            case "SEND":
                let names = try scanner.nameList()
                guard names.count <= TrackerLimits.maximumNamesPerLookup else {
                    throw TrackerProtocolError(
                        .tooMany, "at most \(TrackerLimits.maximumNamesPerLookup) names per SEND")
                }
                self = .send(names)
            case "LIST":
                self = .list(pattern: scanner.isAtEnd ? nil : try scanner.name())
            case "REPORT":
                self = .report(try HolderReport.parse(&scanner))
            case "PING":
                try Self.expectEnd(&scanner)
                self = .ping
            case "HELP":
                self = .help
            case "QUIT", "BYE":
                self = .quit
            default:
                throw TrackerProtocolError(
                    .unknownCommand, "unknown command \(LineScanner.quote(TrackerReplyLine.printable(verb))); try HELP")
            }
        } catch let error as SyntaxError {
            throw .malformed("\(verb.uppercased()): \(error.message)")
        } catch let error as TrackerProtocolError {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }

    /// The line that encodes this request, without `\n`.
    public var line: String {
        switch self {
        case .hello(let tcp, let udp): return "HELLO \(tcp) \(udp)"
        case .update(let count): return "UPDATE \(count)"
        case .file(let entry): return "FILE " + Self.fields(entry)
        case .add(let entry): return "ADD " + Self.fields(entry)
        case .remove(let name): return "REMOVE \(LineScanner.quote(name.rawValue))"
        case .send(let names): return "SEND " + names.map(LineScanner.quote).joined(separator: ", ")
        case .list(let pattern): return pattern.map { "LIST \(LineScanner.quote($0))" } ?? "LIST"
        case .report(let report): return "REPORT " + report.fields
        case .ping: return "PING"
        case .help: return "HELP"
        case .quit: return "QUIT"
        }
    }

    /// `<size> <sha256> "<name>" [<root> [PARTIAL]]`, the name always quoted.
    private static func fields(_ entry: SharedFileEntry) -> String {
        let base = "\(entry.size) \(entry.digest.hex) \(LineScanner.quote(entry.name.rawValue))"
        guard let root = entry.root else { return base }
        return base + " " + root.hex + (entry.isPartial ? " " + TrackerFeature.partial : "")
    }

    /// Reads `<size> <sha256> <name> [<root> [PARTIAL]]`. A bare name is the rest of the line, as
    /// before roots existed, so a root can only follow a quoted name.
    private static func entry(_ scanner: inout LineScanner) throws -> SharedFileEntry {
        let size = try scanner.number("size")
        guard let digest = scanner.digest() else { throw SyntaxError("sha256 must be 64 hexadecimal digits") }
        guard scanner.startsWithQuote else {
            return SharedFileEntry(name: try validName(scanner.name()), size: size, digest: digest)
        }
        let name = try validName(try scanner.quotedName())
        var root: ContentDigest?
        var isPartial = false
        if !scanner.isAtEnd {
            guard let parsed = scanner.digest() else { throw SyntaxError("root must be 64 hexadecimal digits") }
            guard SharedFileEntry.isPlausible(root: parsed, size: size) else {
                throw SyntaxError(size == 0 ? "the root of an empty file is 64 zeros" : "a zero root is only for an empty file")
            }
            root = parsed
            if let flag = scanner.word() {
                guard flag.uppercased() == TrackerFeature.partial else {
                    throw SyntaxError("unexpected text at the end of the line")
                }
                isPartial = true
            }
            try expectEnd(&scanner)
        }
        return SharedFileEntry(name: name, size: size, digest: digest, root: root, isPartial: isPartial)
    }

    private static func validName(_ raw: String) throws(TrackerProtocolError) -> SharedFileName {
        do {
            return try SharedFileName(validating: raw)
        } catch {
            throw .badName(raw, error)
        }
    }

    private static func expectEnd(_ scanner: inout LineScanner) throws(SyntaxError) {
        guard scanner.isAtEnd else { throw SyntaxError("unexpected text at the end of the line") }
    }
}

import FerryWire

/// A command typed at `ferry peer`'s prompt. Verbs are case-insensitive.
///
/// ```
/// Send <name>[, <name> …] [via tcp|udp]   download (also: get); quote names with commas or edge spaces
/// list [<pattern>]                        what the tracker indexes (glob with * and ?, or a substring)
/// transport tcp|udp                       the default transport for Send
/// status                                  tracker connection, share and running downloads
/// version                                 Ferry's version
/// help                                    this list
/// quit                                    stop the peer (also: exit)
/// ```
///
/// A verb close to a known one (`Sned`) is answered with a suggestion, and `Send a via quic` with the
/// transports there are (a name that ends in "via …" is quoted).
public enum ConsoleCommand: Hashable, Sendable {
    case send(names: [String], transport: Transport?)
    case list(pattern: String?)
    case transport(Transport)
    case status
    case version
    case help
    case quit
    case empty

    public init(parsing line: String) throws(SyntaxError) {
        var scanner = LineScanner(line)
        guard let verb = scanner.word() else {
            self = .empty
            return
        }
        switch verb.lowercased() {
        case "send", "get":
            var rest = scanner.rest()
            var transport: Transport?
            for candidate in Transport.allCases {
                let suffix = " via \(candidate.rawValue)"
                if rest.lowercased().hasSuffix(suffix) {
                    transport = candidate
                    rest = String(rest.dropLast(suffix.count))
                }
            }
            if transport == nil, let unknown = Self.unknownTransport(in: rest) {
                throw SyntaxError("unknown transport \(LineScanner.quote(TrackerReplyLine.printable(unknown))); use tcp or udp "
                                  + "(quote a name that ends in \"via …\")")
            }
            var names = LineScanner(rest)
            self = .send(names: try names.nameList(), transport: transport)
        case "list", "ls":
            self = .list(pattern: scanner.isAtEnd ? nil : try scanner.name())
        case "transport":
            guard let word = scanner.word(), let transport = Transport(rawValue: word.lowercased()), scanner.isAtEnd else {
                throw SyntaxError("usage: transport tcp|udp")
            }
            self = .transport(transport)
        case "status":
            self = .status
        case "version":
            self = .version
        case "help", "?":
            self = .help
        case "quit", "exit":
            self = .quit
        default:
            let quoted = LineScanner.quote(TrackerReplyLine.printable(verb))
            if let close = Suggestion.closest(to: verb, among: Self.verbs) {
                throw SyntaxError("unknown command \(quoted); did you mean \(LineScanner.quote(close))? (type help)")
            }
            throw SyntaxError("unknown command \(quoted); type help")
        }
    }

    /// The verbs, as suggested for a typo.
    static let verbs = ["Send", "get", "list", "transport", "status", "version", "help", "quit", "exit"]

    /// The word after a last unquoted `via`, when the text ends with it: a transport that is not one.
    static func unknownTransport(in text: String) -> String? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard words.count >= 3, words[words.count - 2].lowercased() == "via",
              let last = words.last, !last.contains(where: { $0 == "\"" || $0 == "," })
        else { return nil }
        return String(last)
    }

    public static let helpText = """
        Send <name>[, <name> ...] [via tcp|udp]  download files in parallel (quote names with commas)
        list [<pattern>]                         list shared files (glob with * and ?, or a substring)
        transport tcp|udp                        set the default transport for Send
        status                                   show the tracker connection, the share and running downloads
        version                                  show Ferry's version
        help                                     show this help
        quit                                     stop the peer
        """
}

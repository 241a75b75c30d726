import FerryWire

/// A command typed at `ferry peer`'s prompt. Verbs are case-insensitive.
///
/// ```
/// Send <name>[, <name> …] [via tcp|udp]   download (also: get); quote names with commas or edge spaces
/// list [<pattern>]                        what the tracker indexes (glob with * and ?, or a substring)
/// transport tcp|udp                       the default transport for Send
/// status                                  tracker connection, share and running downloads
/// help                                    this list
/// quit                                    stop the peer (also: exit)
/// ```
public enum ConsoleCommand: Hashable, Sendable {
    case send(names: [String], transport: Transport?)
    case list(pattern: String?)
    case transport(Transport)
    case status
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
        case "help", "?":
            self = .help
        case "quit", "exit":
            self = .quit
        default:
            throw SyntaxError("unknown command \(LineScanner.quote(TrackerReplyLine.printable(verb))); type help")
        }
    }

    public static let helpText = """
        Send <name>[, <name> ...] [via tcp|udp]  download files in parallel (quote names with commas)
        list [<pattern>]                         list shared files (glob with * and ?, or a substring)
        transport tcp|udp                        set the default transport for Send
        status                                   show the tracker connection, the share and running downloads
        help                                     show this help
        quit                                     stop the peer
        """
}

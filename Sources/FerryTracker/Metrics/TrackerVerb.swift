/// A request's verb as the metrics count it: the protocol's verbs, and `other` for anything else
/// (a typo, garbage), so that strangers cannot grow the label set.
enum TrackerVerb: Int, CaseIterable, Sendable {
    case hello, update, file, add, remove, send, list, report, ping, help, quit, other

    var label: String {
        self == .other ? "other" : "\(self)".uppercased()
    }

    /// The verb of a line: its first word, case-insensitive (as ``TrackerRequest`` reads it).
    init(line: String) {
        let word = line.utf8.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }.prefix(8)
        switch String(decoding: word, as: UTF8.self).uppercased() {
        case "HELLO": self = .hello
        case "UPDATE": self = .update
        case "FILE": self = .file
        case "ADD": self = .add
        case "REMOVE": self = .remove
        case "SEND": self = .send
        case "LIST": self = .list
        case "REPORT": self = .report
        case "PING": self = .ping
        case "HELP": self = .help
        case "QUIT", "BYE": self = .quit
        default: self = .other
        }
    }
}

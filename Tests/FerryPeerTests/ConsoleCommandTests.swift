@testable import FerryPeer
import FerryWire
import Testing

@Suite("ConsoleCommand: what a person types at ferry>")
struct ConsoleCommandTests {
    static let good: [(String, ConsoleCommand)] = [
        ("Send a.txt", .send(names: ["a.txt"], transport: nil)),
        ("Send a, \"b, c\" via udp", .send(names: ["a", "b, c"], transport: .udp)),
        ("send file1.txt, file2.md", .send(names: ["file1.txt", "file2.md"], transport: nil)),
        ("SEND a VIA TCP", .send(names: ["a"], transport: .tcp)),
        ("send a via Udp  ", .send(names: ["a"], transport: .udp)),
        ("get x.bin", .send(names: ["x.bin"], transport: nil)),
        ("GeT  my file.txt ", .send(names: ["my file.txt"], transport: nil)),
        ("Send \"x via tcp\"", .send(names: ["x via tcp"], transport: nil)),
        ("Send \" edge \", \"say \\\"hi\\\"\"", .send(names: [" edge ", "say \"hi\""], transport: nil)),
        ("Send a,", .send(names: ["a", ""], transport: nil)),
        ("list", .list(pattern: nil)),
        ("LIST   ", .list(pattern: nil)),
        ("ls *.txt", .list(pattern: "*.txt")),
        ("list \"a b\"", .list(pattern: "a b")),
        ("list a b", .list(pattern: "a b")),
        ("transport udp", .transport(.udp)),
        ("Transport TCP", .transport(.tcp)),
        ("status", .status),
        ("version", .version),
        ("Send \"a via quic\"", .send(names: ["a via quic"], transport: nil)),
        ("STATUS", .status),
        ("help", .help),
        ("?", .help),
        ("Help me", .help),
        ("quit", .quit),
        ("exit", .quit),
        ("EXIT", .quit),
        ("", .empty),
        ("   ", .empty),
        ("\t", .empty),
    ]

    @Test("commands parse, verbs in any case", arguments: good)
    func parses(_ line: String, _ command: ConsoleCommand) throws {
        #expect(try ConsoleCommand(parsing: line) == command)
    }

    static let bad: [(String, String)] = [
        ("send", "missing name"),
        ("Send   ", "missing name"),
        ("Send \"a", "unterminated quoted name"),
        ("Send \"a\" b", "expected ',' between names"),
        ("Send \"a\\x\"", "only \\\" and \\\\ may follow a backslash in a quoted name"),
        ("transport", "usage: transport tcp|udp"),
        ("transport ftp", "usage: transport tcp|udp"),
        ("transport tcp udp", "usage: transport tcp|udp"),
        ("list \"a", "unterminated quoted name"),
        ("frobnicate", "unknown command \"frobnicate\"; type help"),
        ("\u{1B}[2Jx", "unknown command \"\u{FFFD}[2Jx\"; type help"),
        ("Sned a.txt", "unknown command \"Sned\"; did you mean \"Send\"? (type help)"),
        ("stauts", "unknown command \"stauts\"; did you mean \"status\"? (type help)"),
        ("Send notes via email", "unknown transport \"email\"; use tcp or udp (quote a name that ends in \"via …\")"),
        ("Send a.txt via quic", "unknown transport \"quic\"; use tcp or udp (quote a name that ends in \"via …\")"),
        ("Send a, \"b c\" VIA ftp", "unknown transport \"ftp\"; use tcp or udp (quote a name that ends in \"via …\")"),
    ]

    @Test("mistakes are explained", arguments: bad)
    func refuses(_ line: String, _ message: String) {
        #expect(throws: SyntaxError(message)) { try ConsoleCommand(parsing: line) }
    }

    @Test("a name that ends in 'via tcp' needs quotes, and keeps them")
    func viaInName() throws {
        #expect(try ConsoleCommand(parsing: "Send report via tcp") == .send(names: ["report"], transport: .tcp))
        #expect(try ConsoleCommand(parsing: "Send \"report via tcp\"") == .send(names: ["report via tcp"], transport: nil))
        #expect(try ConsoleCommand(parsing: "Send \"report via tcp\" via udp") == .send(names: ["report via tcp"], transport: .udp))
    }

    @Test("the help text names every command")
    func helpText() {
        for verb in ["Send", "list", "transport", "status", "version", "help", "quit", "via tcp|udp"] {
            #expect(ConsoleCommand.helpText.contains(verb), "\(verb)")
        }
        #expect(ConsoleCommand.helpText.split(separator: "\n").count == 7)
    }

    @Test("suggestions: the closest known word within two edits, a swap counting one")
    func suggestions() {
        #expect(Suggestion.closest(to: "Sned", among: ConsoleCommand.verbs) == "Send")
        #expect(Suggestion.closest(to: "SEDN", among: ConsoleCommand.verbs) == "Send")
        #expect(Suggestion.closest(to: "serve", among: ["server", "peer", "get", "demo", "help"]) == "server")
        #expect(Suggestion.closest(to: "pear", among: ["server", "peer", "get", "demo", "help"]) == "peer")
        #expect(Suggestion.closest(to: "frobnicate", among: ConsoleCommand.verbs) == nil)
        #expect(Suggestion.closest(to: "x", among: ConsoleCommand.verbs) == nil, "one letter is too short to guess from")
        #expect(Suggestion.closest(to: "send", among: ConsoleCommand.verbs) == nil, "not a typo")
        #expect(Suggestion.closest(to: "", among: ConsoleCommand.verbs) == nil)
    }
}

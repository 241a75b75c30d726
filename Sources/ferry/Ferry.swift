import ArgumentParser
import FerryPeer
import Foundation

/// `ferry`: a peer-to-peer file transfer tool. A tracker keeps the index; peers share a folder and
/// download from each other.
@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Peer-to-peer file transfer: a tracker keeps the index, peers share and download.",
        // Commands stand on short lines of their own: the parser wraps prose at spaces to the
        // terminal's width, which would part a command from its arguments.
        discussion: """
            Start a tracker, then peers, then download at a peer's prompt or with ferry get:

              ferry server
              ferry peer --share ./files
              Send a.txt, b.md          (typed at the peer's prompt)
              ferry get a.txt b.md
              ferry list                (what the tracker indexes)

            ferry demo shows it all in one process.
            """,
        version: BuildVersion.text,
        subcommands: [ServerCommand.self, PeerCommand.self, GetCommand.self, ListCommand.self, DemoCommand.self]
    )

    /// Runs the command line; a first word that is no command but close to one (`ferry serve`) is
    /// answered with the command it probably meant, exit status 64 as for any usage error.
    static func main() async {
        if let message = suggestion(for: Array(CommandLine.arguments.dropFirst())) {
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Foundation.exit(64)
        }
        await main(nil)
    }

    /// The message for a mistyped command, if the first argument is one.
    static func suggestion(for arguments: [String]) -> String? {
        let commands = configuration.subcommands.map { $0._commandName } + ["help"]
        guard let first = arguments.first, !first.hasPrefix("-"), !commands.contains(first),
              let close = Suggestion.closest(to: first, among: commands) else { return nil }
        return "Error: unknown command '\(first)'; did you mean '\(close)'?\nUsage: ferry <subcommand>; see 'ferry --help'."
    }
}

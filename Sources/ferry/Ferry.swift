import ArgumentParser

/// `ferry`: a peer-to-peer file transfer tool. A tracker keeps the index; peers share a folder and
/// download from each other.
@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Peer-to-peer file transfer: a tracker keeps the index, peers share and download.",
        discussion: """
            Start a tracker with `ferry server`, peers with `ferry peer`, and type `Send a.txt, b.md` at a
            peer's prompt (or run `ferry get a.txt b.md`). `ferry demo` shows it all in one process.
            """,
        subcommands: [ServerCommand.self, PeerCommand.self, GetCommand.self, DemoCommand.self]
    )
}

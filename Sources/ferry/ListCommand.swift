import ArgumentParser
import FerryPeer
import FerryWire
import Foundation

/// `ferry list`: the tracker's `LIST` once, for people and scripts, without registering as a peer.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the files live peers share (the tracker's LIST) and exit.",
        discussion: """
            PATTERN is a glob with * and ? or, without either, a substring; ASCII letters match either \
            case, and names compare in Unicode NFC. Without PATTERN every shared file is listed (at most \
            1000).

            With --json, one JSON object per file, with the keys name, size, sha256 and holders.

            Exit status: 0 the tracker answered (also when nothing matches); 1 the tracker could not be \
            reached, refused the pattern, closed the connection or was silent for 10 s; 64 bad usage.
            """
    )

    @Argument(help: "Glob (* and ?) or substring; every file when missing.")
    var pattern: String?

    @OptionGroup var tracker: TrackerOptions

    @Option(help: "Address that the tracker connection leaves from.")
    var host: String?

    @Flag(help: "Print one JSON object per file instead of a table.")
    var json = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let pattern, pattern.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            throw ValidationError("the pattern contains a control character")
        }
        if let pattern, pattern.utf8.count > SharedFileName.maximumByteCount {
            throw ValidationError("the pattern is longer than \(SharedFileName.maximumByteCount) bytes of UTF-8")
        }
    }

    func run() async throws {
        _ = logging.makeLogger(label: "ferry.list")
        let servers = try tracker.endpoints()
        let terminal = Terminal.standardOutput
        let listing: TrackerListing
        do {
            let connection = try await TrackerConnection.connectToFirst(of: servers, localHost: host)
            do {
                listing = try await connection.listing(pattern)
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
        } catch let error as PeerError where error.code == .trackerUnavailable {
            throw CommandFailure("\(error). Start one with `ferry server` or pass --server HOST[:PORT].")
        } catch let error as TrackerProtocolError {
            throw CommandFailure("the tracker refused the listing: \(error)")
        }
        if json {
            terminal.write(listing.entries.map { TrackerListing.jsonLine($0) + "\n" }.joined())
            if listing.isTruncated {
                FileHandle.standardError.write(Data((listing.countLine + "\n").utf8))
            }
        } else {
            terminal.write(listing.table)
        }
    }
}

import ArgumentParser
import FerryPeer
import Foundation

/// Where the tracker is: `--server`, else `FERRY_SERVER`, else `127.0.0.1:4444`.
struct TrackerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Tracker address HOST[:PORT].", discussion: "Default: $FERRY_SERVER, else 127.0.0.1:4444."))
    var server: String?

    func endpoint() throws -> Endpoint {
        let text = server ?? ProcessInfo.processInfo.environment["FERRY_SERVER"] ?? "127.0.0.1:4444"
        do {
            return try Endpoint(parsing: text, defaultPort: 4444)
        } catch {
            throw ValidationError("--server: \(error.message)")
        }
    }
}

/// Creates `folder` (and its parents) if it does not exist.
func ensureFolder(_ folder: String, flag: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
        throw CommandFailure("cannot create the \(flag) folder \(folder): \(error.localizedDescription)")
    }
}

extension Transport: ExpressibleByArgument {}

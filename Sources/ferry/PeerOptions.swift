import ArgumentParser
import FerryPeer
import Foundation

/// Where the tracker is: `--server`, else `FERRY_SERVER`, else `127.0.0.1:4444`. Several trackers
/// sharing one index may be given, comma-separated: the first that answers is used.
struct TrackerOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Tracker address HOST[:PORT], or several comma-separated (a:4444,b:4444) to fail over between.",
        discussion: "Default: $FERRY_SERVER, else 127.0.0.1:4444."))
    var server: String?

    func endpoints() throws -> [Endpoint] {
        let text = server ?? ProcessInfo.processInfo.environment["FERRY_SERVER"] ?? "127.0.0.1:4444"
        do {
            return try Endpoint.list(parsing: text, defaultPort: 4444)
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

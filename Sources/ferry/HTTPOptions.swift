import ArgumentParser
import FerryHTTP

/// `--http [HOST:]PORT`: serve /metrics, the status page and /healthz (off by default).
struct HTTPOptions: ParsableArguments {
    @Option(name: .customLong("http"), help: ArgumentHelp(
        "Serve /metrics (Prometheus), a status page at / and /healthz over HTTP on [HOST:]PORT.",
        discussion: "A bare PORT listens on 127.0.0.1 only; write 0.0.0.0:PORT to serve other machines. Off by default.",
        valueName: "[host:]port"))
    var http: String?

    /// The address, or `nil` when `--http` was not given.
    func address() throws -> HTTPListenAddress? {
        guard let http else { return nil }
        do {
            return try HTTPListenAddress(parsing: http)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func validate() throws {
        _ = try address()
    }
}

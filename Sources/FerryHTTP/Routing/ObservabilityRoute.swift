import NIOHTTP1

/// The four things the HTTP side serves, and the decision for a request head, made without I/O.
public enum ObservabilityRoute: String, Sendable, CaseIterable {
    /// `/`: the status page (HTML, refreshes itself from ``statusJSON``).
    case statusPage = "/"
    /// `/status.json`: what the page shows.
    case statusJSON = "/status.json"
    /// `/metrics`: the Prometheus text format.
    case metrics = "/metrics"
    /// `/healthz`: `200 ok` when serving, `503` and why otherwise.
    case health = "/healthz"

    /// What to do with a request.
    public enum Decision: Sendable, Equatable {
        /// Serve `route`; with `headOnly` (a `HEAD`), the headers without the body.
        case serve(ObservabilityRoute, headOnly: Bool)
        /// `404` (unknown path) or `405` (a known path, a method other than GET and HEAD).
        case refuse(HTTPResponseStatus)
    }

    /// The path is matched exactly, after dropping a query string (`/?x=1` is `/`); nothing is decoded.
    public static func decide(method: HTTPMethod, uri: String) -> Decision {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard let route = ObservabilityRoute(rawValue: path) else { return .refuse(.notFound) }
        switch method {
        case .GET: return .serve(route, headOnly: false)
        case .HEAD: return .serve(route, headOnly: true)
        default: return .refuse(.methodNotAllowed)
        }
    }
}

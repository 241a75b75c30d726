/// A `HOST[:PORT]` given on the command line or in `FERRY_SERVER`; IPv6 hosts go in brackets.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    public init(parsing text: String, defaultPort: Int) throws(PeerError) {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw PeerError(.badConfiguration, "\(text): missing ']' after an IPv6 address")
            }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else {
                    throw PeerError(.badConfiguration, "\(text): expected [ADDRESS]:PORT")
                }
                port = value
            }
        } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            guard let value = Int(host[host.index(after: colon)...]) else {
                throw PeerError(.badConfiguration, "\(text): the port must be a number")
            }
            port = value
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw PeerError(.badConfiguration, "\(text): missing host") }
        guard (1...65535).contains(port) else {
            throw PeerError(.badConfiguration, "\(text): the port must be from 1 to 65535")
        }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension Endpoint {
    /// The most trackers one `--server` list may name.
    public static let maximumListCount = 16

    /// Parses a comma-separated list of endpoints (`a:4444,b:4444`, spaces allowed around commas), in
    /// order of preference, duplicates dropped.
    public static func list(parsing text: String, defaultPort: Int) throws(PeerError) -> [Endpoint] {
        var endpoints: [Endpoint] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = Self.trimmed(item)
            guard !trimmed.isEmpty else {
                throw PeerError(.badConfiguration, "\(text): an empty address in the list")
            }
            let endpoint = try Endpoint(parsing: trimmed, defaultPort: defaultPort)
            if !endpoints.contains(endpoint) { endpoints.append(endpoint) }
        }
        guard endpoints.count <= maximumListCount else {
            throw PeerError(.badConfiguration, "\(text): at most \(maximumListCount) trackers")
        }
        return endpoints
    }

    private static func trimmed(_ text: Substring) -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isBlank($0) }), let last = text.lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(text[first...last])
    }

    /// `a:4444, b:4444`, for messages.
    public static func describe(_ endpoints: [Endpoint]) -> String {
        endpoints.map(\.description).joined(separator: ", ")
    }
}

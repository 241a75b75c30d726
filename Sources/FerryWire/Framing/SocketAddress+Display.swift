import NIOCore

extension SocketAddress {
    /// `ip:port`, with IPv6 in brackets: how Ferry shows addresses to people.
    public var displayString: String {
        guard let ip = ipAddress else { return "\(self)" }
        let port = self.port ?? 0
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// A peer's UDP address as the pure core sees it: opaque, comparable, and able to give the bytes the
/// address-validation cookie is bound to.
///
/// A NIO driver can conform `SocketAddress` (IP bytes + port) or use ``UDPAddress``.
public protocol UDPPeerAddress: Hashable, Sendable {
    /// Bytes identifying the address — IP address and port — for the cookie's MAC.
    var cookieBytes: [UInt8] { get }
    /// Bytes identifying the host alone — the IP address, without the port — for per-address caps.
    var hostBytes: [UInt8] { get }
}

/// A plain UDP address: IP address bytes (4 for IPv4, 16 for IPv6) and a port.
public struct UDPAddress: UDPPeerAddress, CustomStringConvertible {
    /// The IP address in network byte order.
    public var ip: [UInt8]
    /// The UDP port.
    public var port: UInt16

    /// Creates an address.
    public init(ip: [UInt8], port: UInt16) {
        self.ip = ip
        self.port = port
    }

    public var cookieBytes: [UInt8] {
        [UInt8(self.ip.count)] + self.ip + [UInt8(self.port >> 8), UInt8(self.port & 0xFF)]
    }

    public var hostBytes: [UInt8] { self.ip }

    public var description: String {
        if self.ip.count == 4 {
            return self.ip.map(String.init).joined(separator: ".") + ":\(self.port)"
        }
        return "[" + self.ip.map { String($0, radix: 16) }.joined(separator: " ") + "]:\(self.port)"
    }
}

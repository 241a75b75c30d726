/// Where `--http` listens: `PORT` or `HOST:PORT` (`[IPv6]:PORT`).
///
/// A bare `PORT` binds `127.0.0.1`: the status page names every peer and file the process knows, and
/// `/metrics` its traffic, which is for the operator, not the internet. Serving it to other machines
/// takes an explicit host (`0.0.0.0:9090`), which is a decision a reader of the command line can see.
public struct HTTPListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host a bare port binds.
    public static let defaultHost = "127.0.0.1"

    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Why a `--http` value was refused, in a sentence that says what to write instead.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var value: String
        public var reason: String
        public var description: String {
            "invalid --http value \"\(value)\": \(reason) (expected PORT or HOST:PORT, e.g. 9090 or 0.0.0.0:9090)"
        }
    }

    /// Parses `PORT`, `HOST:PORT` or `[IPV6]:PORT`; ports 0 to 65535 (0: any free port).
    public init(parsing value: String) throws(ParseError) {
        func fail(_ reason: String) -> ParseError { ParseError(value: value, reason: reason) }
        guard !value.isEmpty else { throw fail("it is empty") }
        guard value.utf8.count <= 300, value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127 }) else {
            throw fail("it holds spaces, control or non-ASCII characters")
        }
        var host = Self.defaultHost
        var portText = Substring(value)
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { throw fail("an IPv6 address needs its closing ]") }
            host = String(value[value.index(after: value.startIndex)..<close])
            let rest = value[value.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("':' and a port must follow ']'") }
            portText = rest.dropFirst()
        } else if let colon = value.lastIndex(of: ":") {
            host = String(value[..<colon])
            guard !host.contains(":") else { throw fail("write an IPv6 address in brackets: [::1]:9090") }
            portText = value[value.index(after: colon)...]
        }
        guard !host.isEmpty else { throw fail("the host before ':' is empty") }
        guard !portText.isEmpty, portText.utf8.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(portText), (0...65535).contains(port) else {
            throw fail("the port must be a number from 0 to 65535")
        }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

@testable import FerryPeer
import Testing

@Suite("Endpoint: HOST[:PORT] with IPv6 in brackets")
struct EndpointTests {
    static let good: [(String, String, Int)] = [
        ("tracker.example", "tracker.example", 4444),
        ("127.0.0.1", "127.0.0.1", 4444),
        ("127.0.0.1:5000", "127.0.0.1", 5000),
        ("localhost:1", "localhost", 1),
        ("localhost:65535", "localhost", 65535),
        ("[::1]", "::1", 4444),
        ("[::1]:80", "::1", 80),
        ("[2001:db8::1]:443", "2001:db8::1", 443),
        ("[fe80::1%eth0]:9", "fe80::1%eth0", 9),
        ("::1", "::1", 4444),                     // bare IPv6: several colons, so no port
        ("2001:db8::1", "2001:db8::1", 4444),
        ("host:007", "host", 7),
    ]

    @Test("good endpoints parse", arguments: good)
    func parses(_ text: String, _ host: String, _ port: Int) throws {
        let endpoint = try Endpoint(parsing: text, defaultPort: 4444)
        #expect(endpoint == Endpoint(host: host, port: port))
    }

    static let bad: [(String, String)] = [
        ("", ": missing host"),
        (":80", ": missing host"),
        ("[]", ": missing host"),
        ("[]:80", ": missing host"),
        ("[::1", ": missing ']' after an IPv6 address"),
        ("[::1]x", ": expected [ADDRESS]:PORT"),
        ("[::1]:", ": expected [ADDRESS]:PORT"),
        ("[::1]:http", ": expected [ADDRESS]:PORT"),
        ("[::1]80", ": expected [ADDRESS]:PORT"),
        ("host:", ": the port must be a number"),
        ("host:http", ": the port must be a number"),
        ("host: 80", ": the port must be a number"),
        ("host:99999999999999999999", ": the port must be a number"),
        ("host:0", ": the port must be from 1 to 65535"),
        ("host:65536", ": the port must be from 1 to 65535"),
        ("host:-1", ": the port must be from 1 to 65535"),
        ("[::1]:0", ": the port must be from 1 to 65535"),
        ("[::1]:70000", ": the port must be from 1 to 65535"),
    ]

    @Test("bad endpoints are refused with a reason", arguments: bad)
    func refuses(_ text: String, _ reason: String) {
        let error = #expect(throws: PeerError.self) { try Endpoint(parsing: text, defaultPort: 4444) }
        #expect(error?.code == .badConfiguration)
        #expect(error?.message == text + reason)
    }

    @Test("the default port must be a port too")
    func badDefaultPort() {
        #expect(throws: PeerError.self) { try Endpoint(parsing: "host", defaultPort: 0) }
        #expect(throws: PeerError.self) { try Endpoint(parsing: "[::1]", defaultPort: 70000) }
    }

    @Test("an endpoint prints as it is parsed", arguments: [
        (Endpoint(host: "10.0.0.1", port: 4444), "10.0.0.1:4444"),
        (Endpoint(host: "::1", port: 80), "[::1]:80"),
        (Endpoint(host: "tracker", port: 1), "tracker:1"),
    ])
    func description(_ endpoint: Endpoint, _ text: String) throws {
        #expect(endpoint.description == text)
        #expect(try Endpoint(parsing: text, defaultPort: 9) == endpoint)
    }

    @Test("a comma-separated list keeps its order, drops duplicates and allows spaces")
    func list() throws {
        let endpoints = try Endpoint.list(parsing: "a:4444, [::1]:5000 ,b,a:4444", defaultPort: 4444)
        #expect(endpoints == [Endpoint(host: "a", port: 4444), Endpoint(host: "::1", port: 5000), Endpoint(host: "b", port: 4444)])
        #expect(Endpoint.describe(endpoints) == "a:4444, [::1]:5000, b:4444")
    }

    @Test("a list with an empty or bad item, or too many, is refused with the reason",
          arguments: [("a:4444,", "an empty address"), (",a", "an empty address"), ("a, ,b", "an empty address"),
                      ("a,b:x", "the port must be a number"),
                      ((0...Endpoint.maximumListCount).map { "h\($0)" }.joined(separator: ","), "at most 16 trackers")])
    func badList(_ text: String, _ reason: String) {
        #expect { try Endpoint.list(parsing: text, defaultPort: 4444) } throws: { error in
            (error as? PeerError)?.message.contains(reason) == true
        }
    }
}

import FerryHTTP
import Testing

@Suite struct HTTPListenAddressTests {
    @Test(arguments: [
        ("9090", "127.0.0.1", 9090),
        ("0", "127.0.0.1", 0),
        ("0.0.0.0:9090", "0.0.0.0", 9090),
        ("localhost:8080", "localhost", 8080),
        ("[::1]:9090", "::1", 9090),
        ("127.1.2.3:65535", "127.1.2.3", 65535),
    ])
    func accepts(_ value: String, _ host: String, _ port: Int) throws {
        let address = try HTTPListenAddress(parsing: value)
        #expect(address == HTTPListenAddress(host: host, port: port))
    }

    @Test(arguments: [
        ("", "empty"),
        ("65536", "0 to 65535"),
        ("-1", "0 to 65535"),
        ("http", "0 to 65535"),
        (":9090", "host before ':' is empty"),
        ("0.0.0.0:", "0 to 65535"),
        ("::1:9090", "brackets"),
        ("[::1]9090", "must follow ']'"),
        ("[::1:9090", "closing ]"),
        ("host name:80", "spaces"),
        ("9090 ", "spaces"),
        ("1e3", "0 to 65535"),
        ("+80", "0 to 65535"),
    ])
    func refuses(_ value: String, _ reason: String) {
        do {
            _ = try HTTPListenAddress(parsing: value)
            Issue.record("\(value) was accepted")
        } catch {
            #expect(error.description.contains(reason), "\(error.description)")
            #expect(error.description.contains("expected PORT or HOST:PORT"))
        }
    }

    @Test func describesItself() throws {
        #expect(try HTTPListenAddress(parsing: "9090").description == "127.0.0.1:9090")
        #expect(try HTTPListenAddress(parsing: "[::1]:1").description == "[::1]:1")
    }
}

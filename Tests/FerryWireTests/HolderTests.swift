import FerryWire
import Testing

@Suite("Holder and HolderGroup")
struct HolderTests {
    @Test("a holder prints as host:port, IPv6 in brackets", arguments: [
        ("127.0.0.1", "127.0.0.1:5555"), ("::1", "[::1]:5555"), ("2001:db8::1", "[2001:db8::1]:5555"),
    ])
    func description(_ host: String, _ expected: String) {
        #expect(Holder(host: host, tcpPort: 5555, udpPort: 7).description == expected)
    }

    @Test("holders and groups compare by every field")
    func equality() {
        let a = Holder(host: "1.2.3.4", tcpPort: 1, udpPort: 2)
        #expect(a == Holder(host: "1.2.3.4", tcpPort: 1, udpPort: 2))
        #expect(a != Holder(host: "1.2.3.4", tcpPort: 1, udpPort: 3))
        #expect(a != Holder(host: "1.2.3.5", tcpPort: 1, udpPort: 2))
        let group = HolderGroup(size: 1, digest: digest(repeating: 1), holders: [a])
        #expect(group != HolderGroup(size: 2, digest: digest(repeating: 1), holders: [a]))
        #expect(group != HolderGroup(size: 1, digest: digest(repeating: 2), holders: [a]))
        #expect(group != HolderGroup(size: 1, digest: digest(repeating: 1), holders: []))
    }
}

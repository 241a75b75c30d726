import FerryHTTP
import NIOHTTP1
import Testing

@Suite struct ObservabilityRouteTests {
    @Test(arguments: ObservabilityRoute.allCases)
    func servesKnownPathsToGetAndHead(_ route: ObservabilityRoute) {
        #expect(ObservabilityRoute.decide(method: .GET, uri: route.rawValue) == .serve(route, headOnly: false))
        #expect(ObservabilityRoute.decide(method: .HEAD, uri: route.rawValue) == .serve(route, headOnly: true))
        #expect(ObservabilityRoute.decide(method: .GET, uri: route.rawValue + "?refresh=1") == .serve(route, headOnly: false))
    }

    @Test(arguments: [HTTPMethod.POST, .PUT, .DELETE, .OPTIONS, .PATCH, .CONNECT, .TRACE, .RAW(value: "BREW")])
    func refusesOtherMethods(_ method: HTTPMethod) {
        #expect(ObservabilityRoute.decide(method: method, uri: "/metrics") == .refuse(.methodNotAllowed))
    }

    @Test(arguments: ["", "/metrics/", "/METRICS", "//", "/%2e%2e/etc/passwd", "/../metrics", "*", "http://x/metrics", "/healthz/x", "/status.json.bak"])
    func refusesUnknownPaths(_ uri: String) {
        #expect(ObservabilityRoute.decide(method: .GET, uri: uri) == .refuse(.notFound))
        // An unknown path is 404 whatever the method.
        #expect(ObservabilityRoute.decide(method: .POST, uri: uri) == .refuse(.notFound))
    }
}

@Suite struct RequestHeadBoundTests {
    static let head = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

    @Test func completesAtTheBlankLineWhateverTheSplit() {
        for split in 0...Self.head.count {
            var bound = RequestHeadBound(maximumBytes: 1024)
            let first = bound.consume(Self.head[..<split])
            #expect(first == (split == Self.head.count ? .complete : .incomplete), "split at \(split)")
            #expect(bound.consume(Self.head[split...]) == .complete, "split at \(split)")
        }
    }

    @Test func completesOneByteAtATime() {
        var bound = RequestHeadBound(maximumBytes: 1024)
        for (index, byte) in Self.head.enumerated() {
            #expect(bound.consume([byte]) == (index == Self.head.count - 1 ? .complete : .incomplete))
        }
    }

    @Test func acceptsBareNewlines() {
        var bound = RequestHeadBound(maximumBytes: 1024)
        #expect(bound.consume(Array("GET / HTTP/1.0\n\n".utf8)) == .complete)
    }

    @Test func refusesAHeadPastTheBound() {
        var bound = RequestHeadBound(maximumBytes: 64)
        #expect(bound.consume(Array("GET / HTTP/1.1\r\n".utf8)) == .incomplete)
        #expect(bound.consume([UInt8](repeating: UInt8(ascii: "a"), count: 100)) == .tooLarge)
        // The verdict stays, even if the blank line comes later.
        #expect(bound.consume(Array("\r\n\r\n".utf8)) == .tooLarge)
    }

    @Test func aHeadOfExactlyTheBoundIsAccepted() {
        var bound = RequestHeadBound(maximumBytes: Self.head.count)
        #expect(bound.consume(Self.head) == .complete)
        var smaller = RequestHeadBound(maximumBytes: Self.head.count - 1)
        #expect(smaller.consume(Self.head) == .tooLarge)
    }
}

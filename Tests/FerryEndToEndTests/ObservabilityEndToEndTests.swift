import FerryHTTP
import FerryPeer
import FerryTestSupport
import FerryTracker
import FerryWire
import Foundation
import Testing

extension EndToEndTests {
    /// `--http` for real over loopback: a tracker and peers, their metrics after known actions, the
    /// health check, and what the HTTP side does with requests it does not serve.
    @Suite("--http over loopback: metrics, health, refusals", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 2))))
    struct ObservabilityEndToEndTests {
        @Test func trackerCountsLookupsAndPeers() async throws {
            let tracker = try await ObservedTracker.start()
            let temporary = try TemporaryFolder()
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary,
                                                files: ["a.txt": sampleBytes(count: 1000, seed: 1), "b.txt": sampleBytes(count: 10, seed: 2)])
            // Three lookups on one connection, answered on the event loop.
            try await RawClient.withConnection(host: "127.0.0.1", port: tracker.port) { client in
                for _ in 0..<3 {
                    try await client.send("SEND a.txt\n")
                    let reply = try await client.readReply()
                    #expect(reply.last?.hasPrefix("2") == true, "\(reply)")
                }
                try await client.send("BOGUS\n")
                _ = try await client.readReply()
            }
            let response = try await httpGet(port: tracker.httpPort, "/metrics")
            #expect(response.status == 200)
            #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = response.body
            #expect(metric(text, "ferry_tracker_requests_total", ["verb": "SEND", "code": "200"]) == 3)
            #expect(metric(text, "ferry_tracker_lookup_duration_seconds_count") == 3)
            #expect(metric(text, "ferry_tracker_lookup_duration_seconds_bucket", ["le": "+Inf"]) == 3)
            #expect(metric(text, "ferry_tracker_registered_peers") == 1)
            #expect(metric(text, "ferry_tracker_shared_entries") == 2)
            #expect(metric(text, "ferry_tracker_connections") == 1)
            #expect(metric(text, "ferry_tracker_requests_total", ["verb": "HELLO", "code": "200"]) == 1)
            // The unknown verb is an error of verb "other"; strangers cannot add label values.
            let errors = metric(text, "ferry_tracker_errors_total", ["verb": "other"])
            #expect(errors == 1, "\(text)")
            #expect(!text.contains("BOGUS"))

            // A second scrape adds nothing that did not happen.
            let again = try await httpGet(port: tracker.httpPort, "/metrics").body
            #expect(metric(again, "ferry_tracker_requests_total", ["verb": "SEND", "code": "200"]) == 3)

            let status = try await httpGet(port: tracker.httpPort, "/status.json")
            #expect(status.status == 200)
            let document = try JSONDecoder().decode(StatusDocument.self, from: Data(status.body.utf8))
            #expect(document.kind == "tracker" && document.healthy)
            #expect(document.figures.contains(.init("live peers", "1")))
            #expect(document.tables[0].rows.first?.cells.first == host(2))
            #expect(document.tables[1].rows.map(\.cells).contains(["a.txt", "1"]))

            await peer.kill()
            await tracker.stop()
        }

        @Test func healthAndRefusals() async throws {
            var limits = ObservabilityServer.Limits()
            limits.maximumHeadBytes = 1024
            let tracker = try await ObservedTracker.start(limits: limits)
            let health = try await httpGet(port: tracker.httpPort, "/healthz")
            #expect(health.status == 200 && health.body == "ok\n")
            #expect(health.headers["connection"] == "close")

            let missing = try await httpGet(port: tracker.httpPort, "/nope")
            #expect(missing.status == 404)
            let post = try await rawHTTP(port: tracker.httpPort, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            #expect(post.status == 405)
            #expect(post.headers["allow"] == "GET, HEAD")

            let head = try await httpGet(port: tracker.httpPort, "/", method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty)
            #expect(Int(head.headers["content-length"] ?? "") ?? 0 > 1000)
            #expect(head.headers["content-security-policy"]?.contains("default-src 'none'") == true)

            let page = try await httpGet(port: tracker.httpPort, "/")
            #expect(page.status == 200 && page.body.contains("/status.json"))
            #expect(page.body.utf8.count == Int(head.headers["content-length"] ?? ""))

            // A head past the bound is answered 431 and the connection closed (readToEnd returns).
            let huge = try await rawHTTP(port: tracker.httpPort, "GET /metrics HTTP/1.1\r\nX-Filler: " + String(repeating: "a", count: 4000))
            #expect(huge.status == 431)
            let garbage = try await rawHTTP(port: tracker.httpPort, "\u{1}\u{2}\u{3} nonsense\r\n\r\n")
            #expect(garbage.status == 400)
            await tracker.stop()
        }

        @Test func trackerThatDoesNotListenIsUnhealthy() async throws {
            let server = TrackerServer(configuration: .init(host: "127.0.0.1", port: 0), store: try SQLiteTrackerStore(path: ":memory:"),
                                       logger: quietLogger)
            let report = await TrackerObservability(server: server).health()
            #expect(!report.healthy)
            #expect(report.text == "not listening")
        }

        @Test func slowHeadIsClosed() async throws {
            var limits = ObservabilityServer.Limits()
            limits.headTimeout = .milliseconds(300)
            let tracker = try await ObservedTracker.start(limits: limits)
            // Half a head, then nothing: the server closes (readToEnd returns, with no response).
            let response = try await rawHTTP(port: tracker.httpPort, "GET /metrics HTTP/1.1\r\n")
            #expect(response.status == 0 && response.body.isEmpty)
            await tracker.stop()
        }

        @Test func connectionsPastTheCapAreRefused() async throws {
            var limits = ObservabilityServer.Limits()
            limits.maximumConnections = 1
            let tracker = try await ObservedTracker.start(limits: limits)
            try await RawClient.withConnection(host: "127.0.0.1", port: tracker.httpPort) { holder in
                try await holder.send("GET /healthz HTTP/1.1\r\n")
                // The first connection holds the only slot until it completes its head.
                // The answer comes at once, before any request (sending one could meet the closed side).
                let refused = try await RawClient.withConnection(host: "127.0.0.1", port: tracker.httpPort) { client in
                    String(decoding: try await client.readToEnd(), as: UTF8.self)
                }
                #expect(refused.hasPrefix("HTTP/1.1 503 Service Unavailable"))
                try await holder.send("\r\n")
                let answer = String(decoding: try await holder.readToEnd(), as: UTF8.self)
                #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
            }
            await tracker.stop()
        }

        @Test func peerCountsServedAndReceivedBytes() async throws {
            let tracker = try await ObservedTracker.start()
            let temporary = try TemporaryFolder()
            let bytes = sampleBytes(count: 200_000, seed: 7)
            let holder = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["f.bin": bytes])
            let downloader = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary)
            let holderHTTP = try await ObservedPeer.start(for: holder.node)
            let downloaderHTTP = try await ObservedPeer.start(for: downloader.node)

            let health = try await httpGet(port: holderHTTP.httpPort, "/healthz")
            #expect(health.status == 200 && health.body == "ok\n")

            let outcomes = await downloader.node.downloader().download(["f.bin"])
            #expect(outcomes.first?.status == .ok)

            let received = try await httpGet(port: downloaderHTTP.httpPort, "/metrics").body
            #expect(metric(received, "ferry_peer_bytes_received_total", ["transport": "tcp"]) == Double(bytes.count))
            #expect(metric(received, "ferry_peer_bytes_received_total", ["transport": "udp"]) == 0)
            #expect(metric(received, "ferry_peer_active_transfers", ["direction": "download"]) == 0)
            #expect(metric(received, "ferry_peer_chunk_failures_total") == 0)
            // The upload's counter moves when its last write is handed over, which may follow the
            // downloader's last read by a moment.
            let served = await eventually {
                let text = (try? await httpGet(port: holderHTTP.httpPort, "/metrics").body) ?? ""
                return metric(text, "ferry_peer_bytes_served_total", ["transport": "tcp"]) == Double(bytes.count)
            }
            #expect(served)

            let status = try await httpGet(port: holderHTTP.httpPort, "/status.json")
            let document = try JSONDecoder().decode(StatusDocument.self, from: Data(status.body.utf8))
            #expect(document.kind == "peer" && document.healthy)
            #expect(document.tables[1].rows.first?.cells.first == "f.bin")

            await holderHTTP.stop()
            await downloaderHTTP.stop()
            await downloader.kill()
            await holder.kill()
            await tracker.stop()
        }

        @Test func peerWithoutTrackerIsUnhealthy() async throws {
            let temporary = try TemporaryFolder()
            // Nobody listens on this tracker port: the peer serves but cannot register.
            let node = try PeerNode(configuration: .init(server: Endpoint(host: "127.0.0.1", port: 1), host: host(4), port: 5555,
                                                         shareFolder: try temporary.subfolder("share"),
                                                         downloadFolder: try temporary.subfolder("downloads")),
                                    logger: quietLogger)
            let observability = PeerObservability(node: node)
            let before = await observability.health()
            #expect(!before.healthy && before.text == "not serving files yet")
            let task = Task { try? await node.run() }
            let serving = await eventually {
                await observability.health().text.hasPrefix("serving, ")
            }
            #expect(serving)
            let report = await observability.health()
            #expect(!report.healthy, "\(report.text)")
            task.cancel()
            await task.value
        }
    }
}

import FerryHTTP
import FerryPeer
import FerryTracker
import Foundation
import NIOCore
import NIOPosix
import Testing

/// A tracker with its HTTP side (`ferry server --http 127.0.0.1:0`), run in a task of the test.
final class ObservedTracker: Sendable {
    let server: TrackerServer
    let port: Int
    let httpPort: Int
    private let task: Task<Void, Never>

    private init(server: TrackerServer, port: Int, httpPort: Int, task: Task<Void, Never>) {
        self.server = server
        self.port = port
        self.httpPort = httpPort
        self.task = task
    }

    var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: port) }

    static func start(limits: ObservabilityServer.Limits = .init()) async throws -> ObservedTracker {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let trackerListening = loop.makePromise(of: Int.self)
        let httpListening = loop.makePromise(of: Int.self)
        let configuration = TrackerServer.Configuration(
            host: "127.0.0.1", port: 0,
            heartbeatTimeout: TestTracker.patientHeartbeatTimeout, idleTimeout: TestTracker.patientIdleTimeout)
        let server = TrackerServer(configuration: configuration, store: try SQLiteTrackerStore(path: ":memory:"),
                                   logger: quietLogger) { trackerListening.succeed($0.port ?? 0) }
        let http = ObservabilityServer(address: HTTPListenAddress(host: "127.0.0.1", port: 0), source: TrackerObservability(server: server),
                                       limits: limits, logger: quietLogger) { httpListening.succeed($0.port ?? 0) }
        let task = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    do { try await server.run() } catch { trackerListening.fail(error) }
                }
                group.addTask {
                    do { try await http.run() } catch { httpListening.fail(error) }
                }
            }
        }
        let port = try await trackerListening.futureResult.get()
        let httpPort = try await httpListening.futureResult.get()
        return ObservedTracker(server: server, port: port, httpPort: httpPort, task: task)
    }

    func stop() async {
        task.cancel()
        await task.value
    }
}

/// The HTTP side of a running peer (`ferry peer --http`), run in a task of the test.
final class ObservedPeer: Sendable {
    let httpPort: Int
    private let task: Task<Void, Never>

    private init(httpPort: Int, task: Task<Void, Never>) {
        self.httpPort = httpPort
        self.task = task
    }

    static func start(for node: PeerNode) async throws -> ObservedPeer {
        let listening = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int.self)
        let http = ObservabilityServer(address: HTTPListenAddress(host: "127.0.0.1", port: 0), source: PeerObservability(node: node),
                                       logger: quietLogger) { listening.succeed($0.port ?? 0) }
        let task = Task {
            do { try await http.run() } catch { listening.fail(error) }
        }
        return ObservedPeer(httpPort: try await listening.futureResult.get(), task: task)
    }

    func stop() async {
        task.cancel()
        await task.value
    }
}

/// One HTTP response as a raw client read it.
struct RawHTTPResponse {
    var status: Int
    /// Header names in lower case.
    var headers: [String: String]
    var body: String
}

/// Sends `request` as is on a new connection to 127.0.0.1:`port` and reads until the server closes.
func rawHTTP(port: Int, _ request: String) async throws -> RawHTTPResponse {
    let bytes = try await RawClient.withConnection(host: "127.0.0.1", port: port) { client in
        try await client.send(request)
        return try await client.readToEnd()
    }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return RawHTTPResponse(status: 0, headers: [:], body: text) }
    let lines = text[..<split.lowerBound].split(separator: "\r\n").map(String.init)
    let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return RawHTTPResponse(status: status, headers: headers, body: String(text[split.upperBound...]))
}

func httpGet(port: Int, _ path: String, method: String = "GET") async throws -> RawHTTPResponse {
    try await rawHTTP(port: port, "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ferry-test\r\n\r\n")
}

/// The sum of every sample of `family` whose labels include all of `labels` (`name{a="b"}`),
/// or `nil` when there is none.
func metric(_ text: String, _ family: String, _ labels: [String: String] = [:]) -> Double? {
    var total: Double?
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        let series = line[..<space]
        let name = series.prefix { $0 != "{" }
        guard name == family else { continue }
        let labelText = series.dropFirst(name.count)
        guard labels.allSatisfy({ labelText.contains("\($0.key)=\"\($0.value)\"") }) else { continue }
        total = (total ?? 0) + value
    }
    return total
}

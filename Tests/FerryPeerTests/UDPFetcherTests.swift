@testable import FerryPeer
import FerryTestSupport
import FerryUDP
import FerryWire
import Foundation
import NIOCore
import NIOPosix
import Testing

@Suite("UDPFetcher: socket setup over loopback")
struct UDPFetcherTests {
    @Test("a wildcard local host binds the server's family", arguments: [
        (nil as String?, "127.0.0.1", "0.0.0.0"), ("0.0.0.0", "127.0.0.1", "0.0.0.0"), ("::", "127.0.0.1", "0.0.0.0"),
        ("::", "::1", "::"), (nil, "::1", "::"), ("127.0.0.9", "127.0.0.1", "127.0.0.9"),
    ])
    func bindHost(_ local: String?, _ server: String, _ expected: String) throws {
        #expect(UDPFetcher.bindHost(local, server: try SocketAddress(ipAddress: server, port: 1)) == expected)
    }

    @Test("a setup that fails after the socket is bound closes the socket")
    func failedSetupClosesSocket() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // An address of our own, so that the check below sees only this test's sockets.
        var generator = SystemRandomNumberGenerator()
        let local = "127.\(Int.random(in: 16...254, using: &generator)).\(Int.random(in: 0...254, using: &generator)).\(Int.random(in: 2...254, using: &generator))"
        let name = fileName("a")
        let digest = sha(Vectors.abc)
        // An IPv4 socket cannot connect to an IPv6 server: the setup fails after the bind.
        let fetcher = UDPFetcher(localHost: local)
        for _ in 0..<3 {
            let part = try await PartFile.open(folder: folder.path, name: name, digest: digest, expectedSize: 3)
            let result = await fetcher.fetch(name, size: 3, digest: digest,
                                             from: Holder(host: "::1", tcpPort: 9, udpPort: 9), into: part) { _ in }
            #expect(result.error == .connectFailed)
        }
        #expect(try udpSocketsBound(to: local) == 0)
    }

    @Test("a fetcher bound to :: downloads from an IPv4 server")
    func wildcardIPv6LocalHostReachesIPv4() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let shared = try folder.subfolder("share")
        let downloads = try folder.subfolder("downloads")
        let bytes = Array("hello over udp".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: shared + "/hello"))
        let share = try Share(folder: shared, cache: nil, logger: quietLogger)
        share.rescan()
        let file = try #require(share.file(named: fileName("hello")))
        let listening = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int.self)
        let server = UDPFileServer(configuration: .init(host: "127.0.0.1", port: 0), share: share, logger: quietLogger) {
            listening.succeed($0.port ?? 0)
        }
        let serving = Task { try await server.run() }
        defer { serving.cancel() }
        let port = try await listening.futureResult.get()
        let part = try await PartFile.open(folder: downloads, name: file.name, digest: file.digest, expectedSize: file.size)
        let result = await UDPFetcher(configuration: .patient, localHost: "::").fetch(
            file.name, size: file.size, digest: file.digest,
            from: Holder(host: "127.0.0.1", tcpPort: UInt16(port), udpPort: UInt16(port)), into: part) { _ in }
        #expect(result.error == nil, "\(result.message ?? "")")
        #expect(result.bytes == UInt64(bytes.count))
    }
}

extension UDPFetcherTests {
    @Test("a file truncated while it is served over UDP ends the transfer with CLOSE(ioError), not the idle timeout")
    func truncatedFileEndsTransfer() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let shared = try folder.subfolder("share")
        let downloads = try folder.subfolder("downloads")
        try Data(repeating: 5, count: 8 << 20).write(to: URL(fileURLWithPath: shared + "/big"))
        let share = try Share(folder: shared, cache: nil, logger: quietLogger)
        share.rescan()
        let file = try #require(share.file(named: fileName("big")))
        let listening = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int.self)
        // Rate-limited (32 s for the 8 MiB), so that the transfer is still running when the file
        // shrinks: the progress callback runs in the fetch's task, which under a sanitizer waited
        // seconds for a thread while the event loop took the datagrams (at 4 MiB/s, all of them).
        let server = UDPFileServer(configuration: .init(host: "127.0.0.1", port: 0, rateLimiter: RateLimiter(bytesPerSecond: 256 << 10)),
                                   share: share, logger: quietLogger) { listening.succeed($0.port ?? 0) }
        let serving = Task { try await server.run() }
        defer { serving.cancel() }
        let port = try await listening.futureResult.get()
        let part = try await PartFile.open(folder: downloads, name: file.name, digest: file.digest, expectedSize: file.size)
        var truncated = false
        // An idle timeout far beyond the test's patience: only the server's CLOSE ends this early.
        let fetcher = UDPFetcher(configuration: UDPConfiguration(idleTimeout: .seconds(600)))
        let result = await fetcher.fetch(file.name, size: file.size, digest: file.digest,
                                         from: Holder(host: "127.0.0.1", tcpPort: UInt16(port), udpPort: UInt16(port)),
                                         into: part) { received in
            if !truncated, received > 0 {
                truncated = true
                _ = truncate(shared + "/big", 1 << 20)
            }
        }
        #expect(truncated)
        #expect(result.error == .peerError, "\(result.error.map { "\($0)" } ?? "none"): \(result.message ?? "")")
        #expect(result.bytes < file.size)
    }
}

/// The number of UDP sockets (IPv4) bound to `host`, from /proc/net/udp.
func udpSocketsBound(to host: String) throws -> Int {
    var address = in_addr()
    guard inet_pton(AF_INET, host, &address) == 1 else { return -1 }
    let hex = String(format: "%08X", address.s_addr)
    let table = try String(contentsOfFile: "/proc/net/udp", encoding: .utf8)
    return table.split(separator: "\n").dropFirst().filter { line in
        line.split(separator: " ").dropFirst().first?.hasPrefix(hex + ":") ?? false
    }.count
}

import FerryTestSupport
import FerryPeer
import FerryUDP
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

extension EndToEndTests {
    @Suite("UDP transfers over loopback")
    struct UDPTransferTests {
        /// The payload of a full datagram: its size − 26 (header) − 11 (STREAM frame).
        static func payload(ofDatagram size: Int) -> Int { size - 37 }

        /// 64 MiB (8 MiB under a sanitizer).
        static let largeSize = Sanitizers.scaled(64 << 20, sanitized: 8 << 20)

        @Test("sizes around the datagram boundary, 0 and 1 byte, and 64 MiB arrive intact over UDP",
              arguments: [1200, 8192])
        func sizes(datagramSize: Int) async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let p = Self.payload(ofDatagram: datagramSize)
            let sizes = [0, 1, p - 1, p, p + 1, 2 * p - 1, 2 * p, 2 * p + 1, Self.largeSize]
            var files: [String: [UInt8]] = [:]
            for size in sizes { files["size-\(size).bin"] = sampleBytes(count: size, seed: UInt64(size) + 100) }
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: files,
                                                udpDatagramSize: datagramSize)
            let into = try temporary.subfolder("client")
            let names = sizes.map { "size-\($0).bin" }
            let outcomes = try await download(names, from: tracker, into: into, transports: [.udp])
            #expect(outcomes.map(\.status) == Array(repeating: .ok, count: names.count))
            #expect(outcomes.allSatisfy { $0.transport == .udp })
            for name in names {
                expectFile(into + "/" + name, holds: files[name], "\(name) differs")
            }
            await peer.kill()
            await tracker.stop()
        }

        @Test("many concurrent UDP transfers from one peer share its one port")
        func concurrentTransfers() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 1 << 20, seed: 200)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["shared.bin": bytes])
            let results = try await withThrowingTaskGroup(of: (String, DownloadOutcome?).self) { group in
                for index in 0..<12 {
                    let into = try temporary.subfolder("client-\(index)")
                    group.addTask { (into, try await download(["shared.bin"], from: tracker, into: into, transports: [.udp]).first) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 12)
            for (folder, outcome) in results {
                #expect(outcome?.status == .ok && outcome?.transport == .udp)
                expectFile(folder + "/shared.bin", holds: bytes)
            }
            await peer.kill()
            await tracker.stop()
        }

        @Test("garbage and spoofed datagrams get nothing, or never more than 3x what they sent")
        func hostileDatagrams() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["f": [1, 2, 3]])
            let server = try SocketAddress(ipAddress: host(2), port: 5555)
            let (socket, collector) = try await DatagramCollector.bind(host: host(9))
            var generator = SeededGenerator(seed: 7)
            var sent = 0
            func send(_ bytes: [UInt8]) async throws {
                sent += bytes.count
                try await socket.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: ByteBuffer(bytes: bytes)))
            }
            // Random bytes, and packets that look like Ferry's but name connections that do not exist.
            for _ in 0..<200 {
                try await send((0..<Int.random(in: 1...1400, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            }
            for _ in 0..<200 {
                var spoofed: [UInt8] = [UDPWireLimits.magic, 0x03]
                spoofed += (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
                spoofed += [0x01]  // a PING frame
                try await send(spoofed)
            }
            // A real first packet, as a spoofed source would send it: only a small RETRY may come back.
            var client = UDPReceiverStateMachine<ContinuousClock.Instant>(
                configuration: UDPConfiguration(), request: UDPRequestFrame(name: "f"), now: .now)
            let firstDatagram = client.nextDatagram(at: .now)
            let initial = try #require(firstDatagram)
            try await send(Array(initial.readableBytesView))
            // A real INITIAL must get its RETRY: wait for it (bounded), then for any stragglers.
            #expect(await eventually(within: .seconds(5)) { collector.datagrams.count >= 1 })
            try await Task.sleep(for: .milliseconds(300))
            #expect(collector.datagrams.count == 1, "only the RETRY may be answered")
            #expect(collector.byteCount <= 3 * initial.readableBytes)
            #expect(collector.byteCount <= 3 * sent)
            #expect(collector.byteCount < 100, "a RETRY is small")
            try await socket.close()
            await peer.kill()
            await tracker.stop()
        }

        @Test("a peer killed mid-transfer over UDP: the next peer resumes from the offset received")
        func killedMidTransfer() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let size = Sanitizers.scaled(24 << 20, sanitized: 4 << 20)
            let bytes = sampleBytes(count: size, seed: 300)
            let first = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["big.bin": bytes])
            let second = try await TestPeer.start(host: host(3), tracker: tracker.endpoint, in: temporary, files: ["big.bin": bytes])
            let into = try temporary.subfolder("client")
            let killed = NIOLockedValueBox(false)
            let outcome = try #require(try await download(["big.bin"], from: tracker, into: into, transports: [.udp], maximumSources: 1) { event in
                if case .progress(_, let received, _) = event, received > size / 4,
                   killed.withLockedValue({ let first = !$0; $0 = true; return first }) {
                    Task { await first.kill() }
                }
            }.first)
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.count == 2)
            #expect(outcome.attempts.first?.peer == "\(host(2)):5555" && outcome.attempts.first?.error != nil)
            #expect(outcome.attempts.last?.peer == "\(host(3)):5555" && outcome.attempts.last?.error == nil)
            let total = outcome.attempts.reduce(UInt64(0)) { $0 + $1.bytes }
            #expect(total == UInt64(size), "the second peer was not asked from the offset received")
            expectFile(into + "/big.bin", holds: bytes)
            await second.kill()
            await tracker.stop()
        }

        @Test("through a relay that drops datagrams each way (percent), every byte arrives", arguments: [5, 20])
        func lossyRelay(lossPercent: Int) async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: lossPercent >= 20 ? 300_000 : 3 << 20, seed: 400)
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["far.bin": bytes])
            let relay = try await LossyRelay.start(host: host(9), port: 5555, server: SocketAddress(ipAddress: host(2), port: 5555),
                                                   lossPercent: lossPercent, seed: 11)
            let (outcome, into) = try await downloadThrough(relay, from: peer, tracker: tracker, in: temporary)
            #expect(outcome.status == .ok)
            #expect(outcome.attempts.map(\.peer) == ["\(host(9)):5555"])
            expectFile(into + "/far.bin", holds: bytes)
            #expect(relay.dropped.withLockedValue { $0 } > 0, "the relay dropped nothing")
            await relay.stop()
            await peer.kill()
            await tracker.stop()
        }

        @Test("a peer finds the largest datagram its path carries (path MTU discovery)",
              arguments: [(Int?.none, 8192), (1500 - 28, 1472), (1280 - 48, 1200)])
        func pathMTUDiscovery(pathLimit: Int?, expected: Int) async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 4 << 20, seed: 401)
            // The peer picks no datagram size, so it starts at 1200 and probes 1452, 1472 and 8192.
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: ["far.bin": bytes])
            let relay = try await LossyRelay.start(host: host(9), port: 5555, server: SocketAddress(ipAddress: host(2), port: 5555),
                                                   lossPercent: 0, seed: 12, maximumDatagramSize: pathLimit)
            let (outcome, into) = try await downloadThrough(relay, from: peer, tracker: tracker, in: temporary)
            #expect(outcome.status == .ok)
            expectFile(into + "/far.bin", holds: bytes)
            #expect(relay.largestToClient.withLockedValue { $0 } == expected)
            // The first size the path refused cost three probes; the search stopped there.
            #expect(relay.tooLarge.withLockedValue { $0 } == (pathLimit == nil ? 0 : 3))
            await relay.stop()
            await peer.kill()
            await tracker.stop()
        }

        /// Downloads `far.bin` over UDP from the holder at the relay only: the relay stands on
        /// `host(9)` and is announced as a holder of the peer's file, and every other holder is
        /// left out of the lookup, so the bytes cross it.
        func downloadThrough(_ relay: LossyRelay, from peer: TestPeer, tracker: TestTracker,
                             in temporary: TemporaryFolder) async throws -> (DownloadOutcome, String) {
            let announcer = try await TrackerConnection.connect(to: tracker.endpoint, localHost: host(9))
            _ = try await announcer.hello(tcpPort: 5555, udpPort: 5555)
            let entry = try #require(peer.node.share.snapshot.files[SharedFileName("far.bin")!]?.entry)
            _ = try await announcer.announce([entry])

            let into = try temporary.subfolder("client")
            let connection = try await tracker.connect()
            let holders = try await connection.lookup(["far.bin"])
            let viaRelay = holders.map { result in
                guard case .found(let groups) = result.outcome else { return result }
                return LookupResult(name: result.name, outcome: .found(groups.map { group in
                    HolderGroup(size: group.size, digest: group.digest, holders: group.holders.filter { $0.host == host(9) })
                }))
            }
            let downloader = Downloader(configuration: .init(folder: into, transports: [.udp], localHost: "127.0.0.1"),
                                        holders: connection, logger: quietLogger)
            let outcome = try #require(await downloader.download(["far.bin"], lookups: viaRelay).first)
            await connection.close()
            await announcer.close()
            return (outcome, into)
        }
    
        /// A loose check on the wall clock (a loaded machine stretches any transfer); the limiter's
        /// arithmetic is tested exactly, on an injected clock, in RateLimiterTests.
        @Test("the upload rate limit covers UDP and TCP together (loose: within 0.25× to 1.5× of it)")
        func rateLimitAcrossTransports() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let limit: UInt64 = 2 << 20
            let files = ["by-udp.bin": sampleBytes(count: 3 << 20, seed: 500), "by-tcp.bin": sampleBytes(count: 3 << 20, seed: 501)]
            let peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary, files: files,
                                                rateLimit: ByteRate(bytesPerSecond: limit))
            let clock = ContinuousClock()
            let started = clock.now
            async let viaUDP = download(["by-udp.bin"], from: tracker, into: try temporary.subfolder("udp"), transports: [.udp])
            async let viaTCP = download(["by-tcp.bin"], from: tracker, into: try temporary.subfolder("tcp"), transports: [.tcp])
            let outcomes = try await viaUDP + viaTCP
            let rate = Double(6 << 20) / (clock.now - started).seconds
            #expect(outcomes.map(\.status) == [.ok, .ok])
            #expect(outcomes.map(\.transport) == [.udp, .tcp])
            #expect(rate <= Double(limit) * 1.5, "together \(rate) B/s, over the limit \(limit)")
            #expect(rate >= Double(limit) * 0.25, "together \(rate) B/s, far under the limit \(limit)")
            await peer.kill()
            await tracker.stop()
        }
    }
}

// ferry-tracker-load: a closed-loop load generator for the tracker (issue 10). See bench/README.md.
//
// It registers peers with shares (as `ferry peer` would, from many source addresses), then keeps
// `--connections` clients each sending `SEND <name>` and waiting for the whole reply before the next,
// for `--duration` seconds after a warm-up, and prints lookups per second and latency percentiles.
// `--new-connection` opens a connection for every lookup (connect, SEND, reply, close), as a
// scrape over HTTP/1.0 does. `--writers` adds registered peers that replace their whole share once
// per `--replace-every` seconds while the lookups run, and `--big-update N` times one UPDATE of N files.
//
// The lookup clients are plain channel handlers on the event loops (no tasks, no locks on the hot
// path), so that the generator costs about what wrk costs for opentracker on the same cores.
import ArgumentParser
import CEpoll
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

@main
struct TrackerLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry-tracker-load",
        abstract: "Closed-loop SEND load against a Ferry tracker.")

    @Option(help: "The tracker, HOST:PORT.") var tracker = "127.0.0.1:4444"
    @Option(help: "Lookup clients, each with one request in flight.") var connections = 64
    @Option(help: "Event loop threads for the clients.") var threads = 1
    @Option(help: "Seconds measured (after the warm-up).") var duration = 10.0
    @Option(help: "Seconds of load before measuring.") var warmup = 2.0
    @Flag(help: "Open a new connection for every lookup.") var newConnection = false
    @Option(help: "Registered peers whose shares are looked up.") var peers = 100
    @Option(help: "Files each of them shares.") var files = 100
    @Option(help: "Holders of each file (peers × files / this = distinct names).") var holdersPerFile = 5
    @Option(help: "Names per SEND.") var namesPerLookup = 1
    @Option(help: "Extra registered peers that replace their share during the run.") var writers = 0
    @Option(help: "Files each writer shares.") var writerFiles = 1000
    @Option(help: "Seconds between one writer's share replacements.") var replaceEvery = 60.0
    @Option(help: "Time one UPDATE of this many files during the run (0: none).") var bigUpdate = 0
    @Option(help: "Seconds to wait after registering, before the load (the tracker's database catches up).") var settle = 0.0
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() async throws {
        guard let (host, port) = Self.split(tracker) else { throw ValidationError("--tracker must be HOST:PORT") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let catalog = Catalog(peers: peers, files: files, holdersPerFile: holdersPerFile)
        let clock = ContinuousClock()

        // Registered peers: each from its own source address, kept alive with PING from the moment it
        // registered (registering 10^6 entries takes longer than the heartbeat timeout).
        let registration = clock.now
        let live = NIOLockedValueBox<[RegisteredPeer]>([])
        let heartbeats = Task { await RegisteredPeer.heartbeat(live) }
        let registered = try await Self.register(
            count: peers, role: 1, firstPort: 20_000, group: group, host: host, port: port, live: live
        ) { catalog.share(ofPeer: $0) }
        let writerPeers = try await Self.register(
            count: writers, role: 2, firstPort: 30_000, group: group, host: host, port: port, live: live
        ) { Catalog.writerShare(writer: $0, files: writerFiles, round: 0) }
        let setupSeconds = Self.seconds(clock.now - registration)
        let all = registered + writerPeers
        let replacements = Task {
            await RegisteredPeer.replaceShares(writerPeers, files: writerFiles, every: replaceEvery)
        }

        if settle > 0 { try await Task.sleep(for: .seconds(settle)) }

        // The measured load.
        let start = NIODeadline.now()
        let window = LoadWindow(
            measureFrom: start + .nanoseconds(Int64(warmup * 1e9)),
            end: start + .nanoseconds(Int64((warmup + duration) * 1e9)))
        let target = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let workers = (0..<max(1, threads)).map { worker in
            LookupWorker(
                slots: Array(stride(from: worker, to: connections, by: max(1, threads))), target: target,
                names: catalog.names, namesPerLookup: namesPerLookup, window: window, newConnection: newConnection)
        }
        let threadsDone = workers.map { worker in
            let done = NIOLockedValueBox(false)
            let thread = Thread {
                worker.run()
                done.withLockedValue { $0 = true }
            }
            thread.stackSize = 1 << 20
            thread.start()
            return done
        }

        var bigUpdateSeconds: Double?
        if bigUpdate > 0 {
            try await Task.sleep(for: .seconds(warmup + duration / 3))
            let peer = try await RegisteredPeer.connect(
                group: group, host: host, port: port, source: Self.sourceAddress(4, 0), tcpPort: 40_000)
            // Timed from the first byte sent: the lines are made before, as a peer has them ready.
            let request = peer.request(updating: Catalog.writerShare(writer: 100_000, files: bigUpdate, round: 0))
            let began = clock.now
            let reply = try await peer.exchange(request)
            bigUpdateSeconds = Self.seconds(clock.now - began)
            guard reply.hasPrefix("200 UPDATED") else { throw LoadError(text: "UPDATE refused: \(reply)") }
            try? await peer.close()
        }
        while threadsDone.contains(where: { !$0.withLockedValue { $0 } }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        replacements.cancel()
        heartbeats.cancel()
        _ = await replacements.value
        let lost = all.filter { !$0.channel.isActive }.count
        let replaced = writerPeers.reduce(0) { $0 + $1.replacements.withLockedValue { $0.count } }
        let replaceLatencies = writerPeers.flatMap { $0.replacements.withLockedValue { $0 } }.sorted()
        for peer in all { try? await peer.close() }

        var latencies: [UInt64] = []
        var fromWrite: [UInt64] = []
        var errors = 0
        for worker in workers {
            latencies += worker.latencies
            fromWrite += worker.fromWrite
            errors += worker.errors
        }
        latencies.sort()
        fromWrite.sort()
        let rate = Double(latencies.count) / duration
        func percentile(_ p: Double, of sorted: [UInt64]) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e6
        }
        func percentile(_ p: Double) -> Double { percentile(p, of: latencies) }
        let result: [String: Any] = [
            "mode": newConnection ? "new-connection" : "kept",
            "connections": connections,
            "lookups": latencies.count,
            "lookups_per_second": rate.rounded(),
            "p50_ms": percentile(0.5), "p99_ms": percentile(0.99), "max_ms": percentile(1),
            // wrk's measure: from the request's write, without the connect (the same as p99_ms when kept).
            "p99_from_write_ms": newConnection ? percentile(0.99, of: fromWrite) : percentile(0.99),
            "errors": errors,
            "registered_entries": peers * files + writers * writerFiles,
            "setup_seconds": setupSeconds,
            "registered_peers_lost": lost,
            "share_replacements": replaced,
            "share_replacement_p99_ms": replaceLatencies.isEmpty ? 0
                : replaceLatencies[min(replaceLatencies.count - 1, Int(Double(replaceLatencies.count) * 0.99))] * 1000,
            "big_update_files": bigUpdate,
            "big_update_seconds": bigUpdateSeconds ?? 0,
        ]
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "%@: %.0f lookups/s over %d connections; p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d errors",
                         result["mode"] as! String, rate, connections, percentile(0.5), percentile(0.99), percentile(1), errors))
            print("index: \(result["registered_entries"]!) entries, registered in \(String(format: "%.1f", setupSeconds)) s")
            if writers > 0 { print("share replacements during the run: \(replaced)") }
            if lost > 0 { print("registered peers the tracker dropped: \(lost)") }
            if let bigUpdateSeconds { print(String(format: "UPDATE of %d files answered in %.3f s", bigUpdate, bigUpdateSeconds)) }
        }
        try await group.shutdownGracefully()
    }

    /// Registers `count` peers, 16 at a time, each with the share `share(index)`.
    static func register(
        count: Int, role: Int, firstPort: Int, group: any EventLoopGroup, host: String, port: Int,
        live: NIOLockedValueBox<[RegisteredPeer]>, share: @escaping @Sendable (Int) -> [String]
    ) async throws -> [RegisteredPeer] {
        var peers: [RegisteredPeer?] = Array(repeating: nil, count: count)
        for start in stride(from: 0, to: count, by: 16) {
            try await withThrowingTaskGroup(of: (Int, RegisteredPeer).self) { tasks in
                for index in start..<min(count, start + 16) {
                    tasks.addTask {
                        let peer = try await RegisteredPeer.connect(
                            group: group, host: host, port: port, source: sourceAddress(role, index), tcpPort: firstPort + index)
                        live.withLockedValue { $0.append(peer) }
                        try await peer.update(share(index))
                        return (index, peer)
                    }
                }
                for try await (index, peer) in tasks { peers[index] = peer }
            }
        }
        return peers.map { $0! }
    }

    static func split(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else { return nil }
        return (String(text[..<colon]), port)
    }

    /// 127.<role>.<index / 250>.<index % 250 + 1>: the tracker admits a bounded number of connections
    /// per address, as it should; a real crowd comes from many.
    static func sourceAddress(_ role: Int, _ index: Int) -> String {
        "127.\(10 + role).\(index / 250).\(index % 250 + 1)"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Which peer shares which name: `peers × files / holdersPerFile` distinct names, each held by
/// `holdersPerFile` peers, with one size and SHA-256 per name.
struct Catalog {
    let names: [String]
    let peers: Int
    let files: Int

    init(peers: Int, files: Int, holdersPerFile: Int) {
        self.peers = peers
        self.files = files
        let distinct = max(1, peers * files / max(1, holdersPerFile))
        names = (0..<distinct).map { "bench-" + Self.padded($0, 7) + ".bin" }
    }

    func share(ofPeer peer: Int) -> [String] {
        (0..<files).map { Self.fileLine(names[(peer * files + $0) % names.count]) }
    }

    /// A writer's share; two rounds differ in every name, so that a replacement changes everything.
    static func writerShare(writer: Int, files: Int, round: Int) -> [String] {
        let prefix = "w" + padded(writer, 5) + "-r" + String(round % 2) + "-"
        return (0..<files).map { fileLine(prefix + padded($0, 6) + ".bin") }
    }

    /// `FILE <size> <sha256> <name>`, the size and digest derived from the name (the same on every holder).
    static func fileLine(_ name: String) -> String {
        let seed = UInt64(bitPattern: Int64(name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }))
        let hex = String(seed, radix: 16)
        let word = String(repeating: "0", count: 16 - hex.utf8.count) + hex
        return "FILE " + String(1000 + seed % 1_000_000) + " " + word + word + word + word + " " + name
    }

    /// Formatting without Foundation: the generator must stay cheap next to the tracker.
    static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.utf8.count >= width ? digits : String(repeating: "0", count: width - digits.utf8.count) + digits
    }
}

/// A registered peer's control connection: requests go out in order, and each final reply line
/// completes the oldest waiting exchange.
final class RegisteredPeer: Sendable {
    let channel: any Channel
    let replies: ReplyHandler
    /// Seconds each share replacement took to be answered.
    let replacements = NIOLockedValueBox<[Double]>([])

    private init(channel: any Channel, replies: ReplyHandler) {
        self.channel = channel
        self.replies = replies
    }

    static func connect(group: any EventLoopGroup, host: String, port: Int, source: String, tcpPort: Int) async throws -> RegisteredPeer {
        let replies = ReplyHandler()
        let channel = try await ClientBootstrap(group: group)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(replies) }
            }
            .connect(host: host, port: port).get()
        let peer = RegisteredPeer(channel: channel, replies: replies)
        let reply = try await peer.exchange(["HELLO \(tcpPort) 0"])
        guard reply.hasPrefix("200") else { throw LoadError(text: "HELLO refused: \(reply)") }
        return peer
    }

    /// Sends `lines` as one write and returns the final reply line.
    func exchange(_ lines: [String]) async throws -> String {
        try await exchange(request(lines))
    }

    /// `lines`, each ended by `\n`, in one buffer.
    func request(_ lines: [String]) -> ByteBuffer {
        var buffer = channel.allocator.buffer(capacity: lines.count * 96)
        for line in lines {
            buffer.writeString(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        return buffer
    }

    /// Sends `request` as one write and returns the final reply line.
    func exchange(_ request: ByteBuffer) async throws -> String {
        let promise = channel.eventLoop.makePromise(of: String.self)
        let channel = self.channel
        let replies = self.replies
        channel.eventLoop.execute {
            guard replies.open else {
                promise.fail(LoadError(text: "the tracker closed the connection"))
                return
            }
            replies.waiting.append(promise)
            channel.writeAndFlush(request, promise: nil)
        }
        return try await promise.futureResult.get()
    }

    func update(_ fileLines: [String]) async throws {
        let reply = try await exchange(request(updating: fileLines))
        guard reply.hasPrefix("200 UPDATED") else { throw LoadError(text: "UPDATE refused: \(reply)") }
    }

    /// `UPDATE <count>` and its `FILE` lines, as one buffer.
    func request(updating fileLines: [String]) -> ByteBuffer {
        request(["UPDATE \(fileLines.count)"] + fileLines)
    }

    func close() async throws {
        _ = try? await exchange(["QUIT"])
        try? await channel.close()
    }

    /// PING from every live peer every 3 s (the heartbeat interval), until cancelled.
    static func heartbeat(_ live: NIOLockedValueBox<[RegisteredPeer]>) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(3))
            } catch {
                return
            }
            for peer in live.withLockedValue({ $0 }) {
                Task { _ = try? await peer.exchange(["PING"]) }
            }
        }
    }

    /// Each writer replaces its whole share once per `every` seconds, spread evenly, until cancelled.
    static func replaceShares(_ peers: [RegisteredPeer], files: Int, every: Double) async {
        guard !peers.isEmpty else { return }
        let pause = every / Double(peers.count)
        var round = 1
        while !Task.isCancelled {
            for (index, peer) in peers.enumerated() {
                do {
                    try await Task.sleep(for: .seconds(pause))
                } catch {
                    return
                }
                let lines = Catalog.writerShare(writer: index, files: files, round: round)
                Task {
                    let began = ContinuousClock.now
                    try? await peer.update(lines)
                    let took = TrackerLoad.seconds(ContinuousClock.now - began)
                    peer.replacements.withLockedValue { $0.append(took) }
                }
            }
            round += 1
        }
    }
}

/// Matches final reply lines to waiting exchanges, oldest first; used on its event loop only.
final class ReplyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    var waiting: [EventLoopPromise<String>] = []
    var open = true
    private var line: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for byte in buffer.readableBytesView {
            guard byte == UInt8(ascii: "\n") else {
                if line.count < 4096 { line.append(byte) }
                continue
            }
            if line.count >= 4, line[3] == UInt8(ascii: " "), !waiting.isEmpty {
                waiting.removeFirst().succeed(String(decoding: line, as: UTF8.self))
            }
            line.removeAll(keepingCapacity: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        open = false
        for promise in waiting { promise.fail(LoadError(text: "the tracker closed the connection")) }
        waiting.removeAll()
    }
}

struct LoadError: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}

/// When lookups count.
struct LoadWindow: Sendable {
    var measureFrom: NIODeadline
    var end: NIODeadline
}

/// The lookup clients of one thread, on raw non-blocking sockets and epoll(7), as wrk runs its own:
/// the generator must cost no more than the anchor's does, or it measures itself.
final class LookupWorker: @unchecked Sendable {
    // @unchecked: used by its own thread only, then read once that thread has ended.
    private enum Phase { case connecting, waiting }

    private struct Connection {
        var fd: Int32 = -1
        var phase = Phase.connecting
        var started: UInt64 = 0
        /// When the request was written (with `--new-connection`, after the connect).
        var sent: UInt64 = 0
        var column = 0
        var separator: UInt8 = 0
        var seed: UInt64
    }

    let slots: [Int]
    let target: SocketAddress
    let names: [[UInt8]]
    let namesPerLookup: Int
    let window: LoadWindow
    let newConnection: Bool
    private(set) var latencies: [UInt64] = []
    /// From the request's write to the reply, as wrk times (with kept connections, the same as `latencies`).
    private(set) var fromWrite: [UInt64] = []
    private(set) var errors = 0
    private var connections: [Connection]
    private var request: [UInt8] = []
    private var epoll: Int32 = -1

    init(slots: [Int], target: SocketAddress, names: [String], namesPerLookup: Int, window: LoadWindow, newConnection: Bool) {
        self.slots = slots
        self.target = target
        self.names = names.map { Array($0.utf8) }
        self.namesPerLookup = namesPerLookup
        self.window = window
        self.newConnection = newConnection
        connections = slots.map { Connection(seed: UInt64($0) &* 0x9E37_79B9_7F4A_7C15 | 1) }
        latencies.reserveCapacity(1 << 20)
        if newConnection { fromWrite.reserveCapacity(1 << 20) }
    }

    func run() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed")
        for index in connections.indices { open(index) }
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while NIODeadline.now() < window.end {
            reopenClosed()
            let count = epoll_wait(epoll, &events, Int32(events.count), 50)
            guard count > 0 else { continue }
            for event in events.prefix(Int(count)) {
                let index = Int(event.data.u64 & 0xFFFF_FFFF)
                // The upper half is the descriptor's generation: events of a closed one are stale.
                guard connections[index].fd >= 0, UInt64(connections[index].fd) == event.data.u64 >> 32 else { continue }
                switch connections[index].phase {
                case .connecting:
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(connections[index].fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    guard error == 0, event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) == 0 else {
                        fail(index)
                        continue
                    }
                    connections[index].phase = .waiting
                    var change = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: key(index)))
                    epoll_ctl(epoll, EPOLL_CTL_MOD, connections[index].fd, &change)
                    if !newConnection { connections[index].started = Self.now() }
                    send(index)
                case .waiting:
                    receive(index, &buffer)
                }
            }
        }
        for index in connections.indices where connections[index].fd >= 0 { close(connections[index].fd) }
        close(epoll)
    }

    private func key(_ index: Int) -> UInt64 {
        UInt64(connections[index].fd) << 32 | UInt64(index)
    }

    private static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    private func open(_ index: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            errors += 1
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        // IP_BIND_ADDRESS_NO_PORT (24): the port is chosen at connect, not searched for at bind.
        setsockopt(fd, Int32(IPPROTO_IP), 24, &one, socklen_t(MemoryLayout<Int32>.size))
        if newConnection {
            // Closed with a reset: no TIME_WAIT pile-up on the client's ports (opentracker closes its
            // side first under wrk, so the same holds there).
            var option = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        }
        // 127.13.x.y: one source address per slot, so the per-address cap is not what is measured.
        var source = sockaddr_in()
        source.sin_family = sa_family_t(AF_INET)
        let slot = slots[index]
        source.sin_addr.s_addr = UInt32(127 << 24 | 13 << 16 | (slot / 250) << 8 | (slot % 250 + 1)).bigEndian
        _ = withUnsafePointer(to: &source) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        connections[index].fd = fd
        connections[index].phase = .connecting
        connections[index].column = 0
        connections[index].started = Self.now()
        let result = target.withSockAddr { connect(fd, $0, socklen_t($1)) }
        guard result == 0 || errno == EINPROGRESS else {
            // Counted, and tried again at the next turn of the loop.
            if NIODeadline.now() < window.end { errors += 1 }
            close(fd)
            connections[index].fd = -1
            return
        }
        var change = epoll_event(events: EPOLLOUT.rawValue, data: epoll_data_t(u64: key(index)))
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &change)
    }

    private func send(_ index: Int) {
        request.removeAll(keepingCapacity: true)
        request.append(contentsOf: "SEND ".utf8)
        for name in 0..<namesPerLookup {
            // SplitMix64: which names are looked up.
            connections[index].seed &+= 0x9E37_79B9_7F4A_7C15
            var z = connections[index].seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            if name > 0 { request.append(contentsOf: ", ".utf8) }
            request.append(contentsOf: names[Int(z % UInt64(names.count))])
        }
        request.append(UInt8(ascii: "\n"))
        connections[index].sent = Self.now()
        let written = request.withUnsafeBytes { write(connections[index].fd, $0.baseAddress, $0.count) }
        if written != request.count { fail(index) }
    }

    private func receive(_ index: Int, _ buffer: inout [UInt8]) {
        let fd = connections[index].fd
        var complete = false
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 {
                fail(index)
                return
            }
            if count < 0 {
                if errno == EAGAIN { break }
                fail(index)
                return
            }
            for byte in buffer[0..<count] {
                if connections[index].column == 3 { connections[index].separator = byte }
                if byte == UInt8(ascii: "\n") {
                    if connections[index].separator == UInt8(ascii: " ") { complete = true }
                    connections[index].column = 0
                } else {
                    connections[index].column += 1
                }
            }
            if count < buffer.count { break }
        }
        guard complete else { return }
        let now = Self.now()
        let started = connections[index].started
        if started >= window.measureFrom.uptimeNanoseconds, now <= window.end.uptimeNanoseconds {
            latencies.append(now - started)
            if newConnection { fromWrite.append(now - connections[index].sent) }
        }
        if newConnection {
            close(fd)
            connections[index].fd = -1
            open(index)
        } else {
            connections[index].started = now
            send(index)
        }
    }

    private func fail(_ index: Int) {
        if NIODeadline.now() < window.end { errors += 1 }
        close(connections[index].fd)
        connections[index].fd = -1
        open(index)
    }

    /// Connections whose connect failed at once are opened again here, once per turn.
    private func reopenClosed() {
        for index in connections.indices where connections[index].fd < 0 { open(index) }
    }
}


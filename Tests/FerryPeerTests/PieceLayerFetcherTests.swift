@testable import FerryPeer
import FerryTestSupport
import FerryWire
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

/// A server on loopback that answers any connection with the same bytes, then closes: a peer that
/// lies about a piece layer.
private struct CannedServer {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let reply: [UInt8]
        init(reply: [UInt8]) { self.reply = reply }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let channel = context.channel
            context.writeAndFlush(NIOAny(ByteBuffer(bytes: reply))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    static func start(host: String, reply: [UInt8]) async throws -> CannedServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(reply: reply)) }
            }
            .bind(host: host, port: 0).get()
        return CannedServer(channel: channel)
    }

    func stop() async { try? await channel.close() }
}

@Suite("PieceLayerFetcher: LAYER over loopback, checked against the root")
struct PieceLayerFetcherTests {
    static let files = ["big": vectorContent(700_000), "one": vectorContent(100_000), "empty": [UInt8]()]

    static func holder(_ server: ServerUnderTest) -> Holder { Holder(host: server.host, tcpPort: UInt16(server.port), udpPort: 0) }

    @Test("the layer a peer serves is its tree, and checks against the root", arguments: ["big", "one", "empty"])
    func servesTree(_ name: String) async throws {
        let server = try await ServerUnderTest.start(limits: FileServer.Limits(), files: Self.files)
        defer { Task { await server.stop() } }
        let file = try #require(server.share.file(named: fileName(name)))
        let fetched = await PieceLayerFetcher.patient(localHost: testHost(20)).fetch(
            fileName(name), size: file.size, digest: file.digest, root: file.tree.root.digest, from: Self.holder(server))
        #expect(try fetched.get() == file.tree)
        #expect(file.tree.pieceLayer.count == (name == "big" ? 3 : 0))
    }

    @Test("another SHA-256 is 404 not_found; another root is wrong_content")
    func wrongContent() async throws {
        let server = try await ServerUnderTest.start(limits: FileServer.Limits(), files: Self.files)
        defer { Task { await server.stop() } }
        let file = try #require(server.share.file(named: fileName("big")))
        let fetcher = PieceLayerFetcher.patient(localHost: testHost(21))
        let otherDigest = await fetcher.fetch(fileName("big"), size: file.size, digest: sha(Vectors.abc), root: file.tree.root.digest,
                                              from: Self.holder(server))
        #expect(otherDigest.failure?.code == .notFound, "\(otherDigest)")
        let otherRoot = await fetcher.fetch(fileName("big"), size: file.size, digest: file.digest, root: sha(Vectors.abc),
                                            from: Self.holder(server))
        #expect(otherRoot.failure?.code == .wrongContent, "\(otherRoot)")
        let missing = await fetcher.fetch(fileName("nope"), size: 1, digest: file.digest, root: sha(Vectors.abc), from: Self.holder(server))
        #expect(missing.failure?.code == .notFound, "\(missing)")
    }

    @Test("a GET still works beside LAYER on the same server")
    func getStillServed() async throws {
        let server = try await ServerUnderTest.start(limits: FileServer.Limits(), files: Self.files)
        defer { Task { await server.stop() } }
        let client = try await server.connect(from: 22)
        try await client.send("GET 0 * \"one\"\n")
        #expect(try await client.readLine()?.hasPrefix("200 100000 ") == true)
        await client.close()
    }

    /// What a lying or broken peer sends, and the error the fetcher gives.
    static func cannedCases() -> [(String, [UInt8], TransferError)] {
        var builder = MerkleTreeBuilder(fileSize: 700_000)
        builder.update(vectorContent(700_000))
        let tree = builder.finalize()
        let digest = sha(Vectors.abc)
        let header = "200 700000 \(digest.hex) 262144 \(tree.root.hex) 96\n"
        var flipped = tree.pieceLayerBytes
        flipped[40] ^= 1
        return [
            ("a layer with a flipped bit", Array(header.utf8) + flipped, .wrongContent),
            ("more bytes than announced", Array(header.utf8) + tree.pieceLayerBytes + [0], .protocolError),
            ("fewer bytes than announced", Array(header.utf8) + tree.pieceLayerBytes.dropLast(), .closedEarly),
            ("a length that does not fit the size", Array("200 700000 \(digest.hex) 262144 \(tree.root.hex) 64\n".utf8), .protocolError),
            ("an older peer that knows only GET", Array("400 expected GET <offset> <end|*> <name>\n".utf8), .peerError),
            ("a reply line without end", Array(repeating: UInt8(ascii: "2"), count: 600), .protocolError),
            ("nothing", [], .closedEarly),
            ("another size", Array("200 700001 \(digest.hex) 262144 \(tree.root.hex) 96\n".utf8), .wrongContent),
        ]
    }

    @Test("a lying or broken peer's layer is refused with the right code")
    func hostilePeers() async throws {
        var builder = MerkleTreeBuilder(fileSize: 700_000)
        builder.update(vectorContent(700_000))
        let root = builder.finalize().root.digest
        for (label, reply, code) in Self.cannedCases() {
            let server = try await CannedServer.start(host: testHost(23), reply: reply)
            var fetcher = PieceLayerFetcher(localHost: testHost(24))
            fetcher.stallTimeout = .seconds(60)     // no case here is a stall; a loaded machine is not one either
            let fetched = await fetcher.fetch(
                fileName("big"), size: 700_000, digest: sha(Vectors.abc), root: root,
                from: Holder(host: testHost(23), tcpPort: UInt16(server.port), udpPort: 0))
            #expect(fetched.failure?.code == code, "\(label): \(fetched)")
            await server.stop()
        }
    }
}

@Suite("PieceLayerFetcher over UDP: layer/<sha256>/<name> from a real UDP file server")
struct PieceLayerUDPTests {
    @Test("the layer comes over UDP, checked; other content, a bad layer name and a wrong root are refused")
    func overUDP() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        for (name, bytes) in PieceLayerFetcherTests.files { _ = try folder.write(name, bytes: bytes) }
        let share = try Share(folder: folder.path, cache: nil, logger: quietLogger)
        share.rescan()
        let listening = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int.self)
        let server = UDPFileServer(configuration: .init(host: testHost(30), port: 0), share: share, logger: quietLogger) {
            listening.succeed($0.port ?? 0)
        }
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let port = try await listening.futureResult.get()
        let holder = Holder(host: testHost(30), tcpPort: UInt16(port), udpPort: UInt16(port))
        let fetcher = PieceLayerFetcher.patient(localHost: testHost(31))
        for name in ["big", "one", "empty"] {
            let file = try #require(share.file(named: fileName(name)))
            let fetched = await fetcher.fetchOverUDP(fileName(name), size: file.size, digest: file.digest,
                                                     root: file.tree.root.digest, from: holder, configuration: .patient)
            #expect(try fetched.get() == file.tree, "\(name)")
        }
        let file = try #require(share.file(named: fileName("big")))
        let otherContent = await fetcher.fetchOverUDP(fileName("big"), size: file.size, digest: sha(Vectors.abc),
                                                      root: file.tree.root.digest, from: holder, configuration: .patient)
        #expect(otherContent.failure?.code == .notFound, "\(otherContent)")
        let otherRoot = await fetcher.fetchOverUDP(fileName("big"), size: file.size, digest: file.digest, root: sha(Vectors.abc), from: holder, configuration: .patient)
        #expect(otherRoot.failure?.code == .wrongContent, "\(otherRoot)")
        // What an older server sees: a name that breaks the name rule.
        #expect(ShareUDPFileProvider(share: share).lookup(name: "layer/nothex/big").failure?.code == .badName)
        #expect(ShareUDPFileProvider(share: share).lookup(name: "layer/\(file.digest.hex)/../x").failure?.code == .badName)
        await group.triggerGracefulShutdown()
    }

    @Test("a layer document is read only when it fits the file", arguments: [
        ("too short", 39), ("not 32 per chunk", 40 + 64), ("one hash too many", 40 + 4 * 32),
    ])
    func documentRules(_ label: String, _ length: Int) {
        var bytes = PieceLayerDocument(chunkSize: 262_144, root: sha(Vectors.abc), layer: []).bytes
        bytes += [UInt8](repeating: 1, count: max(0, length - bytes.count))
        bytes = Array(bytes.prefix(length))
        let tree = PieceLayerFetcher.tree(from: bytes, size: 700_000, root: sha(Vectors.abc))
        #expect(tree.failure?.code == .protocolError, "\(label): \(tree)")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}

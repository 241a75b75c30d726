import FerryWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A whole peer, assembled: its share (scanned and watched), its file server, and its session with
/// the tracker. `ferry peer` and `ferry demo` run one or more; tests run several on 127.0.0.x.
public final class PeerNode: Sendable {
    public struct Configuration: Sendable {
        public var server: Endpoint
        /// The address the file server listens on and tracker connections leave from.
        public var host: String
        public var port: Int
        public var shareFolder: String
        public var downloadFolder: String
        public var sourcePort: Int?
        public var rateLimit: ByteRate?
        /// The hash cache database, or `nil` for none.
        public var cachePath: String?
        /// The UDP server's datagram size; `nil` chooses by the path (see ``UDPFileServer/Configuration``).
        public var udpDatagramSize: Int?
        public var rescanInterval: Duration

        public init(server: Endpoint, host: String = "0.0.0.0", port: Int = 5555, shareFolder: String = "./files",
                    downloadFolder: String = "./downloads", sourcePort: Int? = nil, rateLimit: ByteRate? = nil,
                    cachePath: String? = nil, udpDatagramSize: Int? = nil, rescanInterval: Duration = .seconds(2)) {
            self.server = server
            self.host = host
            self.port = port
            self.shareFolder = shareFolder
            self.downloadFolder = downloadFolder
            self.sourcePort = sourcePort
            self.rateLimit = rateLimit
            self.cachePath = cachePath
            self.udpDatagramSize = udpDatagramSize
            self.rescanInterval = rescanInterval
        }
    }

    public let configuration: Configuration
    public let share: Share
    public let session: TrackerSession
    public let fileServer: FileServer
    public let udpServer: UDPFileServer
    public let watcher: ShareWatcher
    private let logger: Logger
    private let group: any EventLoopGroup

    /// Runs the peer's services (file server, share watcher, tracker session) until cancelled or until
    /// one fails; `onListening` is called once the file server is bound.
    public func run(serveFiles: Bool = true, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) async throws {
        let fileServer = FileServer(configuration: self.fileServer.configuration, share: share, logger: logger, group: group,
                                    onListening: onListening)
        try await withThrowingTaskGroup(of: Void.self) { group in
            if serveFiles {
                group.addTask { try await fileServer.run() }
                group.addTask { try await self.udpServer.run() }
            }
            group.addTask { try await self.watcher.run() }
            group.addTask { try await self.session.run() }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Opens the share and scans it once (hashing what the cache does not know), so that the first
    /// announcement is complete.
    public init(configuration: Configuration, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        let cache = try configuration.cachePath.map { path in
            do {
                return try HashCache(path: path)
            } catch {
                throw PeerError(.io, "cannot open the hash cache \(path): \(error)")
            }
        }
        share = try Share(folder: configuration.shareFolder, cache: cache, logger: logger)
        share.rescan()
        logger.info("share scanned", metadata: ["folder": "\(configuration.shareFolder)", "files": "\(share.snapshot.files.count)"])
        let limiter = configuration.rateLimit.map { RateLimiter(bytesPerSecond: $0.bytesPerSecond) }
        fileServer = FileServer(
            configuration: .init(host: configuration.host, port: configuration.port, rateLimiter: limiter),
            share: share, logger: logger, group: group)
        udpServer = UDPFileServer(configuration: .init(host: configuration.host, port: configuration.port,
                                                       datagramSize: configuration.udpDatagramSize, rateLimiter: limiter),
                                  share: share, logger: logger, group: group)
        session = TrackerSession(
            configuration: .init(server: configuration.server, localHost: configuration.host,
                                 sourcePort: configuration.sourcePort, tcpPort: configuration.port, udpPort: configuration.port),
            share: share, logger: logger, group: group)
        watcher = ShareWatcher(share: share, interval: configuration.rescanInterval)
    }

    /// The services to run: the file servers (TCP and UDP), the share watcher and the tracker session.
    public var services: [any Service] { [fileServer, udpServer, watcher, session] }

    /// A downloader into this peer's download folder, looking names up through its tracker session.
    public func downloader(overwrite: Bool = false, transports: [Transport] = Transport.preferring(.tcp)) -> Downloader {
        let sharesDownloads = Share.realPath(configuration.downloadFolder) == share.realFolder
        return Downloader(
            configuration: .init(folder: configuration.downloadFolder, overwrite: overwrite, transports: transports,
                                 localHost: configuration.host),
            holders: session, share: sharesDownloads ? share : nil, logger: logger, group: group)
    }
}

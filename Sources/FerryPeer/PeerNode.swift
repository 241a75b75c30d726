import FerryWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A whole peer, assembled: its share (scanned and watched), its file server, and its session with
/// the tracker. `ferry peer` and `ferry demo` run one or more; tests run several on 127.0.0.x.
///
/// Start-up order: the file servers bind and the share is scanned first; only then does the session
/// say `HELLO`, so a peer that cannot serve (its address is taken) never enters the index. Everything
/// runs as `Service`s of one `ServiceGroup`; on graceful shutdown (SIGINT/SIGTERM for `ferry peer`)
/// they stop in reverse order: the session says `QUIT` first, then the servers drain, and the hash
/// cache is closed last.
public final class PeerNode: Sendable {
    public struct Configuration: Sendable {
        /// The trackers, in order of preference (see ``TrackerSession``).
        public var servers: [Endpoint]
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
        /// How often the session says `PING`, and how long a tracker reply may take.
        public var heartbeatInterval: Duration
        public var replyTimeout: Duration
        /// How files are hashed (tests hold it to watch what runs meanwhile).
        public var hasher: Share.FileHasher
        /// Hears what the tracker session does (registered, announced, heartbeat, lost, left).
        public var sessionEvents: @Sendable (TrackerSession.Event) -> Void

        public init(server: Endpoint, host: String = "0.0.0.0", port: Int = 5555, shareFolder: String = "./files",
                    downloadFolder: String = "./downloads", sourcePort: Int? = nil, rateLimit: ByteRate? = nil,
                    cachePath: String? = nil, udpDatagramSize: Int? = nil, rescanInterval: Duration = .seconds(2),
                    heartbeatInterval: Duration = .seconds(TrackerLimits.heartbeatInterval),
                    replyTimeout: Duration = TrackerConnection.replyTimeout,
                    hasher: @escaping Share.FileHasher = Share.sha256,
                    sessionEvents: @escaping @Sendable (TrackerSession.Event) -> Void = { _ in }) {
            self.servers = [server]
            self.host = host
            self.port = port
            self.shareFolder = shareFolder
            self.downloadFolder = downloadFolder
            self.sourcePort = sourcePort
            self.rateLimit = rateLimit
            self.cachePath = cachePath
            self.udpDatagramSize = udpDatagramSize
            self.rescanInterval = rescanInterval
            self.heartbeatInterval = heartbeatInterval
            self.replyTimeout = replyTimeout
            self.hasher = hasher
            self.sessionEvents = sessionEvents
        }
    }

    public let configuration: Configuration
    public let share: Share
    /// The files this peer is downloading, whose verified chunks it serves meanwhile.
    public let partials = PartialShares()
    public let session: TrackerSession
    public let fileServer: FileServer
    public let udpServer: UDPFileServer
    public let watcher: ShareWatcher
    private let logger: Logger
    private let group: any EventLoopGroup
    let readiness = PeerReadiness()
    /// This peer's metrics, in a registry of its own (``PeerObservability`` serves them).
    public let metrics = PeerMetrics()
    /// The downloads running now, fed by every downloader this node makes.
    public let transfers: PeerTransfers
    /// The tracker session as `/healthz` reports it.
    let sessionState = PeerSessionState()

    /// Runs the peer's services until cancelled or until one fails; `onListening` is called once the
    /// TCP file server is bound. With `serveFiles: false` no server runs (tests: a peer whose file
    /// server crashed). To stop the peer gracefully, run a group made from
    /// ``serviceGroupConfiguration(serveFiles:also:onListening:)`` with ``run(_:)``, as `ferry peer` does.
    public func run(serveFiles: Bool = true, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) async throws {
        try await run(ServiceGroup(configuration: serviceGroupConfiguration(serveFiles: serveFiles, onListening: onListening)))
    }

    /// The peer's services for one `ServiceGroup`: the file servers, the share watcher, the tracker
    /// session, then `extra` (the console of `ferry peer`). Services shut down in reverse order, so the
    /// session leaves the tracker before the servers drain. The caller adds the signals.
    public func serviceGroupConfiguration(serveFiles: Bool = true, also extra: [ServiceGroupConfiguration.ServiceConfiguration] = [],
                                          onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) -> ServiceGroupConfiguration {
        readiness.prepare(servesFiles: serveFiles, onTCPListening: onListening)
        let servers: [any Service] = serveFiles ? [fileServer, udpServer] : []
        var configuration = ServiceGroupConfiguration(
            services: (servers + [watcher, session]).map { .init(service: $0) } + extra,
            logger: logger)
        configuration.maximumGracefulShutdownDuration = Self.maximumGracefulShutdownDuration
        return configuration
    }

    /// How long a graceful shutdown may take before the services are cancelled: `QUIT` (at most
    /// ``TrackerConnection/quitTimeout``) plus the uploads' drain, with room to spare.
    public static let maximumGracefulShutdownDuration: Duration = .seconds(10)

    /// Runs `group` (made from ``serviceGroupConfiguration(serveFiles:also:onListening:)``), then
    /// closes the hash cache so that its writes are in the file.
    public func run(_ group: ServiceGroup) async throws {
        do {
            try await group.run()
        } catch {
            await finish()
            throw error
        }
        await finish()
    }

    /// Ends any wait for readiness and closes the hash cache on the thread pool (it checkpoints: disk
    /// work), from a task that a cancelled caller does not cancel.
    private func finish() async {
        readiness.finish()
        let share = self.share
        await Task { _ = try? await NIOThreadPool.singleton.runIfActive { share.closeCache() } }.value
    }

    /// Checks the share folder; nothing else is read or bound until the peer runs. The hash cache is
    /// opened on the thread pool with the first scan; one that cannot be opened is logged and the peer
    /// hashes without it.
    public init(configuration: Configuration, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.configuration = configuration
        self.logger = logger
        self.group = group
        transfers = PeerTransfers(metrics: metrics)
        let sessionState = self.sessionState
        let sessionEvents = configuration.sessionEvents
        // The cache is opened with the first scan, on the thread pool: opening may wait for another peer.
        share = try Share(folder: configuration.shareFolder, cache: nil, logger: logger, hasher: configuration.hasher)
        let limiter = configuration.rateLimit.map { RateLimiter(bytesPerSecond: $0.bytesPerSecond) }
        let readiness = self.readiness
        fileServer = FileServer(
            configuration: .init(host: configuration.host, port: configuration.port, rateLimiter: limiter),
            share: share, partials: partials, logger: logger, group: group, metrics: metrics, onListening: { readiness.tcpListening($0) })
        udpServer = UDPFileServer(configuration: .init(host: configuration.host, port: configuration.port,
                                                       datagramSize: configuration.udpDatagramSize, rateLimiter: limiter),
                                  share: share, logger: logger, group: group, metrics: metrics, onListening: { readiness.udpListening($0) })
        session = TrackerSession(
            configuration: .init(servers: configuration.servers, localHost: configuration.host,
                                 sourcePort: configuration.sourcePort, tcpPort: configuration.port, udpPort: configuration.port,
                                 heartbeatInterval: configuration.heartbeatInterval, replyTimeout: configuration.replyTimeout),
            share: share, partials: partials, logger: logger, group: group,
            waitUntilReady: { try await readiness.wait() },
            events: { event in
                sessionState.observe(event)
                sessionEvents(event)
            })
        let share = self.share
        watcher = ShareWatcher(share: share, interval: configuration.rescanInterval, beforeFirstScan: {
            if let path = configuration.cachePath { share.openCache(path: path) }
        }) {
            logger.info("share scanned", metadata: ["folder": "\(configuration.shareFolder)", "files": "\(share.snapshot.files.count)"])
            readiness.scanned()
        }
    }

    /// The services to run: the file servers (TCP and UDP), the share watcher and the tracker session.
    public var services: [any Service] { [fileServer, udpServer, watcher, session] }

    /// A downloader into this peer's download folder, looking names up through its tracker session.
    public func downloader(overwrite: Bool = false, transports: [Transport] = Transport.preferring(.tcp),
                           maximumSources: Int = 8) -> Downloader {
        let sharesDownloads = Share.realPath(configuration.downloadFolder) == share.realFolder
        var downloads = Downloader.Configuration(folder: configuration.downloadFolder, overwrite: overwrite, maximumSources: maximumSources,
                                                 transports: transports, localHost: configuration.host)
        let transfers = self.transfers
        downloads.observer = { transfers.observe($0) }
        return Downloader(
            configuration: downloads,
            holders: session, share: sharesDownloads ? share : nil, partials: partials, logger: logger, group: group)
    }
}

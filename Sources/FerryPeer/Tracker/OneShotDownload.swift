import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// What `ferry get` runs: connect to the tracker, look the names up, download them, leave.
///
/// It is a `Service`, so the command (and the tests) run it in a `ServiceGroup` whose graceful
/// shutdown (SIGINT/SIGTERM) stops the downloads: they are cancelled, every `.part` file stays for a
/// later resume, and ``result`` says ``Result/interrupted(_:)``. A download that does not stop within
/// ``stopTimeout`` is left behind (the process is exiting).
public final class OneShotDownload: Service, Sendable, CustomStringConvertible {
    public struct Configuration: Sendable {
        /// The trackers, in order of preference: the first that answers is asked.
        public var servers: [Endpoint]
        /// The address connections leave from, if set.
        public var localHost: String?
        /// How long each tracker request may wait for its reply.
        public var replyTimeout: Duration
        public var downloader: Downloader.Configuration

        public init(servers: [Endpoint], localHost: String? = nil, replyTimeout: Duration = TrackerConnection.replyTimeout,
                    downloader: Downloader.Configuration) {
            precondition(!servers.isEmpty, "at least one tracker")
            self.servers = servers
            self.localHost = localHost
            self.replyTimeout = replyTimeout
            self.downloader = downloader
        }

        public init(server: Endpoint, localHost: String? = nil, replyTimeout: Duration = TrackerConnection.replyTimeout,
                    downloader: Downloader.Configuration) {
            self.init(servers: [server], localHost: localHost, replyTimeout: replyTimeout, downloader: downloader)
        }
    }

    public enum Result: Sendable {
        /// Every name ended (ok or not): one outcome per name, in order.
        case finished([DownloadOutcome])
        /// The tracker could not be reached: nothing was downloaded.
        case trackerUnavailable(PeerError)
        /// Stopped by graceful shutdown before every name ended; the outcomes known by then.
        case interrupted([DownloadOutcome])
    }

    /// How long stopped downloads may take to return before the command exits without them.
    public static let stopTimeout: Duration = .seconds(2)

    private let names: [String]
    private let configuration: Configuration
    private let logger: Logger
    private let events: @Sendable (DownloadEvent) -> Void
    private let outcome = NIOLockedValueBox<Result?>(nil)

    public init(names: [String], configuration: Configuration, logger: Logger,
                events: @escaping @Sendable (DownloadEvent) -> Void = { _ in }) {
        self.names = names
        self.configuration = configuration
        self.logger = logger
        self.events = events
    }

    public var description: String { "OneShotDownload(\(names.count) names)" }

    /// How the run ended; `nil` until it has.
    public var result: Result? { outcome.withLockedValue { $0 } }

    public func run() async throws {
        let finished = NIOLockedValueBox<[DownloadOutcome]>([])
        let work = Task { [names, configuration, logger, events] () -> Result in
            let connection: TrackerLookupClient
            do {
                connection = try await TrackerLookupClient.connect(
                    to: configuration.servers, localHost: configuration.localHost, replyTimeout: configuration.replyTimeout)
            } catch {
                return .trackerUnavailable(error as? PeerError ?? PeerError(.trackerUnavailable, "\(error)"))
            }
            let downloader = Downloader(configuration: configuration.downloader, holders: connection, logger: logger)
            let outcomes = await downloader.download(names) { event in
                if case .finished(let outcome) = event { finished.withLockedValue { $0.append(outcome) } }
                events(event)
            }
            await connection.close()
            return .finished(outcomes)
        }
        let done = eventLoop.makePromise(of: Result.self)
        Task { done.succeed(await work.value) }
        let result: Result
        do {
            result = try await withGracefulShutdownHandler {
                try await done.valueCancellingOnTaskCancel()
            } onGracefulShutdown: {
                work.cancel()
                done.failAfter(TimeAmount(Self.stopTimeout), with: CancellationError())
            }
        } catch {
            work.cancel()
            result = .interrupted(finished.withLockedValue { $0 })
        }
        let interrupted = Task.isShuttingDownGracefully || Task.isCancelled
        outcome.withLockedValue { stored in
            switch result {
            case .finished(let outcomes) where interrupted && !outcomes.allSatisfy(\.succeeded): stored = .interrupted(outcomes)
            default: stored = result
            }
        }
    }

    private let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
}

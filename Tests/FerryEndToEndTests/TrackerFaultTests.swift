import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

extension EndToEndTests {
    /// Issue 8, failure 3: `ferry get` (and the peer's heartbeat) hung with no limit when the tracker
    /// closed right after accepting (421, plain close, reset) or accepted and never answered. Every case
    /// here runs against a real loopback server and must end with a plain error within the reply
    /// timeout (shortened for tests); a watchdog records a hang instead of hanging the test run.
    @Suite("Tracker faults: every request ends within the reply timeout")
    struct TrackerFaultTests {
        /// The reply timeout the tests use instead of the documented 10 s (long enough for a loaded
        /// machine to deliver a close or a reset first).
        static let replyTimeout: Duration = .seconds(5)
        /// How long the watchdog lets a call run before it calls it a hang: far past the reply timeout,
        /// so that a loaded machine (the whole suite runs in parallel) is not taken for a hang.
        static let watchdog: Duration = .seconds(60)

        static let faults: [ScriptedTracker.Behaviour] = [.closeAtOnce, .say421AndClose, .reset, .neverAnswer]

        @Test("a lookup fails with tracker_unavailable and a reason", arguments: faults)
        func lookupFails(_ fault: ScriptedTracker.Behaviour) async throws {
            let tracker = try await ScriptedTracker.start(fault)
            for _ in 0..<(fault == .neverAnswer ? 1 : 3) {  // the races are in the timing: several rounds
                let result = await withinWatchdog(Self.watchdog) {
                    let connection = try await TrackerConnection.connect(to: tracker.endpoint, replyTimeout: Self.replyTimeout)
                    defer { Task { await connection.close() } }
                    return try await connection.lookup(["a.txt"])
                }
                let ended = try #require(result, "hung: the tracker \(fault)")
                let error = try #require(ended.failure as? PeerError, "\(ended)")
                #expect(error.code == .trackerUnavailable)
                switch fault {
                case .say421AndClose: #expect(error.message.contains("421 too many connections"))
                case .neverAnswer: #expect(error.message.contains("did not answer within 5 s"))
                default:
                    // A close can reach the client as a reset when its request was still unread.
                    #expect(error.message.contains("closed the connection") || error.message.contains("reset the connection"),
                            "\(error.message)")
                }
            }
            await tracker.stop()
        }

        @Test("`ferry get` ends with every name failed and the tracker's fault as the reason", arguments: faults)
        func getFails(_ fault: ScriptedTracker.Behaviour) async throws {
            let tracker = try await ScriptedTracker.start(fault)
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let download = OneShotDownload(
                names: ["a.txt", "b.txt"],
                configuration: .init(server: tracker.endpoint, localHost: "127.0.0.1", replyTimeout: Self.replyTimeout,
                                     downloader: .init(folder: temporary.path, localHost: "127.0.0.1")),
                logger: quietLogger)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: download, successTerminationBehavior: .gracefullyShutdownGroup)], logger: quietLogger))
            let ran = await withinWatchdog(Self.watchdog) { try await group.run() }
            await tracker.stop()
            let finished = try #require(ran, "hung: the tracker \(fault)")
            #expect(finished.failure == nil, "\(finished)")
            // A reset can also reach the client while it connects (the tracker resets as soon as it
            // accepts): then the whole run ends as "cannot reach the tracker", with the reset as the
            // reason. Seen once in five runs on 2 cores.
            if fault == .reset, case .trackerUnavailable(let reason) = download.result {
                #expect("\(reason)".contains("reset"), "\(reason)")
                return
            }
            guard case .finished(let outcomes) = download.result else {
                Issue.record("expected finished outcomes, got \(String(describing: download.result))")
                return
            }
            #expect(outcomes.map(\.status) == [DownloadOutcome.Status.failed, .failed])
            for outcome in outcomes {
                #expect(outcome.message?.contains("could not ask the tracker") == true, "\(outcome.message ?? "")")
            }
        }

        @Test("the peer's session notices a tracker that stops answering and reconnects")
        func sessionReconnectsAfterSilence() async throws {
            let tracker = try await ScriptedTracker.start(.neverAnswer)
            let events = EventLog<TrackerSession.Event>()
            let session = TrackerSession(
                configuration: .init(server: tracker.endpoint, localHost: "127.0.0.1", tcpPort: 5555, udpPort: 5555,
                                     heartbeatInterval: .milliseconds(100), replyTimeout: Self.replyTimeout),
                share: nil, logger: quietLogger, events: events.append)
            let task = Task { try await session.run() }
            // HELLO is never answered: the session gives up on each connection and opens another.
            let reconnected = await eventually(within: Self.watchdog) { tracker.connections.count >= 2 }
            task.cancel()
            _ = await withinWatchdog(Self.watchdog) { try await task.value }
            await tracker.stop()
            #expect(reconnected, "connections: \(tracker.connections.count)")
            #expect(tracker.connections.allSatisfy { $0.lines.first?.hasPrefix("HELLO") ?? true })
        }
    }
}

/// Runs `body` in a task of its own and waits for it at most `limit`; `nil` means it had not
/// returned by then (it is left running, cancelled). The wait never depends on `body` honouring
/// cancellation, so a hang is reported instead of hanging the test run.
func withinWatchdog<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error>? {
    let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
    let done = eventLoop.makePromise(of: Result<T, any Error>?.self)
    let work = Task {
        do {
            done.succeed(.success(try await body()))
        } catch {
            done.succeed(.failure(error))
        }
    }
    let timer = eventLoop.scheduleTask(in: TimeAmount(limit)) {
        work.cancel()
        done.succeed(nil)
    }
    defer { timer.cancel() }
    return try? await done.futureResult.get()
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Events collected from callbacks, in order, that a test can wait for.
final class EventLog<Event: Sendable>: Sendable {
    private struct Waiter {
        var count: Int
        var predicate: @Sendable (Event) -> Bool
        var promise: EventLoopPromise<Bool>
    }

    private let state = NIOLockedValueBox<(events: [Event], waiters: [Waiter])>(([], []))

    var all: [Event] { state.withLockedValue { $0.events } }

    @Sendable func append(_ event: Event) {
        let ready = state.withLockedValue { state -> [EventLoopPromise<Bool>] in
            state.events.append(event)
            let events = state.events
            let (done, waiting) = state.waiters.reduce(into: ([EventLoopPromise<Bool>](), [Waiter]())) { result, waiter in
                if events.filter(waiter.predicate).count >= waiter.count { result.0.append(waiter.promise) } else { result.1.append(waiter) }
            }
            state.waiters = waiting
            return done
        }
        for promise in ready { promise.succeed(true) }
    }

    /// Waits until `count` events match `predicate`, at most `limit`; returns whether they did.
    func wait(for count: Int = 1, within limit: Duration = .seconds(30), _ predicate: @escaping @Sendable (Event) -> Bool) async -> Bool {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Bool.self)
        let already = state.withLockedValue { state -> Bool in
            if state.events.filter(predicate).count >= count { return true }
            state.waiters.append(Waiter(count: count, predicate: predicate, promise: promise))
            return false
        }
        if already { promise.succeed(true) }
        let timer = promise.futureResult.eventLoop.scheduleTask(in: TimeAmount(limit)) { promise.succeed(false) }
        defer { timer.cancel() }
        return (try? await promise.futureResult.get()) ?? false
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs a command's services the way every Ferry command does: in one `ServiceGroup`, where the first
/// SIGINT or SIGTERM starts a graceful shutdown (each service stops accepting, closes its connections
/// cleanly and returns; the process then exits 0) and a second one ends the process at once.
public enum ServiceRunner {
    /// What a second signal does by default: exit at once with 128 + the signal number, as a shell does.
    public static let exitAtOnce: @Sendable (UnixSignal) -> Void = { signal in _exit(128 + signal.rawValue) }

    /// Runs `services` until they return or a signal stops them.
    ///
    /// - Parameters:
    ///   - signals: the signals that stop the group (tests may pick others).
    ///   - onSecondSignal: called on a second signal while shutting down; by default ``exitAtOnce``. If it
    ///     returns, the services are cancelled.
    ///   - onSignalsTrapped: called once the signal handlers are in place, before the services start.
    public static func run(
        services: [any Service],
        logger: Logger,
        signals: [UnixSignal] = [.sigterm, .sigint],
        onSecondSignal: @escaping @Sendable (UnixSignal) -> Void = exitAtOnce,
        onSignalsTrapped: @Sendable () -> Void = {}
    ) async throws {
        let group = ServiceGroup(configuration: .init(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }, logger: logger))
        let trapped = await UnixSignalsSequence(trapping: signals)
        onSignalsTrapped()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                var caught = 0
                for await signal in trapped {
                    caught += 1
                    if caught == 1 {
                        logger.notice("\(signal) caught: shutting down; a second signal stops at once")
                        await group.triggerGracefulShutdown()
                    } else {
                        logger.warning("\(signal) caught again: stopping at once")
                        onSecondSignal(signal)
                        return
                    }
                }
            }
            // Whichever ends first (the services, or a second signal) ends the other.
            defer { tasks.cancelAll() }
            _ = try await tasks.next()
        }
    }
}

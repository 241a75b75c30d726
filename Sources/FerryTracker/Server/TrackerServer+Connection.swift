import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore

extension TrackerServer {
    /// How long a `421` line may take to leave before the connection is closed anyway (a client that
    /// does not read must not hold a closing connection open).
    static let closingLineGracePeriod = TimeAmount.seconds(1)

    /// Serves one accepted connection, from admission to the last store write of its peer.
    func serve(_ connection: NIOAsyncChannel<LineFrame, ByteBuffer>) async {
        guard connections.take(connection) else { return }  // the clean-up at shutdown has it
        let channel = connection.channel
        let remote = channel.remoteAddress
        let address = remote?.ipAddress ?? "unknown"
        let handle = TrackerConnectionHandle()
        let closer: @Sendable (TrackerReplyLine) -> Void = { line in Self.close(channel, with: line) }
        switch connections.admit(connection, address: address, closer: closer) {
        case .refused(let text):
            logger.info("connection refused", metadata: ["client": "\(remote?.displayString ?? "unknown")", "reason": "\(text)"])
            await refuse(connection, text)
            return
        case .admitted:
            break
        }
        defer { connections.release(connection, address: address) }
        handle.onSupersede(closer)

        let logger = {
            var logger = self.logger
            logger[metadataKey: "client"] = "\(remote?.displayString ?? "unknown")"
            return logger
        }()
        var conversation = TrackerConversation(
            store: store, observedHost: address, logger: logger,
            endpoints: endpoints, connection: handle, updateBudget: updateBudget)
        let registered = NIOLockedValueBox(false)
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await watch(handle, registered: registered, channel: channel, logger: logger)
                    }
                    for try await frame in inbound {
                        guard !handle.isSuperseded else { break }
                        handle.heard(at: .now())
                        guard let response = await conversation.handle(frame) else { continue }
                        registered.withLockedValue { $0 = conversation.isRegistered }
                        guard !handle.isSuperseded else { break }
                        // Suspends while the client leaves replies unread: its requests are not read
                        // meanwhile (backpressure), and other connections go on.
                        try await outbound.write(Self.encode(response.lines))
                        if response.close { break }
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
        if conversation.isRegistered { logger.info(handle.isSuperseded ? "peer session taken over" : "peer gone") }
        // Even when the server is being cancelled, the peer must leave the index.
        let finished = conversation
        await Task { await finished.finish() }.value
    }

    /// Closes the connection when it stays silent too long: the heartbeat timeout for a registered
    /// peer, the idle timeout for anyone else.
    private func watch(
        _ handle: TrackerConnectionHandle, registered: NIOLockedValueBox<Bool>, channel: any Channel, logger: Logger
    ) async throws {
        while true {
            let isRegistered = registered.withLockedValue { $0 }
            let limit = isRegistered ? configuration.heartbeatTimeout : configuration.idleTimeout
            let deadline = handle.lastHeard + limit
            let now = NIODeadline.now()
            if now >= deadline {
                logger.info(isRegistered ? "peer missed its heartbeats; dropping it" : "idle connection closed")
                Self.close(channel, with: TrackerReplyLine(
                    status: .closing, isFinal: true,
                    text: "no message for \(limit.nanoseconds / 1_000_000_000) s; closing"))
                return
            }
            // Wakes at the deadline (plus a little, so that it has passed), not on a fixed tick.
            try await Task.sleep(for: .nanoseconds((deadline - now).nanoseconds + 1_000_000))
        }
    }

    /// Sends `line` if the connection can take it, then closes; a connection that does not read is
    /// closed after ``closingLineGracePeriod`` whatever happens to the line.
    static func close(_ channel: any Channel, with line: TrackerReplyLine) {
        channel.eventLoop.execute {
            guard channel.isActive else { return }
            let forced = channel.eventLoop.scheduleTask(in: closingLineGracePeriod) { channel.close(promise: nil) }
            channel.writeAndFlush(encode([line])).whenComplete { _ in
                forced.cancel()
                channel.close(promise: nil)
            }
        }
    }
}

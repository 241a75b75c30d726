import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore

extension TrackerServer {
    /// How long a `421` line may take to leave before the connection is closed anyway (a client that
    /// does not read must not hold a closing connection open).
    static let closingLineGracePeriod = TimeAmount.seconds(1)

    /// Lines of one connection handled before it lets other tasks run.
    static let linesPerTurn = 64

    /// Serves one accepted connection, from admission to the last store write of its peer.
    ///
    /// The event loop only reads (at most ``TrackerLimits/receiveBufferSize`` bytes per wake-up); the
    /// lines are split here, in the connection's task, ``linesPerTurn`` at a time. A flood of short
    /// lines thus costs its own task's turns, not the event loops that every other connection (and
    /// every new one) is read and accepted on.
    func serve(_ connection: TrackerConnections.Connection) async {
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
                    var decoder = LineFrameDecoder(maximumLineLength: TrackerLimits.maximumLineLength)
                    // Holds at most one read and the start of a line (the decoder drops over-long ones).
                    var received = ByteBuffer()
                    var linesThisTurn = 0
                    connection: for try await bytes in inbound {
                        handle.heard(at: .now())
                        received.writeImmutableBuffer(bytes)
                        var replies = ByteBuffer()
                        var close = false
                        while let frame = try decoder.decode(buffer: &received) {
                            guard !handle.isSuperseded else { break connection }
                            // A read of thousands of lines must not hold a thread of the concurrency
                            // pool: other connections, new ones and heartbeats take their turn.
                            linesThisTurn += 1
                            if linesThisTurn == Self.linesPerTurn {
                                linesThisTurn = 0
                                await Task.yield()
                            }
                            guard let response = await conversation.handle(frame) else { continue }
                            Self.append(response.lines, to: &replies)
                            if response.close {
                                close = true
                                break
                            }
                            if replies.readableBytes >= TrackerLimits.outboundBufferHighWaterMark {
                                try await write(replies, to: outbound)
                                replies.clear()
                            }
                        }
                        received.discardReadBytes()
                        registered.withLockedValue { $0 = conversation.isRegistered }
                        guard !handle.isSuperseded else { break }
                        // One write for all the lines of a read. It suspends while the client leaves replies
                        // unread: its requests are not read meanwhile (backpressure), others go on.
                        if replies.readableBytes > 0 { try await write(replies, to: outbound) }
                        if close { break }
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

    /// Writes replies, counted in ``Statistics/waitingForReader`` while the client does not read them.
    private func write(_ replies: ByteBuffer, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        writesInProgress.withLockedValue { $0 += 1 }
        defer { writesInProgress.withLockedValue { $0 -= 1 } }
        try await outbound.write(replies)
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

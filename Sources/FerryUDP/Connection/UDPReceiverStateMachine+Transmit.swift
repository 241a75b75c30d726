import NIOCore

extension UDPReceiverStateMachine {
    /// The next datagram to send now, or `nil` when there is nothing to send. Call repeatedly after
    /// every input until it returns `nil`. The receiver's packets (INITIALs, ACKs, MAX_DATA, DONE)
    /// are small and are not congestion controlled.
    public mutating func nextDatagram(at now: Instant) -> ByteBuffer? {
        switch self.state {
        case .closed:
            return nil
        case .closing(let frame, let outcome):
            self.finish(outcome)
            guard self.core.peerID != .unset else {
                return nil
            }
            var builder = self.core.makeBuilder()
            self.core.appendAck(to: &builder, force: true, at: now)
            builder.append(.close(frame))
            return self.core.finish(builder, at: now)
        case .connecting:
            guard self.initialPending || self.core.probesToSend > 0 else {
                return nil
            }
            if self.initialPending, self.retries == 0, self.firstInitialCopies > 0 {
                self.firstInitialCopies -= 1
            } else {
                self.initialPending = false
            }
            return self.makeInitial(at: now)
        case .transferring, .finishing:
            return self.makeTransferPacket(at: now)
        }
    }

    /// When the driver must call ``handleTimeout(at:)`` (and then drain ``nextDatagram(at:)``) at the
    /// latest: idle timeout, loss detection, probe timeout, delayed ACK or keep-alive. `nil` once
    /// closed.
    public var nextDeadline: Instant? {
        switch self.state {
        case .closed, .closing:
            return nil
        case .connecting:
            return Instant.earliest(self.core.idleDeadline, self.core.recovery.timer?.deadline)
        case .transferring, .finishing:
            let keepAlive = self.core.lastAckElicitingSent.advanced(by: self.core.configuration.keepAliveInterval)
            return Instant.earliest(
                self.core.idleDeadline,
                self.core.recovery.timer?.deadline,
                self.core.acks.deadline,
                keepAlive
            )
        }
    }

    /// Runs whatever timers expired by `now`.
    public mutating func handleTimeout(at now: Instant) {
        switch self.state {
        case .closed, .closing:
            return
        case .finishing where self.core.idleDeadline <= now:
            // Every byte arrived; only the sender's confirmation went missing.
            self.finish(.completed)
            return
        case .connecting, .transferring, .finishing:
            break
        }
        if self.core.idleDeadline <= now {
            self.finish(.failed(FerryUDPError(.idleTimeout, reason: "no packet from the server")))
            return
        }
        if case .connecting = self.state {
        } else if self.core.lastAckElicitingSent.advanced(by: self.core.configuration.keepAliveInterval) <= now {
            self.pingPending = true
        }
        guard let timer = self.core.recovery.timer, timer.deadline <= now else {
            return
        }
        if let lost = self.core.onRecoveryTimeout(at: now) {
            for packet in lost {
                self.requeue(packet.frames)
            }
            return
        }
        // Two probes, as RFC 9002 allows: during the handshake that is two INITIALs, which halves
        // the chance that a lossy path stalls the connection for another, doubled, timeout.
        self.core.probesToSend = 2
        self.requeue(self.core.recovery.oldestInFlightFrames)
    }

    private mutating func makeInitial(at now: Instant) -> ByteBuffer {
        var builder = self.core.makeBuilder(type: .initial, token: self.token)
        builder.append(.request(self.request), sent: .request)
        builder.append(.maxData(self.stream.advertiseCredit()))
        builder.pad(to: UDPWireLimits.minimumInitialDatagramSize)
        return self.core.finish(builder, at: now)
    }

    private mutating func makeTransferPacket(at now: Instant) -> ByteBuffer? {
        let probe = self.core.probesToSend > 0
        let hasContent = self.maxDataPending || self.donePending || self.pingPending || probe
        guard hasContent || self.core.acks.isDue(at: now) else {
            return nil
        }
        var builder = self.core.makeBuilder()
        self.core.appendAck(to: &builder, at: now)
        if self.maxDataPending {
            builder.append(.maxData(self.stream.advertiseCredit()), sent: .maxData)
            self.maxDataPending = false
        }
        if self.donePending, let end = self.response?.end {
            builder.append(.done(finalOffset: end), sent: .done)
            self.donePending = false
        }
        // An ACK-only packet elicits an ACK itself about once per RTT: that gives the receiver RTT
        // samples (so its own probe timeouts stay accurate) at the cost of a tiny piggybacked ACK.
        let rttSampleDue = self.core.lastAckElicitingSent.advanced(by: self.core.recovery.rtt.smoothed) <= now
        if self.pingPending || probe || rttSampleDue, !builder.isAckEliciting {
            builder.append(.ping, sent: .ping)
        }
        self.pingPending = false
        return builder.isEmpty ? nil : self.core.finish(builder, at: now)
    }
}

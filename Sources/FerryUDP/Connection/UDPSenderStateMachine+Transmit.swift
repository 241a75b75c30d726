import NIOCore

extension UDPSenderStateMachine {
    /// The next datagram to send now, or `nil` when there is nothing to send or the congestion window
    /// or the pacer holds it back (``nextDeadline`` then says when to ask again, unless an ACK must
    /// arrive first). Call repeatedly after every input until it returns `nil`.
    public mutating func nextDatagram(at now: Instant) -> ByteBuffer? {
        var buffer = ByteBuffer()
        return self.appendNextDatagram(to: &buffer, at: now) == nil ? nil : buffer
    }

    /// Like ``nextDatagram(at:)``, but appends the datagram to `buffer` and returns its size (`nil`
    /// leaves `buffer` as it was). A driver that batches datagrams for one write builds them all in
    /// one buffer this way, without a buffer and a copy per datagram.
    public mutating func appendNextDatagram(to buffer: inout ByteBuffer, at now: Instant) -> Int? {
        let start = buffer.writerIndex
        switch self.state {
        case .closed:
            return nil
        case .closing(let until, let frame, let outcome, let sendClose):
            guard sendClose else {
                return nil
            }
            self.state = .closing(until: until, frame: frame, outcome: outcome, sendClose: false)
            var builder = self.core.makeBuilder(appendingTo: &buffer)
            self.core.appendAck(to: &builder, force: true, at: now)
            builder.append(.close(frame))
            buffer = self.core.finish(builder, at: now)
            return buffer.writerIndex - start
        case .transferring:
            break
        }
        if let size = self.pathMTU.sizeToProbe, self.responseState == .acknowledged, self.core.probesToSend == 0,
            self.wantsToSendAckEliciting, self.mayTransmit(at: now)
        {
            return self.appendPathProbe(size: size, to: &buffer, at: now)
        }
        if self.wantsToSendAckEliciting {
            if self.mayTransmit(at: now) {
                return self.appendAckElicitingPacket(to: &buffer, at: now)
            }
        } else if self.windowHasRoom {
            self.core.recovery.markAppLimited()
        }
        guard self.core.acks.isDue(at: now) else {
            return nil
        }
        var builder = self.core.makeBuilder(appendingTo: &buffer)
        self.core.appendAck(to: &builder, at: now)
        guard !builder.isEmpty else {
            buffer = builder.abandon()
            return nil
        }
        buffer = self.core.finish(builder, at: now)
        return buffer.writerIndex - start
    }

    /// When the driver must call ``handleTimeout(at:)`` (and then ``nextDatagram(at:)``) at the
    /// latest: the earliest of the idle timeout, loss detection, probe timeout, delayed ACK, pacing
    /// release and closing deadline. `nil` once closed.
    public var nextDeadline: Instant? {
        switch self.state {
        case .closed:
            return nil
        case .closing(let until, _, _, _):
            return until
        case .transferring:
            var pacing: Instant? = nil
            if self.wantsToSendAckEliciting, self.core.probesToSend == 0, self.windowHasRoom {
                pacing = self.pacer.releaseTime(
                    for: self.core.datagramSize,
                    rate: self.congestion.pacingRate
                )
            }
            return Instant.earliest(
                self.core.idleDeadline,
                self.handshakeDeadline,
                self.core.recovery.timer?.deadline,
                self.core.acks.deadline,
                pacing
            )
        }
    }

    /// Runs whatever timers expired by `now`: idle timeout, loss detection, probe timeout, closing.
    public mutating func handleTimeout(at now: Instant) {
        switch self.state {
        case .closed:
            return
        case .closing(let until, _, let outcome, _):
            if until <= now {
                self.state = .closed(outcome)
            }
            return
        case .transferring:
            break
        }
        if self.core.idleDeadline <= now {
            self.state = .closed(.failed(FerryUDPError(.idleTimeout, reason: "no packet from the client")))
            return
        }
        if let deadline = self.handshakeDeadline, deadline <= now {
            self.state = .closed(.failed(FerryUDPError(.idleTimeout, reason: "the client acknowledged nothing")))
            return
        }
        guard let timer = self.core.recovery.timer, timer.deadline <= now else {
            return
        }
        if let lost = self.core.onRecoveryTimeout(at: now) {
            self.onLost(lost, at: now)
            return
        }
        // Probe timeout: two ack-eliciting packets regardless of the window, carrying the oldest
        // unacknowledged data again if there is nothing else to send. A second timeout in a row
        // while datagrams above the base size are in use may mean the path stopped carrying them:
        // back to the base size.
        if self.core.recovery.probeCount >= 2, self.pathMTU.onPersistentProbeTimeouts() {
            self.useDatagramSize(self.pathMTU.datagramSize)
        }
        self.core.probesToSend = 2
        if !self.hasContentToSend {
            self.requeue(self.core.recovery.oldestInFlightFrames)
        }
    }

    private var hasContentToSend: Bool {
        self.responseState == .pending || (self.stream.hasDataToSend && self.sourceIsReady)
    }

    /// Whether the file source can give the next bytes to send now (it may be fetching them).
    private var sourceIsReady: Bool {
        guard let offset = self.stream.nextOffsetToSend else {
            return true
        }
        return self.source.readableBytes(at: offset) > 0
    }

    /// Whether the machine has data to send but waits for its file source to read it: the driver
    /// calls ``nextDatagram(at:)`` again once the source has it.
    public var isWaitingForData: Bool {
        guard case .transferring = self.state else {
            return false
        }
        return self.stream.hasDataToSend && !self.sourceIsReady
    }

    private var wantsToSendAckEliciting: Bool {
        self.hasContentToSend || self.core.probesToSend > 0
    }

    private var windowHasRoom: Bool {
        self.core.recovery.bytesInFlight + self.core.datagramSize <= self.congestion.congestionWindow
    }

    private func mayTransmit(at now: Instant) -> Bool {
        if self.core.probesToSend > 0 {
            return true
        }
        guard self.windowHasRoom else {
            return false
        }
        let release = self.pacer.releaseTime(
            for: self.core.datagramSize,
            rate: self.congestion.pacingRate
        )
        return release.map { $0 <= now } ?? true
    }

    private mutating func appendAckElicitingPacket(to buffer: inout ByteBuffer, at now: Instant) -> Int? {
        let start = buffer.writerIndex
        var builder = self.core.makeBuilder(appendingTo: &buffer)
        self.core.appendAck(to: &builder, at: now)
        if self.responseState == .pending, builder.append(.response(self.response), sent: .response) {
            self.responseState = .inFlight
        }
        do {
            try self.appendStreamFrames(to: &builder)
        } catch {
            buffer = builder.abandon()
            self.close(with: error, at: now)
            return self.appendNextDatagram(to: &buffer, at: now)
        }
        if !builder.isAckEliciting {
            builder.append(.ping, sent: .ping)
        }
        return self.finishAckEliciting(builder, startingAt: start, into: &buffer, at: now)
    }

    /// Seals an ack-eliciting packet that began at `start` in `buffer`, and charges it to the
    /// congestion controller and the pacer; returns its size.
    private mutating func finishAckEliciting(
        _ builder: UDPPacketBuilder,
        startingAt start: Int,
        into buffer: inout ByteBuffer,
        at now: Instant
    ) -> Int {
        buffer = self.core.finish(builder, at: now)
        let size = buffer.writerIndex - start
        let rate = self.congestion.pacingRate
        self.congestion.onPacketSent(bytes: size, bytesInFlight: self.core.recovery.bytesInFlight, at: now)
        self.pacer.onPacketSent(bytes: size, rate: rate, at: now)
        return size
    }

    /// A path MTU probe: an ACK if one is owed and a PING, padded to `size`. It counts against the
    /// congestion window and the pacer like any packet, but its loss is not taken as congestion.
    private mutating func appendPathProbe(size: Int, to buffer: inout ByteBuffer, at now: Instant) -> Int {
        let start = buffer.writerIndex
        var builder = self.core.makeBuilder(appendingTo: &buffer, limit: size)
        self.core.appendAck(to: &builder, at: now)
        builder.append(.ping, sent: .pathProbe)
        builder.pad(to: size)
        self.pathMTU.onProbeSent()
        return self.finishAckEliciting(builder, startingAt: start, into: &buffer, at: now)
    }

    private mutating func appendStreamFrames(to builder: inout UDPPacketBuilder) throws(FerryUDPError) {
        while builder.remaining > UDPStreamFrame.overhead {
            guard let offset = self.stream.nextOffsetToSend else {
                return
            }
            let readable = self.source.readableBytes(at: offset)
            guard readable > 0 else {
                return
            }
            let room = min(builder.remaining - UDPStreamFrame.overhead, Int(UInt16.max), readable)
            guard let (range, isRetransmission) = self.stream.nextChunk(maxLength: room) else {
                return
            }
            let count = Int(range.upperBound - range.lowerBound)
            try builder.appendStream(offset: range.lowerBound, count: count, from: self.source)
            if isRetransmission {
                self.core.countRetransmission(bytes: count)
            }
        }
    }
}

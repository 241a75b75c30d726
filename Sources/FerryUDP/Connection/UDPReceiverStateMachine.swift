import NIOCore

/// The client's end of one transfer: requests a file (or the rest of one) and receives it.
///
/// A pure state machine generic over the clock's `Instant`, driven like ``UDPSenderStateMachine``:
/// feed it datagrams from the server (``receive(datagram:at:)``) and expired deadlines
/// (``handleTimeout(at:)``), drain ``nextDatagram(at:)`` and ``nextEvent()`` after every input, and
/// arm a timer at ``nextDeadline``. Delivered bytes come out as ``UDPReceiverEvent/data(offset:bytes:)``
/// events in order; report what the application wrote with ``consumed(bytes:)``, which grows the
/// flow-control credit (MAX_DATA) so a slow disk slows the sender instead of causing loss.
///
/// Lifecycle: INITIAL (REQUEST + MAX_DATA, padded to 1200 bytes; the first one twice) → RETRY with a cookie → INITIAL
/// again with the cookie → the server's RESPONSE and data → DONE once every byte arrived → the
/// server's CLOSE(noError) (or its ACK of DONE) → closed with ``UDPTransferOutcome/completed``.
public struct UDPReceiverStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
    enum State {
        /// The server's connection ID is not known yet: sending INITIALs.
        case connecting
        case transferring
        /// Every byte arrived; DONE is on its way.
        case finishing
        /// A CLOSE must be sent, then the machine is closed.
        case closing(UDPCloseFrame, UDPTransferOutcome)
        case closed(UDPTransferOutcome)
    }

    var state: State = .connecting
    var core: UDPConnectionCore<Instant>
    var stream: UDPReceiveStream
    /// What was asked for.
    public let request: UDPRequestFrame
    /// The server's RESPONSE, once received.
    public private(set) var response: UDPResponseFrame?
    var token: [UInt8] = []
    var retries = 0
    var initialPending = true
    /// Copies of the very first INITIAL still to send. Until the first RETRY the client has no RTT
    /// sample, so a lost first INITIAL (or its RETRY) costs a probe timeout at the initial RTT, about
    /// a second; a second copy makes that a loss of both (p² instead of 2p: 0.25 % instead of 10 %
    /// at 5 % loss) for 1200 more bytes. The server answers each copy with its own small RETRY.
    var firstInitialCopies = 1
    var maxDataPending = false
    var donePending = false
    var doneAcknowledged = false
    var pingPending = false
    var events = CircularBuffer<UDPReceiverEvent>()

    /// Creates the client side of a transfer; the first INITIAL is ready in ``nextDatagram(at:)``.
    public init(
        configuration: UDPConfiguration,
        request: UDPRequestFrame,
        localID: UDPConnectionID = .random(),
        now: Instant
    ) {
        precondition(localID != .unset, "the connection ID must be nonzero")
        self.core = UDPConnectionCore(configuration: configuration, localID: localID, peerID: .unset, now: now)
        self.stream = UDPReceiveStream(start: request.start, window: configuration.receiveWindow)
        self.request = request
    }

    /// The connection ID this end chose; the server's packets carry it as their destination.
    public var localID: UDPConnectionID { self.core.localID }

    /// How the transfer ended, once the machine is closed.
    public var outcome: UDPTransferOutcome? {
        if case .closed(let outcome) = self.state {
            return outcome
        }
        return nil
    }

    /// Whether the machine is finished.
    public var isClosed: Bool { self.outcome != nil }

    /// The offset of the next byte to deliver (everything below it was delivered).
    public var deliveredOffset: UInt64 { self.stream.deliveredOffset }

    /// The highest credit advertised to the sender.
    public var advertisedCredit: UInt64 { self.stream.advertisedCredit }

    /// Counters and the current RTT.
    public var statistics: UDPConnectionStatistics { self.core.currentStatistics() }

    /// The next event, or `nil` when there is none.
    public mutating func nextEvent() -> UDPReceiverEvent? {
        self.events.popFirst()
    }

    /// Reports that the application stored `bytes` more of the delivered data (in order).
    public mutating func consumed(bytes: Int) {
        self.stream.consume(bytes)
        self.updateCreditNeed()
    }

    /// Ends the transfer from this side (e.g. the disk is full): a CLOSE with `error` is sent.
    public mutating func abort(_ error: FerryUDPError) {
        switch self.state {
        case .connecting, .transferring, .finishing:
            self.fail(error, sendClose: true)
        case .closing, .closed:
            break
        }
    }

    /// Processes a datagram; anything malformed, misaddressed or unexpected is dropped silently.
    public mutating func receive(datagram: ByteBuffer, at now: Instant) {
        guard let packet = try? UDPPacket(decoding: datagram), packet.header.destinationID == self.localID else {
            return
        }
        switch (packet.header.type, self.state) {
        case (.retry, .connecting):
            self.onRetry(packet.header, at: now)
        case (.transfer, .connecting) where packet.header.sourceID == .unset:
            self.onStatelessReply(packet)
        case (.transfer, .connecting):
            self.core.peerID = packet.header.sourceID
            self.state = .transferring
            self.initialPending = false
            self.onPacket(packet, size: datagram.readableBytes, at: now)
        case (.transfer, .transferring), (.transfer, .finishing):
            self.onPacket(packet, size: datagram.readableBytes, at: now)
        default:
            return
        }
    }

    private mutating func onRetry(_ header: UDPPacketHeader, at now: Instant) {
        guard self.retries < self.core.configuration.maximumRetries, header.token != self.token else {
            return
        }
        self.retries += 1
        self.token = header.token
        // The INITIALs sent so far are moot; the first RETRY measures the round trip.
        self.core.recovery.discardAll(rttSampleAt: self.retries == 1 ? now : nil)
        self.core.restartIdleTimer(at: now)
        self.initialPending = true
    }

    /// A server that keeps no state for us answered with a CLOSE (unknown file, busy, …).
    private mutating func onStatelessReply(_ packet: UDPPacket) {
        for case .close(let close) in packet.frames {
            self.fail(close.error, sendClose: false)
            return
        }
    }

    private mutating func onPacket(_ packet: UDPPacket, size: Int, at now: Instant) {
        guard self.core.shouldProcess(packet.header) else {
            return
        }
        do {
            for frame in packet.frames {
                guard try self.process(frame, at: now) else {
                    // Out of reassembly room: drop the packet unacknowledged; it will come again.
                    return
                }
                if self.isClosedOrClosing {
                    return
                }
            }
            self.core.onPacketProcessed(packet, size: size, at: now)
            self.deliver()
        } catch {
            self.fail(error, sendClose: true)
        }
    }

    /// Processes one frame; returns `false` when the packet must be dropped.
    private mutating func process(_ frame: UDPFrame, at now: Instant) throws(FerryUDPError) -> Bool {
        switch frame {
        case .padding, .ping:
            break
        case .ack(let ack):
            try self.onAck(ack, at: now)
        case .stream(let stream):
            return try self.stream.insert(offset: stream.offset, data: stream.data) == .accepted
        case .response(let response):
            try self.onResponse(response)
        case .close(let close):
            switch (close.code, self.stream.isComplete) {
            case (.noError, true):
                self.finish(.completed)
            case (.noError, false):
                self.fail(
                    FerryUDPError(.protocolViolation, reason: "server closed before sending every byte"),
                    sendClose: false
                )
            default:
                self.fail(close.error, sendClose: false)
            }
        case .maxData, .request, .done:
            throw FerryUDPError(.protocolViolation, reason: "server sent a client frame")
        }
        return true
    }

    private mutating func onResponse(_ response: UDPResponseFrame) throws(FerryUDPError) {
        if let known = self.response {
            guard known == response else {
                throw FerryUDPError(.protocolViolation, reason: "RESPONSE changed")
            }
            return
        }
        let expectedEnd = self.request.end == UDPWireLimits.toEndOfFile ? response.fileSize : self.request.end
        guard response.start == self.request.start, response.end == expectedEnd else {
            throw FerryUDPError(.protocolViolation, reason: "RESPONSE range differs from the request")
        }
        try self.stream.setEnd(response.end)
        self.response = response
        self.events.append(.response(response))
    }

    private mutating func onAck(_ frame: UDPAckFrame, at now: Instant) throws(FerryUDPError) {
        let outcome = try self.core.onAck(frame, handshakeConfirmed: true, at: now)
        for packet in outcome.acknowledged where packet.frames.contains(.done) {
            self.doneAcknowledged = true
        }
        for packet in outcome.lost {
            self.requeue(packet.frames)
        }
        if self.doneAcknowledged, case .finishing = self.state {
            self.finish(.completed)
        }
    }

    mutating func requeue(_ frames: SentFrames) {
        for sent in frames {
            switch sent {
            case .request:
                if case .connecting = self.state {
                    self.initialPending = true
                }
            case .maxData:
                self.maxDataPending = true
            case .done:
                self.donePending = !self.doneAcknowledged
            case .ping, .response, .stream, .pathProbe:
                break
            }
        }
    }

    /// Hands out in-order data and notices completion.
    private mutating func deliver() {
        guard self.response != nil, case .transferring = self.state else {
            return
        }
        self.stream.popContiguous(into: &self.events) { events, offset, bytes in
            events.append(.data(offset: offset, bytes: bytes))
        }
        if self.stream.isComplete {
            self.state = .finishing
            self.donePending = true
            self.events.append(.complete)
        }
        self.updateCreditNeed()
    }

    /// Asks for a MAX_DATA once the credit can grow by a quarter window.
    private mutating func updateCreditNeed() {
        guard case .transferring = self.state else {
            return
        }
        let credit = self.stream.currentCredit
        let advertised = self.stream.advertisedCredit
        if credit > advertised, credit - advertised >= UInt64(self.core.configuration.receiveWindow / 4) {
            self.maxDataPending = true
        }
    }

    var isClosedOrClosing: Bool {
        switch self.state {
        case .closing, .closed: true
        case .connecting, .transferring, .finishing: false
        }
    }

    mutating func finish(_ outcome: UDPTransferOutcome) {
        self.state = .closed(outcome)
        self.events.append(.closed(outcome))
    }

    mutating func fail(_ error: Error, sendClose: Bool) {
        let error = error as? FerryUDPError ?? FerryUDPError(.internalError, reason: "\(error)")
        if sendClose {
            self.state = .closing(UDPCloseFrame(error), .failed(error))
        } else {
            self.finish(.failed(error))
        }
    }
}

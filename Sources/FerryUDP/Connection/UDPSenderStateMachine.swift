import NIOCore

/// The server's end of one transfer: serves a byte range of a file to one client.
///
/// A pure state machine, generic over the clock's `Instant`: it never touches a socket, a timer or
/// the clock. The driver feeds it datagrams (``receive(datagram:at:)``) and expired deadlines
/// (``handleTimeout(at:)``), drains ``nextDatagram(at:)`` until it returns `nil` after every input,
/// and arms one timer at ``nextDeadline`` — which also covers pacing: when the next packet may not
/// leave yet, the deadline says when it may.
///
/// The machine is created by ``UDPServerDemultiplexer`` once a client's INITIAL carried a valid
/// cookie and a REQUEST for an existing file, and starts sending at once: RESPONSE, then STREAM
/// frames in offset order within the receiver's credit, paced and windowed by the congestion
/// controller. Lost data is resent in new packets. The transfer ends when the receiver's DONE
/// arrives: the machine answers with CLOSE(noError), lingers three probe timeouts to repeat that
/// CLOSE if the receiver repeats DONE, and closes with ``UDPTransferOutcome/completed``.
public struct UDPSenderStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
    enum State {
        case transferring
        /// CLOSE was sent; it is repeated (once per packet received) until the deadline.
        case closing(until: Instant, frame: UDPCloseFrame, outcome: UDPTransferOutcome, sendClose: Bool)
        case closed(UDPTransferOutcome)
    }

    /// Delivery state of the RESPONSE frame.
    enum ResponseState {
        case pending
        case inFlight
        case acknowledged
    }

    var state: State = .transferring
    var core: UDPConnectionCore<Instant>
    var congestion: any CongestionController<Instant>
    var pacer: Pacer<Instant>
    var stream: UDPSendStream
    let source: any UDPFileSource
    let request: UDPRequestFrame
    /// The RESPONSE this machine sends.
    public let response: UDPResponseFrame
    var responseState = ResponseState.pending
    /// The search for the largest datagram the path carries.
    var pathMTU: PathMTUDiscovery
    /// Until the client's first acknowledgement: when the connection is dropped as half-open.
    var handshakeDeadline: Instant?

    /// Creates the server side of a transfer.
    ///
    /// - Parameters:
    ///   - congestionController: a custom controller; `nil` uses the configuration's algorithm.
    /// - Throws: ``FerryUDPError`` `badRange` when the request's range does not fit the file.
    public init(
        configuration: UDPConfiguration,
        localID: UDPConnectionID,
        peerID: UDPConnectionID,
        request: UDPRequestFrame,
        source: any UDPFileSource,
        congestionController: (any CongestionController<Instant>)? = nil,
        now: Instant
    ) throws(FerryUDPError) {
        let size = source.size
        let end = request.end == UDPWireLimits.toEndOfFile ? size : request.end
        guard request.start <= end, end <= size else {
            throw FerryUDPError(.badRange, reason: "range \(request.start)..<\(end) does not fit \(size) bytes")
        }
        self.core = UDPConnectionCore(configuration: configuration, localID: localID, peerID: peerID, now: now)
        switch (congestionController, configuration.congestionControl) {
        case (let custom?, _):
            self.congestion = custom
        case (nil, .bbr):
            self.congestion = BBRCongestionController(
                maxDatagramSize: configuration.maximumDatagramSize,
                initialWindowPackets: configuration.initialWindowPackets,
                now: now
            )
        case (nil, .newReno):
            self.congestion = NewRenoCongestionController<Instant>(
                maxDatagramSize: configuration.maximumDatagramSize,
                initialWindowPackets: configuration.initialWindowPackets
            )
        }
        self.pacer = Pacer(maxDatagramSize: configuration.maximumDatagramSize)
        self.pathMTU = PathMTUDiscovery(
            baseSize: configuration.maximumDatagramSize,
            ladder: configuration.pathMTUProbeSizes
        )
        self.stream = UDPSendStream(start: request.start, end: end)
        self.handshakeDeadline = now.advanced(by: configuration.handshakeTimeout)
        self.source = source
        self.request = request
        self.response = UDPResponseFrame(fileSize: size, start: request.start, end: end, sha256Hex: source.sha256Hex)
    }

    /// Takes `sample` as the first RTT measurement (the handshake's round trip), so that the first
    /// probe timeout is not the initial RTT's second or so.
    mutating func seedRTT(_ sample: Duration) {
        self.core.recovery.addRTTSample(sample)
    }

    /// The connection ID this end chose (the demultiplexer's key).
    public var localID: UDPConnectionID { self.core.localID }

    /// The client's connection ID.
    public var peerID: UDPConnectionID { self.core.peerID }

    /// How the transfer ended, once the machine is closed.
    public var outcome: UDPTransferOutcome? {
        if case .closed(let outcome) = self.state {
            return outcome
        }
        return nil
    }

    /// Whether the machine is finished; it then never sends again and can be discarded.
    public var isClosed: Bool { self.outcome != nil }

    /// Counters and the current RTT and window.
    public var statistics: UDPConnectionStatistics {
        self.core.currentStatistics(congestionWindow: self.congestion.congestionWindow)
    }

    /// Processes a datagram from the client; malformed ones are dropped without effect.
    public mutating func receive(datagram: ByteBuffer, at now: Instant) {
        guard let packet = try? UDPPacket(decoding: datagram) else {
            return
        }
        self.receive(packet: packet, size: datagram.readableBytes, at: now)
    }

    /// Processes a decoded packet (the demultiplexer decodes once to route).
    mutating func receive(packet: UDPPacket, size: Int, at now: Instant) {
        guard packet.header.type != .retry, packet.header.sourceID == self.core.peerID else {
            return
        }
        switch self.state {
        case .closed:
            return
        case .closing(let until, let frame, let outcome, _):
            // Whatever the peer says now, it has not seen our CLOSE: repeat it.
            self.state = .closing(until: until, frame: frame, outcome: outcome, sendClose: true)
            return
        case .transferring:
            break
        }
        guard self.core.shouldProcess(packet.header) else {
            return
        }
        do {
            for frame in packet.frames {
                try self.process(frame, inInitial: packet.header.type == .initial, at: now)
                if self.isClosed {
                    return
                }
            }
            self.core.onPacketProcessed(packet, size: size, at: now)
        } catch {
            self.close(with: error, at: now)
        }
    }

    /// Ends the transfer from this side, e.g. when the file became unreadable.
    public mutating func abort(_ error: FerryUDPError, at now: Instant) {
        guard case .transferring = self.state else {
            return
        }
        self.close(with: error, at: now)
    }

    private mutating func process(_ frame: UDPFrame, inInitial: Bool, at now: Instant) throws(FerryUDPError) {
        switch frame {
        case .padding, .ping:
            break
        case .ack(let ack):
            try self.onAck(ack, at: now)
        case .maxData(let offset):
            self.stream.raiseCredit(to: offset)
        case .request(let request):
            guard inInitial, request == self.request else {
                throw FerryUDPError(.protocolViolation, reason: "unexpected REQUEST")
            }
        case .done(let finalOffset):
            guard finalOffset == self.stream.end else {
                throw FerryUDPError(.finalOffsetError, reason: "DONE at \(finalOffset), expected \(self.stream.end)")
            }
            self.enterClosing(UDPCloseFrame(code: .noError), outcome: .completed, at: now)
        case .close(let close):
            self.state = .closed(.failed(close.error))
        case .stream, .response:
            throw FerryUDPError(.protocolViolation, reason: "client sent a server frame")
        }
    }

    private mutating func onAck(_ frame: UDPAckFrame, at now: Instant) throws(FerryUDPError) {
        let outcome = try self.core.onAck(frame, handshakeConfirmed: true, at: now)
        var ackedBytes = 0
        if !outcome.acknowledged.isEmpty {
            self.handshakeDeadline = nil
        }
        for packet in outcome.acknowledged {
            ackedBytes += packet.size
            for sent in packet.frames {
                switch sent {
                case .stream(let range): self.stream.onAcknowledged(range)
                case .response: self.responseState = .acknowledged
                case .pathProbe: self.onPathProbeAcknowledged()
                case .ping, .request, .maxData, .done: break
                }
            }
        }
        self.onLost(outcome.lost, at: now)
        if let largestSent = outcome.largestAcknowledgedSentTime {
            self.congestion.onAck(
                CongestionAckEvent(
                    now: now,
                    ackedBytes: ackedBytes,
                    bytesInFlight: self.core.recovery.bytesInFlight,
                    largestAcknowledgedSentTime: largestSent,
                    rtt: self.core.recovery.rtt,
                    rateSample: outcome.rateSample
                )
            )
        }
    }

    mutating func onLost(_ lost: [SentPacket<Instant>], at now: Instant) {
        var lostBytes = 0
        var newest: SentPacket<Instant>?
        for packet in lost {
            self.requeue(packet.frames)
            // A lost path MTU probe says the probe was too large, not that the path is congested
            // (RFC 9000 §14.4).
            guard !packet.frames.contains(.pathProbe) else {
                self.pathMTU.onProbeLost()
                continue
            }
            lostBytes += packet.size
            newest = packet
        }
        guard let newest else {
            return
        }
        self.congestion.onLoss(
            CongestionLossEvent(
                now: now,
                lostBytes: lostBytes,
                bytesInFlight: self.core.recovery.bytesInFlight,
                largestLostSentTime: newest.timeSent
            )
        )
    }

    /// Schedules the content of a lost (or probed) packet to be sent again.
    mutating func requeue(_ frames: SentFrames) {
        for sent in frames {
            switch sent {
            case .stream(let range):
                self.stream.onLost(range)
            case .response:
                if self.responseState != .acknowledged {
                    self.responseState = .pending
                }
            case .ping, .request, .maxData, .done, .pathProbe:
                break
            }
        }
    }

    private mutating func onPathProbeAcknowledged() {
        self.pathMTU.onProbeAcknowledged()
        self.useDatagramSize(self.pathMTU.datagramSize)
    }

    /// Builds full datagrams of `size` bytes from now on, and tells the window and the pacer.
    mutating func useDatagramSize(_ size: Int) {
        guard size != self.core.datagramSize else {
            return
        }
        self.core.datagramSize = size
        self.congestion.onDatagramSizeChanged(size)
        self.pacer.maxDatagramSize = size
    }

    mutating func close(with error: Error, at now: Instant) {
        let error = error as? FerryUDPError ?? FerryUDPError(.internalError, reason: "\(error)")
        self.enterClosing(UDPCloseFrame(error), outcome: .failed(error), at: now)
    }

    private mutating func enterClosing(_ frame: UDPCloseFrame, outcome: UDPTransferOutcome, at now: Instant) {
        let linger = self.core.recovery.probeTimeout * 3
        self.state = .closing(until: now.advanced(by: linger), frame: frame, outcome: outcome, sendClose: true)
    }
}

import NIOCore

/// The machinery both ends of a connection share: connection IDs, packet numbering, loss recovery,
/// acknowledgements and the idle timer. The sender and receiver state machines wrap it with their
/// own frames and states.
struct UDPConnectionCore<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    let configuration: UDPConfiguration
    /// The ID this end chose; the peer puts it in the destination field.
    let localID: UDPConnectionID
    /// The ID the peer chose (`unset` until a client learns it).
    var peerID: UDPConnectionID
    /// The number the next packet gets; never reused.
    private(set) var nextPacketNumber: UInt64 = 0
    var recovery: LossRecovery<Instant>
    var acks: AckTracker<Instant>
    /// When the connection dies of silence.
    private(set) var idleDeadline: Instant
    /// Ack-eliciting packets to send regardless of congestion control, after a probe timeout.
    var probesToSend = 0
    /// When the last ack-eliciting packet left.
    private(set) var lastAckElicitingSent: Instant
    private(set) var statistics = UDPConnectionStatistics()
    private let allocator = ByteBufferAllocator()
    /// The largest datagram to build: the configuration's, until path MTU discovery raises it.
    var datagramSize: Int

    init(configuration: UDPConfiguration, localID: UDPConnectionID, peerID: UDPConnectionID, now: Instant) {
        configuration.validate()
        self.configuration = configuration
        self.localID = localID
        self.peerID = peerID
        self.recovery = LossRecovery(
            initialRTT: configuration.initialRTT,
            maxAckDelay: configuration.maxAckDelay,
            maximumBackoff: configuration.idleTimeout / 3,
            now: now
        )
        self.acks = AckTracker(threshold: configuration.ackElicitingThreshold, maxAckDelay: configuration.maxAckDelay)
        self.idleDeadline = now.advanced(by: configuration.idleTimeout)
        self.lastAckElicitingSent = now
        self.datagramSize = configuration.maximumDatagramSize
    }

    /// Whether a packet with this header should be processed: from the known peer, not a duplicate.
    func shouldProcess(_ header: UDPPacketHeader) -> Bool {
        header.sourceID == self.peerID && !self.acks.isDuplicate(header.packetNumber)
    }

    /// Records a packet whose frames were all processed.
    mutating func onPacketProcessed(_ packet: UDPPacket, size: Int, at now: Instant) {
        self.acks.onPacketReceived(packet.header.packetNumber, isAckEliciting: packet.isAckEliciting, at: now)
        self.idleDeadline = now.advanced(by: self.configuration.idleTimeout)
        self.statistics.datagramsReceived += 1
        self.statistics.bytesReceived += size
    }

    /// Restarts the idle timer: the peer showed signs of life (e.g. a RETRY, which is not a packet of
    /// the connection and so is not otherwise recorded).
    mutating func restartIdleTimer(at now: Instant) {
        self.idleDeadline = now.advanced(by: self.configuration.idleTimeout)
    }

    /// Processes an ACK frame from the peer.
    mutating func onAck(
        _ frame: UDPAckFrame,
        handshakeConfirmed: Bool,
        at now: Instant
    ) throws(FerryUDPError)
        -> LossRecovery<Instant>.AckOutcome
    {
        let outcome = try self.recovery.onAck(
            frame,
            nextPacketNumber: self.nextPacketNumber,
            handshakeConfirmed: handshakeConfirmed,
            at: now
        )
        self.statistics.packetsLost += outcome.lost.count
        return outcome
    }

    /// Runs the loss-detection timer: the packets found lost, or `nil` after a probe timeout.
    mutating func onRecoveryTimeout(at now: Instant) -> [SentPacket<Instant>]? {
        let lost = self.recovery.onTimeout(at: now)
        if let lost {
            self.statistics.packetsLost += lost.count
        } else {
            self.statistics.probeTimeouts += 1
        }
        return lost
    }

    /// Starts a packet of the given type to the peer, numbered with the next packet number.
    func makeBuilder(type: UDPPacketType = .transfer, token: [UInt8] = []) -> UDPPacketBuilder {
        UDPPacketBuilder(
            header: self.header(type: type, token: token),
            limit: self.datagramSize,
            allocator: self.allocator
        )
    }

    /// Starts a TRANSFER packet at the end of `buffer`, which is moved into the builder (and left
    /// empty) until ``finish(_:at:)`` or ``UDPPacketBuilder/abandon()`` gives it back. `limit`
    /// overrides the datagram size (for a path MTU probe).
    func makeBuilder(appendingTo buffer: inout ByteBuffer, limit: Int? = nil) -> UDPPacketBuilder {
        UDPPacketBuilder(
            header: self.header(type: .transfer, token: []),
            limit: limit ?? self.datagramSize,
            appendingTo: &buffer
        )
    }

    private func header(type: UDPPacketType, token: [UInt8]) -> UDPPacketHeader {
        UDPPacketHeader(
            type: type,
            destinationID: type == .initial ? .unset : self.peerID,
            sourceID: self.localID,
            token: token,
            packetNumber: self.nextPacketNumber
        )
    }

    /// Adds an ACK frame to `builder` if one is owed (or `force`d and anything was received).
    mutating func appendAck(to builder: inout UDPPacketBuilder, force: Bool = false, at now: Instant) {
        let rangeCount = min(self.acks.received.rangeCount, UDPWireLimits.maximumAckRanges)
        guard self.acks.isPending || force, rangeCount > 0,
            UDPAckFrame.encodedLength(rangeCount: rangeCount) <= builder.remaining,
            let frame = self.acks.makeFrame(at: now)
        else {
            return
        }
        builder.append(.ack(frame))
    }

    /// Seals a packet: registers it with loss recovery and returns the builder's buffer (the datagram,
    /// after any datagrams the buffer held before).
    mutating func finish(_ builder: UDPPacketBuilder, at now: Instant) -> ByteBuffer {
        precondition(builder.packetNumber == self.nextPacketNumber)
        self.nextPacketNumber += 1
        let size = builder.size
        self.recovery.onPacketSent(
            packetNumber: builder.packetNumber,
            size: size,
            isAckEliciting: builder.isAckEliciting,
            frames: builder.sentFrames,
            at: now
        )
        if builder.isAckEliciting {
            self.lastAckElicitingSent = now
            if self.probesToSend > 0 {
                self.probesToSend -= 1
            }
        }
        self.statistics.datagramsSent += 1
        self.statistics.bytesSent += size
        return builder.buffer
    }

    /// Counts STREAM bytes sent again.
    mutating func countRetransmission(bytes: Int) {
        self.statistics.streamBytesRetransmitted += bytes
    }

    /// The statistics with the current RTT estimates filled in.
    func currentStatistics(congestionWindow: Int? = nil) -> UDPConnectionStatistics {
        var statistics = self.statistics
        statistics.smoothedRTT = self.recovery.rtt.smoothed
        statistics.minimumRTT = self.recovery.rtt.minimum
        statistics.bytesInFlight = self.recovery.bytesInFlight
        statistics.congestionWindow = congestionWindow
        statistics.datagramSize = self.datagramSize
        return statistics
    }
}

/// Counters of one connection, for logs and benchmarks.
public struct UDPConnectionStatistics: Hashable, Sendable {
    /// Datagrams sent.
    public var datagramsSent = 0
    /// UDP payload bytes sent.
    public var bytesSent = 0
    /// Datagrams received and processed.
    public var datagramsReceived = 0
    /// UDP payload bytes received and processed.
    public var bytesReceived = 0
    /// Packets declared lost.
    public var packetsLost = 0
    /// Probe timeouts that fired.
    public var probeTimeouts = 0
    /// STREAM bytes sent more than once.
    public var streamBytesRetransmitted = 0
    /// The smoothed RTT.
    public var smoothedRTT: Duration = .zero
    /// The minimum RTT.
    public var minimumRTT: Duration = .zero
    /// Bytes in flight.
    public var bytesInFlight = 0
    /// The congestion window (sender only).
    public var congestionWindow: Int?
    /// The largest datagram in use (raised by path MTU discovery).
    public var datagramSize = 0

    /// All counters at zero.
    public init() {}
}

/// What a sent packet carried that may need sending again if the packet is lost.
enum SentFrame: Hashable, Sendable {
    /// A PING (never retransmitted as such).
    case ping
    /// The client's REQUEST (and the INITIAL packet around it).
    case request
    /// The server's RESPONSE.
    case response
    /// A MAX_DATA credit update (the latest value is resent).
    case maxData
    /// The receiver's DONE.
    case done
    /// File bytes.
    case stream(Range<UInt64>)
}

/// A packet in flight, remembered until it is acknowledged or declared lost (RFC 9002 §A.1.1).
struct SentPacket<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The packet number.
    let packetNumber: UInt64
    /// When the packet was sent.
    let timeSent: Instant
    /// The datagram's size in bytes.
    let size: Int
    /// Whether the packet holds an ack-eliciting frame; only those count in flight.
    let isAckEliciting: Bool
    /// What to resend on loss.
    let frames: [SentFrame]
    /// The delivery-rate state when the packet was sent.
    let rateState: DeliveryRateEstimator<Instant>.PacketState
}

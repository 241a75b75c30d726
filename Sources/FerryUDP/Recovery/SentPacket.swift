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
    /// A path MTU probe: the packet was padded beyond the datagram size in use (never resent).
    case pathProbe
}

/// The ``SentFrame``s of one packet, stored inline.
///
/// Every packet in flight keeps one of these, so it must not cost an allocation: the frames other
/// than STREAM occur at most once per packet and are bits, and a full-size data packet carries one
/// STREAM range. Only a packet that packs several retransmitted pieces spills ranges into an array.
/// Iteration yields the flagged frames first, then the ranges in the order they were added (what a
/// packet carried is an unordered set to every consumer).
struct SentFrames: Sequence, ExpressibleByArrayLiteral, Hashable, Sendable {
    private var flags: UInt8 = 0
    private var firstStream: Range<UInt64>?
    private var moreStreams: [Range<UInt64>] = []

    init() {}

    init(arrayLiteral elements: SentFrame...) {
        for element in elements {
            self.append(element)
        }
    }

    private static func flag(of frame: SentFrame) -> UInt8 {
        switch frame {
        case .ping: 1
        case .request: 2
        case .response: 4
        case .maxData: 8
        case .done: 16
        case .pathProbe: 32
        case .stream: 0
        }
    }

    private static let flagged: [SentFrame] = [.ping, .request, .response, .maxData, .done, .pathProbe]

    /// Whether no frame was recorded.
    var isEmpty: Bool {
        self.flags == 0 && self.firstStream == nil
    }

    /// Records a frame (a flagged frame recorded twice is kept once).
    mutating func append(_ frame: SentFrame) {
        guard case .stream(let range) = frame else {
            self.flags |= Self.flag(of: frame)
            return
        }
        if self.firstStream == nil {
            self.firstStream = range
        } else {
            self.moreStreams.append(range)
        }
    }

    /// Whether the packet carried `frame`.
    func contains(_ frame: SentFrame) -> Bool {
        guard case .stream(let range) = frame else {
            return self.flags & Self.flag(of: frame) != 0
        }
        return self.firstStream == range || self.moreStreams.contains(range)
    }

    struct Iterator: IteratorProtocol {
        fileprivate let frames: SentFrames
        fileprivate var position = 0

        mutating func next() -> SentFrame? {
            while self.position < SentFrames.flagged.count {
                let frame = SentFrames.flagged[self.position]
                self.position += 1
                if self.frames.flags & SentFrames.flag(of: frame) != 0 {
                    return frame
                }
            }
            let index = self.position - SentFrames.flagged.count
            self.position += 1
            if index == 0 {
                if let first = self.frames.firstStream {
                    return .stream(first)
                }
                return nil
            }
            return index - 1 < self.frames.moreStreams.count ? .stream(self.frames.moreStreams[index - 1]) : nil
        }
    }

    func makeIterator() -> Iterator {
        Iterator(frames: self)
    }
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
    let frames: SentFrames
    /// The delivery-rate state when the packet was sent.
    let rateState: DeliveryRateEstimator<Instant>.PacketState
}

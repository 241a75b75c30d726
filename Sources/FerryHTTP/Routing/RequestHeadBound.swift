/// Counts the bytes of a request head until its blank line, so that a head larger than the bound is
/// refused (`431`) before the HTTP decoder, which has no size limit of its own, buffers it.
///
/// The HTTP side serves one request per connection (GET and HEAD carry no body), so the bound counts
/// from the first byte of the connection. The blank line may arrive split across reads.
public struct RequestHeadBound: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        /// The head has not ended yet, and is within the bound.
        case incomplete
        /// The head ended (`\r\n\r\n`, or `\n\n` from a lax client) within the bound.
        case complete
        /// `maximumBytes` passed without the head ending.
        case tooLarge
    }

    public let maximumBytes: Int
    private(set) public var seen = 0
    /// The last bytes seen, to find a blank line split across reads (newest in the low byte).
    private var tail: UInt32 = 0
    private(set) public var verdict = Verdict.incomplete

    public init(maximumBytes: Int) {
        self.maximumBytes = maximumBytes
    }

    /// Feeds the next bytes of the connection; once `complete` or `tooLarge` the verdict stays.
    public mutating func consume<Bytes: Sequence>(_ bytes: Bytes) -> Verdict where Bytes.Element == UInt8 {
        guard verdict == .incomplete else { return verdict }
        for byte in bytes {
            seen += 1
            tail = (tail << 8) | UInt32(byte)
            if tail == 0x0D0A_0D0A || tail & 0xFFFF == 0x0A0A {
                verdict = .complete
                return verdict
            }
            if seen >= maximumBytes {
                verdict = .tooLarge
                return verdict
            }
        }
        return verdict
    }
}

/// Size limits and magic numbers of Ferry's UDP wire format, in one place.
///
/// Every decoder checks its input against these before trusting a length or a count.
public enum UDPWireLimits {
    /// The first byte of every Ferry UDP datagram: protocol identity and version 1.
    /// Datagrams starting with anything else are dropped before any other parsing.
    public static let magic: UInt8 = 0xF1

    /// The smallest UDP payload an INITIAL packet may have. Clients pad to it; servers drop shorter
    /// INITIALs, which bounds what an unvalidated address can make the server send.
    public static let minimumInitialDatagramSize = 1200

    /// The default maximum UDP payload, header included (safe on any IPv6 path).
    public static let defaultMaximumDatagramSize = 1200

    /// The largest UDP payload the protocol ever produces or accepts (the IPv4 UDP maximum).
    public static let maximumDatagramSize = 65_507

    /// The most bytes a RETRY token (cookie) may have.
    public static let maximumTokenLength = 64

    /// The most bytes of UTF-8 a requested file name may have.
    public static let maximumNameLength = 512

    /// The most bytes of UTF-8 a CLOSE reason may have.
    public static let maximumReasonLength = 128

    /// The most ACK ranges one ACK frame may carry.
    public static let maximumAckRanges = 32

    /// The length of a SHA-256 digest written as lowercase hexadecimal ASCII.
    public static let sha256HexLength = 64

    /// The end offset in a REQUEST that means "to the end of the file".
    public static let toEndOfFile = UInt64.max
}

/// An error of Ferry's reliable UDP protocol, identified by a stable numeric ``Code``.
///
/// The code travels in CLOSE frames, so its values are part of the wire format and never change
/// meaning. Two errors are equal when their codes are equal; the ``reason`` is diagnostic text only.
///
/// | Code     | Name                 | Meaning                                                              |
/// |----------|----------------------|----------------------------------------------------------------------|
/// | `0x0000` | `noError`            | The transfer completed; sent by the sender in answer to DONE.        |
/// | `0x0001` | `internalError`      | The peer hit a bug or an impossible state.                           |
/// | `0x0002` | `protocolViolation`  | A well-formed frame arrived where the protocol forbids it.           |
/// | `0x0003` | `frameEncodingError` | A frame could not be decoded (truncated, bad length, bad ranges).    |
/// | `0x0004` | `flowControlError`   | Data arrived beyond the credit the receiver advertised.              |
/// | `0x0005` | `finalOffsetError`   | Data or DONE disagrees with the range announced in RESPONSE.         |
/// | `0x0006` | `idleTimeout`        | Nothing arrived from the peer for the idle timeout. Local only.      |
/// | `0x0007` | `cancelled`          | The application ended the transfer.                                  |
/// | `0x0100` | `notFound`           | The server has no file of that name.                                 |
/// | `0x0101` | `badName`            | The requested name is not acceptable to the server.                  |
/// | `0x0102` | `badRange`           | The requested start/end offsets do not fit the file.                 |
/// | `0x0103` | `busy`               | The server already serves its maximum number of transfers.           |
/// | `0x0104` | `ioError`            | The server could not read the file, or the client could not store it.|
///
/// Codes `0x0000`–`0x00FF` are transport errors, `0x0100`–`0x01FF` file errors; an unknown code
/// received from a peer is kept as is.
public struct FerryUDPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stable numeric identity of a ``FerryUDPError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The value carried on the wire.
        public let rawValue: UInt16

        /// Wraps a raw code, known or not.
        public init(rawValue: UInt16) {
            self.rawValue = rawValue
        }

        /// The transfer completed; sent by the sender in answer to DONE.
        public static let noError = Code(rawValue: 0x0000)
        /// The peer hit a bug or an impossible state.
        public static let internalError = Code(rawValue: 0x0001)
        /// A well-formed frame arrived where the protocol forbids it.
        public static let protocolViolation = Code(rawValue: 0x0002)
        /// A frame could not be decoded.
        public static let frameEncodingError = Code(rawValue: 0x0003)
        /// Data arrived beyond the receiver's advertised credit.
        public static let flowControlError = Code(rawValue: 0x0004)
        /// Data or DONE disagrees with the announced range.
        public static let finalOffsetError = Code(rawValue: 0x0005)
        /// Nothing arrived from the peer for the idle timeout (never sent on the wire).
        public static let idleTimeout = Code(rawValue: 0x0006)
        /// The application ended the transfer.
        public static let cancelled = Code(rawValue: 0x0007)
        /// The server has no file of that name.
        public static let notFound = Code(rawValue: 0x0100)
        /// The requested name is not acceptable.
        public static let badName = Code(rawValue: 0x0101)
        /// The requested offsets do not fit the file.
        public static let badRange = Code(rawValue: 0x0102)
        /// The server serves its maximum number of transfers.
        public static let busy = Code(rawValue: 0x0103)
        /// Reading or storing the file failed.
        public static let ioError = Code(rawValue: 0x0104)

        public var description: String {
            switch self {
            case .noError: "noError"
            case .internalError: "internalError"
            case .protocolViolation: "protocolViolation"
            case .frameEncodingError: "frameEncodingError"
            case .flowControlError: "flowControlError"
            case .finalOffsetError: "finalOffsetError"
            case .idleTimeout: "idleTimeout"
            case .cancelled: "cancelled"
            case .notFound: "notFound"
            case .badName: "badName"
            case .badRange: "badRange"
            case .busy: "busy"
            case .ioError: "ioError"
            default: "code(0x\(String(self.rawValue, radix: 16)))"
            }
        }
    }

    /// What went wrong, as a stable code.
    public let code: Code
    /// Human-readable detail for logs; not compared.
    public let reason: String

    /// Creates an error with a code and an optional diagnostic reason.
    public init(_ code: Code, reason: String = "") {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: FerryUDPError, rhs: FerryUDPError) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }

    public var description: String {
        self.reason.isEmpty ? "FerryUDPError(\(self.code))" : "FerryUDPError(\(self.code): \(self.reason))"
    }

    static func malformed(_ reason: String) -> FerryUDPError {
        FerryUDPError(.frameEncodingError, reason: reason)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error of the peer: a stable code, and a sentence that says what happened and what to do.
public struct PeerError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure. Codes can grow; compare errors by code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Reading or writing a local file failed.
        public static let io = Code("io")
        /// The tracker could not be reached, or its connection was lost.
        public static let trackerUnavailable = Code("tracker_unavailable")
        /// The tracker answered something that does not follow the protocol.
        public static let trackerProtocol = Code("tracker_protocol")
        /// The share folder is missing or not a folder.
        public static let badShare = Code("bad_share")
        /// An address or option was not usable.
        public static let badConfiguration = Code("bad_configuration")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func io(_ what: String, errno code: Int32) -> PeerError {
        PeerError(.io, "\(what): \(String(cString: strerror(code)))")
    }

    /// A file server could not bind its address: why, in words, and what to do next.
    static func cannotServe(_ what: String, host: String, port: Int, _ error: any Error) -> PeerError {
        PeerError(.badConfiguration, "cannot serve \(what) on \(host):\(port): \(describe(connectError: error, timeout: .zero)); "
            + "is another peer using that address? Pass --host or --port")
    }
}

extension PeerError: Equatable {
    public static func == (lhs: PeerError, rhs: PeerError) -> Bool { lhs.code == rhs.code }
}

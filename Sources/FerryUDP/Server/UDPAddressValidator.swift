import Crypto

/// Mints and checks the stateless address-validation cookies carried in RETRY tokens.
///
/// ```
///  0..7                          8..39
/// +-----------------------------+------------------------------------------------------+
/// | timestamp u64, microseconds | HMAC-SHA256(key, "ferry-udp-retry-v2" ‖ timestamp ‖   |
/// | since the server started    | client connection ID u64 ‖ address bytes)             |
/// +-----------------------------+------------------------------------------------------+
/// ```
///
/// Only the holder of the server's key can produce a cookie, and a cookie is valid only for the
/// address and client connection ID it was minted for, for ``lifetime``: a client presenting one
/// proves it receives packets at its claimed address. The server keeps no state per cookie.
///
/// The timestamp is fine-grained because the time from minting (the RETRY left) to validation
/// (the INITIAL carrying the cookie arrived) is one round trip: the server's first RTT sample,
/// before it sends any data. Without it, the server would wait for a lost first ACK for a probe
/// timeout computed from the 333 ms initial RTT — about a second.
struct UDPAddressValidator<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The size of a cookie.
    static var tokenLength: Int { 8 + 32 }

    private static var domain: [UInt8] { Array("ferry-udp-retry-v2".utf8) }

    private let key: SymmetricKey
    private let epoch: Instant
    /// How long a cookie stays valid.
    let lifetime: Duration

    init(key: SymmetricKey, epoch: Instant, lifetime: Duration) {
        self.key = key
        self.epoch = epoch
        self.lifetime = lifetime
    }

    /// A cookie for `address` and `clientID`, minted at `now`.
    func makeToken(addressBytes: [UInt8], clientID: UDPConnectionID, at now: Instant) -> [UInt8] {
        let timestamp = self.timestamp(at: now)
        return Self.bytes(of: timestamp)
            + self.mac(timestamp: timestamp, addressBytes: addressBytes, clientID: clientID)
    }

    /// How long ago `token` was minted, if it is a cookie this server minted for `address` and
    /// `clientID` within the lifetime; `nil` otherwise.
    func validate(token: [UInt8], addressBytes: [UInt8], clientID: UDPConnectionID, at now: Instant) -> Duration? {
        guard token.count == Self.tokenLength else {
            return nil
        }
        let timestamp = token.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let current = self.timestamp(at: now)
        guard timestamp <= current else {
            return nil
        }
        let age = Duration.microseconds(Int64(clamping: current - timestamp))
        guard age <= self.lifetime else {
            return nil
        }
        let authenticated = Self.authenticatedBytes(
            timestamp: timestamp,
            addressBytes: addressBytes,
            clientID: clientID
        )
        guard HMAC<SHA256>.isValidAuthenticationCode(token.suffix(32), authenticating: authenticated, using: self.key)
        else {
            return nil
        }
        return age
    }

    private func mac(timestamp: UInt64, addressBytes: [UInt8], clientID: UDPConnectionID) -> [UInt8] {
        let authenticated = Self.authenticatedBytes(
            timestamp: timestamp,
            addressBytes: addressBytes,
            clientID: clientID
        )
        return Array(HMAC<SHA256>.authenticationCode(for: authenticated, using: self.key))
    }

    private static func authenticatedBytes(
        timestamp: UInt64,
        addressBytes: [UInt8],
        clientID: UDPConnectionID
    ) -> [UInt8] {
        Self.domain + Self.bytes(of: timestamp) + Self.bytes(of: clientID.rawValue) + addressBytes
    }

    /// Microseconds since the validator's epoch.
    private func timestamp(at now: Instant) -> UInt64 {
        let elapsed = self.epoch.duration(to: now)
        let microseconds = elapsed.components.seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !microseconds.overflow else {
            return UInt64.max
        }
        return UInt64(clamping: max(microseconds.partialValue + elapsed.components.attoseconds / 1_000_000_000_000, 0))
    }

    private static func bytes<T: FixedWidthInteger>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}

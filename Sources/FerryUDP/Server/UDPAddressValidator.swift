import Crypto

/// Mints and checks the stateless address-validation cookies carried in RETRY tokens.
///
/// ```
///  0..3                    4..35
/// +-----------------------+------------------------------------------------------------+
/// | timestamp u32, seconds | HMAC-SHA256(key, "ferry-udp-retry-v1" ‖ timestamp ‖ client   |
/// | since the server start | connection ID u64 ‖ address bytes)                          |
/// +-----------------------+------------------------------------------------------------+
/// ```
///
/// Only the holder of the server's key can produce a cookie, and a cookie is valid only for the
/// address and client connection ID it was minted for, for ``lifetime``: a client presenting one
/// proves it receives packets at its claimed address. The server keeps no state per cookie.
struct UDPAddressValidator<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The size of a cookie.
    static var tokenLength: Int { 4 + 32 }

    private static var domain: [UInt8] { Array("ferry-udp-retry-v1".utf8) }

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

    /// Whether `token` is a cookie this server minted for `address` and `clientID` within the lifetime.
    func validate(token: [UInt8], addressBytes: [UInt8], clientID: UDPConnectionID, at now: Instant) -> Bool {
        guard token.count == Self.tokenLength else {
            return false
        }
        let timestamp = token.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let current = self.timestamp(at: now)
        guard timestamp <= current, Duration.seconds(Int64(current - timestamp)) <= self.lifetime else {
            return false
        }
        let authenticated = Self.authenticatedBytes(
            timestamp: timestamp,
            addressBytes: addressBytes,
            clientID: clientID
        )
        return HMAC<SHA256>.isValidAuthenticationCode(token.suffix(32), authenticating: authenticated, using: self.key)
    }

    private func mac(timestamp: UInt32, addressBytes: [UInt8], clientID: UDPConnectionID) -> [UInt8] {
        let authenticated = Self.authenticatedBytes(
            timestamp: timestamp,
            addressBytes: addressBytes,
            clientID: clientID
        )
        return Array(HMAC<SHA256>.authenticationCode(for: authenticated, using: self.key))
    }

    private static func authenticatedBytes(
        timestamp: UInt32,
        addressBytes: [UInt8],
        clientID: UDPConnectionID
    ) -> [UInt8] {
        Self.domain + Self.bytes(of: timestamp) + Self.bytes(of: clientID.rawValue) + addressBytes
    }

    /// Whole seconds since the validator's epoch (a coarse clock is all a cookie needs).
    private func timestamp(at now: Instant) -> UInt32 {
        let seconds = self.epoch.duration(to: now).components.seconds
        return UInt32(clamping: max(seconds, 0))
    }

    private static func bytes<T: FixedWidthInteger>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}

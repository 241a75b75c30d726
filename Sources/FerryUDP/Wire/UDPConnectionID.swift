/// A 64-bit connection identifier, chosen at random by the endpoint that receives packets under it.
///
/// Every packet names its destination's connection ID, so many transfers share one UDP port: the
/// server demultiplexes on the ID it chose, the client on its own. Zero is reserved for "not yet
/// known" (the destination of a client's INITIAL packets, the source of a stateless reply).
public struct UDPConnectionID: Hashable, Sendable, CustomStringConvertible {
    /// The identifier as sent on the wire (big-endian).
    public let rawValue: UInt64

    /// Wraps a raw identifier.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// The reserved "unknown" identifier.
    public static let unset = UDPConnectionID(rawValue: 0)

    /// Draws a nonzero identifier from `generator`.
    public static func random(using generator: inout some RandomNumberGenerator) -> UDPConnectionID {
        UDPConnectionID(rawValue: UInt64.random(in: 1...UInt64.max, using: &generator))
    }

    /// Draws a nonzero identifier from the system's secure generator.
    public static func random() -> UDPConnectionID {
        var generator = SystemRandomNumberGenerator()
        return Self.random(using: &generator)
    }

    public var description: String {
        let hex = String(self.rawValue, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

import NIOConcurrencyHelpers

/// A number of bytes shared by many holders (all connections' pending `UPDATE`s, say): a holder takes
/// bytes before it keeps them and gives them back when it lets go, so the sum never passes `limit`.
public final class ByteBudget: Sendable {
    public let limit: Int
    private let used = NIOLockedValueBox(0)

    public init(limit: Int) {
        precondition(limit >= 0, "a budget cannot be negative")
        self.limit = limit
    }

    /// Bytes taken and not yet given back.
    public var inUse: Int { used.withLockedValue { $0 } }

    /// Takes `bytes` if they fit; `false` (and nothing taken) otherwise.
    public func take(_ bytes: Int) -> Bool {
        used.withLockedValue { used in
            guard bytes <= limit - used else { return false }
            used += bytes
            return true
        }
    }

    /// Gives back `bytes` taken earlier.
    public func give(_ bytes: Int) {
        used.withLockedValue { used in
            precondition(bytes <= used, "gave back more bytes than were taken")
            used -= bytes
        }
    }
}

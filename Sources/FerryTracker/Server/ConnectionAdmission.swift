import FerryWire

/// Who may open one more tracker connection: a cap in all, a cap per IP address, and slots kept for
/// addresses that hold few connections. A plain value: the server keeps one behind a lock.
///
/// Once fewer than ``Limits/reservedForNewAddresses`` slots are free, an address that already holds
/// ``Limits/perAddressWhenCrowded`` connections is refused, so that one address (or a few) filling the
/// tracker still leaves room for everyone else.
public struct ConnectionAdmission: Sendable, Equatable {
    public struct Limits: Sendable, Equatable {
        public var total: Int
        public var perAddress: Int
        public var reservedForNewAddresses: Int
        public var perAddressWhenCrowded: Int

        public init(
            total: Int = TrackerLimits.maximumConnections,
            perAddress: Int = TrackerLimits.maximumConnectionsPerAddress,
            reservedForNewAddresses: Int = TrackerLimits.reservedConnectionsForNewAddresses,
            perAddressWhenCrowded: Int = TrackerLimits.maximumConnectionsPerAddressWhenCrowded
        ) {
            self.total = total
            self.perAddress = perAddress
            self.reservedForNewAddresses = reservedForNewAddresses
            self.perAddressWhenCrowded = perAddressWhenCrowded
        }
    }

    /// Why a connection was refused; `text` is the `421` line's text.
    public enum Refusal: Sendable, Equatable {
        case full
        case addressOverCap(Int)
        case crowded(Int)

        public var text: String {
            switch self {
            case .full: return "too many connections; try again later"
            case .addressOverCap(let cap): return "too many connections from your address (at most \(cap)); try again later"
            case .crowded(let cap):
                return "tracker nearly full: at most \(cap) connections per address now; try again later"
            }
        }
    }

    public let limits: Limits
    public private(set) var total = 0
    private var perAddress: [String: Int] = [:]

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Connections open from `address`.
    public func count(for address: String) -> Int { perAddress[address, default: 0] }

    /// Addresses with at least one open connection (nothing is kept for an address with none).
    public var addressCount: Int { perAddress.count }

    /// Counts one more connection from `address`, or says why not.
    public mutating func admit(_ address: String) -> Refusal? {
        let held = perAddress[address, default: 0]
        guard total < limits.total else { return .full }
        guard held < limits.perAddress else { return .addressOverCap(limits.perAddress) }
        if limits.total - total <= limits.reservedForNewAddresses, held >= limits.perAddressWhenCrowded {
            return .crowded(limits.perAddressWhenCrowded)
        }
        perAddress[address] = held + 1
        total += 1
        return nil
    }

    /// Forgets one connection of `address` that ``admit(_:)`` counted.
    public mutating func release(_ address: String) {
        guard let held = perAddress[address] else { return }
        total -= 1
        perAddress[address] = held > 1 ? held - 1 : nil
    }
}

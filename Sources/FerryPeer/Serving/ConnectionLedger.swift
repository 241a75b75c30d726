/// The file servers' admission control: how many connections each client address holds, and how
/// many are held in all. A plain value, locked by its owner and tested without sockets.
///
/// A connection is admitted when both its address and the server are under their caps; it must be
/// ``release(_:)``d exactly once when it ends. Addresses are compared without the port, so one
/// machine's connections count together whatever ports they come from.
struct ConnectionLedger: Sendable {
    /// Why a connection was refused.
    enum Refusal: Hashable, Sendable {
        /// The address already holds ``ConnectionLedger/maximumPerAddress`` connections.
        case address(limit: Int)
        /// The server already holds ``ConnectionLedger/maximumTotal`` connections.
        case server(limit: Int)
    }

    let maximumPerAddress: Int
    let maximumTotal: Int
    private(set) var total = 0
    private var perAddress: [String: Int] = [:]

    init(maximumPerAddress: Int, maximumTotal: Int) {
        precondition(maximumPerAddress > 0 && maximumTotal > 0, "connection caps must be positive")
        self.maximumPerAddress = maximumPerAddress
        self.maximumTotal = maximumTotal
    }

    /// The number of connections `address` holds.
    func count(for address: String) -> Int {
        perAddress[address] ?? 0
    }

    /// The number of addresses holding at least one connection (bounded by ``maximumTotal``).
    var addressCount: Int { perAddress.count }

    /// Admits a connection from `address`, or says why not (then nothing is recorded).
    ///
    /// - Parameter overTotal: admit even at the total cap (the caller makes room by closing
    ///   another connection, whose release follows shortly); the per-address cap still holds.
    mutating func admit(_ address: String, overTotal: Bool = false) -> Refusal? {
        let held = perAddress[address] ?? 0
        guard held < maximumPerAddress else { return .address(limit: maximumPerAddress) }
        guard total < maximumTotal || overTotal else { return .server(limit: maximumTotal) }
        perAddress[address] = held + 1
        total += 1
        return nil
    }

    /// Records that an admitted connection from `address` ended.
    mutating func release(_ address: String) {
        guard let held = perAddress[address] else {
            assertionFailure("released a connection that was never admitted")
            return
        }
        perAddress[address] = held > 1 ? held - 1 : nil
        total -= 1
    }
}

/// Datagram packetization-layer path MTU discovery (DPLPMTUD, RFC 8899), reduced to what a bulk
/// sender needs: the largest datagram the path has carried.
///
/// A connection starts at its base size (1200 bytes, which any IPv6 path carries) and tries the
/// larger sizes of its ladder in ascending order, one probe in flight at a time: a PING padded to
/// the candidate size, sent with the IP "don't fragment" bit (the driver's socket option), so that a
/// probe too large for the path is dropped rather than fragmented. An acknowledged probe raises the
/// datagram size; ``maximumProbes`` lost probes of one size end the search at the last size that
/// worked. Lost probes say nothing about congestion (RFC 9000 §14.4), and the sender keeps them away
/// from its congestion controller.
///
/// If the path shrinks later (a route change into a tunnel), full-size datagrams vanish and only
/// probe timeouts fire: ``onPersistentProbeTimeouts()`` then falls back to the base size for the
/// rest of the connection — the black-hole detection of RFC 8899 §4.3.
///
/// A pure value: the sender state machine asks ``sizeToProbe`` when it may send, reports with
/// ``onProbeSent()``, ``onProbeAcknowledged()`` and ``onProbeLost()``, and sends at ``datagramSize``.
struct PathMTUDiscovery: Sendable {
    /// Lost probes of one size before the search stops (MAX_PROBES in RFC 8899).
    static var maximumProbes: Int { 3 }

    /// The size every path carries; never lowered.
    let baseSize: Int
    /// The candidate sizes above ``baseSize``, ascending.
    let ladder: [Int]
    /// The largest size confirmed so far: what full datagrams are built to.
    private(set) var datagramSize: Int
    private var nextRung = 0
    private var lostProbes = 0
    private var probeInFlight = false
    private var searching: Bool

    /// - Parameters:
    ///   - baseSize: the size to start from.
    ///   - ladder: larger sizes to try; smaller ones, duplicates and order do not matter.
    init(baseSize: Int, ladder: [Int]) {
        self.baseSize = baseSize
        self.ladder = Set(ladder.filter { $0 > baseSize }).sorted()
        self.datagramSize = baseSize
        self.searching = !self.ladder.isEmpty
    }

    /// The size of the probe to send now, or `nil` when none is due (one is in flight, or the search
    /// is over).
    var sizeToProbe: Int? {
        guard self.searching, !self.probeInFlight else {
            return nil
        }
        return self.ladder[self.nextRung]
    }

    /// Whether the search ended (every size tried, or given up).
    var isComplete: Bool {
        !self.searching
    }

    /// A probe of ``sizeToProbe`` left.
    mutating func onProbeSent() {
        self.probeInFlight = true
    }

    /// The probe in flight was acknowledged: the path carries its size.
    mutating func onProbeAcknowledged() {
        guard self.searching, self.probeInFlight else {
            return
        }
        self.probeInFlight = false
        self.datagramSize = self.ladder[self.nextRung]
        self.lostProbes = 0
        self.nextRung += 1
        self.searching = self.nextRung < self.ladder.count
    }

    /// The probe in flight was declared lost.
    mutating func onProbeLost() {
        guard self.searching, self.probeInFlight else {
            return
        }
        self.probeInFlight = false
        self.lostProbes += 1
        if self.lostProbes >= Self.maximumProbes {
            self.searching = false
        }
    }

    /// Probe timeouts keep firing without an acknowledgement: if datagrams above the base size are in
    /// use, the path may have stopped carrying them. Falls back to the base size and stops
    /// searching; returns whether the size changed.
    mutating func onPersistentProbeTimeouts() -> Bool {
        self.searching = false
        self.probeInFlight = false
        guard self.datagramSize > self.baseSize else {
            return false
        }
        self.datagramSize = self.baseSize
        return true
    }
}

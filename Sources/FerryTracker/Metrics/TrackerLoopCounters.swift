import NIOCore

/// The request counts of the connections of one event loop: plain integers, touched only on that
/// loop, so counting a lookup is an add to memory the loop already owns (no lock, no atomic, no
/// shared cache line). ``TrackerMetrics`` reads them at scrape time on the loop itself.
final class TrackerLoopCounters: @unchecked Sendable {
    // @unchecked: every field is read and written on `loop` only (the scrape submits to it).
    let loop: any EventLoop
    /// `SEND` lines answered on the loop (``TrackerConnectionHandler``'s fast path).
    var lookups = 0
    /// `PING` lines answered on the loop.
    var pings = 0
    /// Every other request, by verb and the status code of its answer (0: no answer, such as the
    /// `FILE` lines of an `UPDATE`).
    var others: [Key: Int] = [:]

    struct Key: Hashable, Sendable {
        var verb: TrackerVerb
        var code: UInt16
    }

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func count(_ verb: TrackerVerb, code: UInt16) {
        loop.preconditionInEventLoop()
        others[Key(verb: verb, code: code), default: 0] += 1
    }

    /// All counts so far (on the loop).
    func snapshot() -> [Key: Int] {
        var all = others
        if lookups > 0 { all[Key(verb: .send, code: 200), default: 0] += lookups }
        if pings > 0 { all[Key(verb: .ping, code: 200), default: 0] += pings }
        return all
    }
}

import FerryPeer
import FerryWire
import NIOConcurrencyHelpers

/// The downloads a peer's prompt started that are still running, kept from their events, for
/// `status`: each file's progress and the sources it is coming from.
final class DownloadBoard: Sendable {
    private struct Entry {
        var received: UInt64 = 0
        var size: UInt64 = 0
        var sources: [String] = []
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])
    private let order = NIOLockedValueBox<[String]>([])

    func record(_ event: DownloadEvent) {
        switch event {
        case .attemptStarted(let name, let peer, let transport, let offset, let size):
            update(name) { $0 = Entry(received: offset, size: size, sources: ["\(peer) (\(transport.rawValue))"]) }
        case .sources(let name, let active, let received, let size):
            update(name) {
                $0.sources = active
                $0.received = received
                $0.size = size
            }
        case .progress(let name, let received, let size):
            update(name) {
                $0.received = received
                $0.size = size
            }
        case .attemptFailed:
            break
        case .finished(let outcome):
            entries.withLockedValue { $0[outcome.name] = nil }
            order.withLockedValue { $0.removeAll { $0 == outcome.name } }
        }
    }

    /// One line per running download, or nothing.
    var lines: [String] {
        let (entries, order) = (entries.withLockedValue { $0 }, order.withLockedValue { $0 })
        return order.compactMap { name in
            guard let entry = entries[name] else { return nil }
            let percent = entry.size > 0 ? Int(Double(entry.received) / Double(entry.size) * 100) : 0
            let from = entry.sources.isEmpty ? "waiting for a source" : "from " + entry.sources.joined(separator: ", ")
            return "downloading \(LineScanner.quote(TrackerReplyLine.printable(name))): \(percent)% of \(ByteCount.format(entry.size)) \(from)"
        }
    }

    private func update(_ name: String, _ change: (inout Entry) -> Void) {
        let isNew = entries.withLockedValue { entries -> Bool in
            let isNew = entries[name] == nil
            change(&entries[name, default: Entry()])
            return isNew
        }
        if isNew { order.withLockedValue { $0.append(name) } }
    }
}

import FerryTestSupport
import FerryTracker
import FerryWire
import Foundation
import Logging
import NIOCore

/// A logger that prints nothing.
let quietLogger = Logger(label: "ferry.tests", factory: { _ in SwiftLogNoOpLogHandler() })

let hexA = String(repeating: "a", count: 64)
let hexB = String(repeating: "b", count: 64)
let hexC = String(repeating: "c", count: 64)
let digestA = ContentDigest(hex: hexA)!
let digestB = ContentDigest(hex: hexB)!
let digestC = ContentDigest(hex: hexC)!

func fileName(_ raw: String) -> SharedFileName { SharedFileName(raw)! }

func entry(_ name: String, _ size: UInt64 = 12, _ digest: ContentDigest = digestA) -> SharedFileEntry {
    SharedFileEntry(name: fileName(name), size: size, digest: digest)
}

struct StoreDown: Error, CustomStringConvertible {
    var description: String { "the store is down" }
}

/// A `TrackerStore` in plain memory, written for these tests: fast enough for limit tests and
/// cut-everywhere loops, and a second implementation to hold `ListPattern.matches` to.
actor MemoryTrackerStore: TrackerStore {
    private struct Session {
        var host: String
        var tcpPort: UInt16
        var udpPort: UInt16
        var online = true
        var files: [SharedFileName: SharedFileEntry] = [:]
    }

    private var sessions: [Int64: Session] = [:]
    private var nextID: Int64 = 1
    private(set) var replaceCount = 0

    func markAllPeersOffline() {
        for id in sessions.keys { markOffline(id) }
    }

    func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) -> PeerID {
        for (id, session) in sessions where session.online && session.host == host && session.tcpPort == tcpPort {
            markOffline(id)
        }
        defer { nextID += 1 }
        sessions[nextID] = Session(host: host, tcpPort: tcpPort, udpPort: udpPort)
        return PeerID(rawValue: nextID)
    }

    func unregisterPeer(_ peer: PeerID) { markOffline(peer.rawValue) }

    func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) {
        replaceCount += 1
        sessions[peer.rawValue]?.files = Dictionary(files.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
    }

    func addFile(_ file: SharedFileEntry, to peer: PeerID) -> Bool {
        sessions[peer.rawValue]?.files.updateValue(file, forKey: file.name) == nil
    }

    func removeFile(named name: SharedFileName, from peer: PeerID) -> Bool {
        sessions[peer.rawValue]?.files.removeValue(forKey: name) != nil
    }

    func holderRows(for names: [SharedFileName]) -> [HolderRow] {
        let wanted = Set(names)
        return sessions.keys.sorted().flatMap { id -> [HolderRow] in
            let session = sessions[id]!
            guard session.online else { return [] }
            return session.files.values.filter { wanted.contains($0.name) }.sorted { $0.name < $1.name }.map {
                HolderRow(name: $0.name, size: $0.size, digest: $0.digest, root: $0.root,
                          holder: Holder(host: session.host, tcpPort: session.tcpPort, udpPort: session.udpPort))
            }
        }
    }

    func list(matching pattern: ListPattern, limit: Int) -> [ListEntry] {
        struct Key: Hashable { var name: String; var size: UInt64; var digest: ContentDigest }
        var counts: [Key: Int] = [:]
        for session in sessions.values where session.online {
            for file in session.files.values where pattern.matches(file.name.rawValue) {
                counts[Key(name: file.name.rawValue, size: file.size, digest: file.digest), default: 0] += 1
            }
        }
        return counts.map { ListEntry(name: $0.key.name, size: $0.key.size, digest: $0.key.digest, holderCount: $0.value) }
            .sorted { ($0.name, -$0.holderCount) < ($1.name, -$1.holderCount) }
            .prefix(limit).map { $0 }
    }

    private func markOffline(_ id: Int64) {
        sessions[id]?.online = false
        sessions[id]?.files = [:]
    }
}

/// A store that registers peers but fails everything else (or everything, with `failRegistration`).
struct FailingTrackerStore: TrackerStore {
    var failRegistration = false

    func markAllPeersOffline() throws { throw StoreDown() }
    func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) throws -> PeerID {
        if failRegistration { throw StoreDown() }
        return PeerID(rawValue: 1)
    }
    func unregisterPeer(_ peer: PeerID) throws { throw StoreDown() }
    func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) throws { throw StoreDown() }
    func addFile(_ file: SharedFileEntry, to peer: PeerID) throws -> Bool { throw StoreDown() }
    func removeFile(named name: SharedFileName, from peer: PeerID) throws -> Bool { throw StoreDown() }
    func holderRows(for names: [SharedFileName]) throws -> [HolderRow] { throw StoreDown() }
    func list(matching pattern: ListPattern, limit: Int) throws -> [ListEntry] { throw StoreDown() }
}

extension TrackerConversation {
    init(_ store: any TrackerStore, host: String = "10.0.0.1") {
        self.init(store: store, observedHost: host, logger: quietLogger)
    }

    /// Sends one line; returns the reply lines as text (`nil`: no reply).
    mutating func say(_ line: String) async -> [String]? {
        await handle(.line(line))?.lines.map(\.line)
    }

    /// Sends one line and expects a one-line reply.
    mutating func ask(_ line: String) async -> String? {
        guard let lines = await say(line), lines.count == 1 else { return nil }
        return lines[0]
    }

    /// Says HELLO and sends `files` with one UPDATE.
    mutating func share(_ files: [SharedFileEntry], tcpPort: UInt16 = 5555, udpPort: UInt16 = 0) async {
        if !isRegistered { _ = await say("HELLO \(tcpPort) \(udpPort)") }
        _ = await say("UPDATE \(files.count)")
        for file in files { _ = await say(TrackerRequest.file(file).line) }
    }
}

extension String {
    /// The Unicode scalars, for comparisons that must not treat canonically equivalent strings as equal.
    var scalarValues: [UInt32] { unicodeScalars.map(\.value) }
}

/// Feeds bytes to a `LineFrameDecoder` through NIO's single-step processor, as a channel would.
enum FrameCollector {
    /// The frames of `input` cut at `cuts` (sorted offsets), after the end of the stream.
    static func frames(of input: [UInt8], cutAt cuts: [Int], limit: Int) throws -> [LineFrame] {
        let processor = NIOSingleStepByteToMessageProcessor(LineFrameDecoder(maximumLineLength: limit))
        var frames: [LineFrame] = []
        var start = 0
        for cut in cuts + [input.count] {
            try processor.process(buffer: ByteBuffer(bytes: input[start..<cut])) { frames.append($0) }
            start = cut
        }
        try processor.finishProcessing(seenEOF: true) { frames.append($0) }
        return frames
    }
}

@testable import FerryPeer
import FerryTestSupport
import FerryUDP
import FerryWire
import Foundation
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Known SHA-256 values, from Python's hashlib.
enum Vectors {
    static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    static let ab = "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603"
    static let helloWorld = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    /// 3 MiB + 7 bytes of `i % 251`: more than one read chunk, not a multiple of it.
    static let pattern = "f578a61853ca2f4272dba551bd868420e22302fbb6d6dfc0cc80da1d2c7b779f"
    static let patternFirstMiB = "631b84027d6b9e52b539c4e8373622d23032dfadc64d60af87339c9037e4f769"
    static let patternFirstMiBPlusOne = "5769f52bc3eef28afa39c6fc68cadb7d0bd69812ae3a3d71452f519ec3c7aa56"
    static let patternCount = 3 * 1024 * 1024 + 7
    static var patternBytes: [UInt8] { (0..<patternCount).map { UInt8($0 % 251) } }
}

func sha(_ hex: String) -> ContentDigest { ContentDigest(hex: hex)! }

func fileName(_ raw: String) -> SharedFileName { SharedFileName(raw)! }

let quietLogger = Logger(label: "ferry.tests", factory: { _ in SwiftLogNoOpLogHandler() })

extension UDPConfiguration {
    /// The defaults, with the patience of ``Sanitizers/patience(_:)`` for a test that is not about
    /// timeouts: under a sanitizer, two more handshake retries (about 20 s of them instead of 5 s)
    /// and five times the idle timeout before a transfer calls the peer gone.
    static var patient: UDPConfiguration {
        var configuration = UDPConfiguration()
        configuration.idleTimeout = Sanitizers.patience(configuration.idleTimeout)
        configuration.maximumRetries += Sanitizers.scaled(0, sanitized: 2)
        return configuration
    }
}

extension PieceLayerFetcher {
    /// A fetcher whose connect and stall timeouts have the patience of ``Sanitizers/patience(_:)``.
    static func patient(localHost: String) -> PieceLayerFetcher {
        var fetcher = PieceLayerFetcher(localHost: localHost)
        fetcher.connectTimeout = fetcher.connectTimeout * Int64(Sanitizers.patienceFactor)
        fetcher.stallTimeout = fetcher.stallTimeout * Int64(Sanitizers.patienceFactor)
        return fetcher
    }
}

extension TemporaryFolder {
    /// The folder's real path (symlinks such as /tmp -> /private/tmp resolved).
    var realPath: String { Share.realPath(path)! }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, bytes: Array(text.utf8))
    }

    @discardableResult
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    func read(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path + "/" + name)))
    }

    func exists(_ name: String) -> Bool {
        var info = stat()
        return lstat(path + "/" + name, &info) == 0
    }

    func symlink(_ name: String, to destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path + "/" + name, withDestinationPath: destination)
    }

    func mkfifo(_ name: String) -> Bool {
        #if canImport(Glibc)
        Glibc.mkfifo(path + "/" + name, 0o644) == 0
        #else
        Darwin.mkfifo(path + "/" + name, 0o644) == 0
        #endif
    }

    func mkdir(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + name, withIntermediateDirectories: true)
    }

    /// Sets a file's modification time to a whole second, exactly.
    func setModified(_ name: String, secondsSince1970 seconds: Int) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(seconds))],
                                              ofItemAtPath: path + "/" + name)
    }

    /// Moves a file's modification time by `seconds`, so that a change is visible whatever the clock's
    /// resolution.
    func touch(_ name: String, secondsFromNow seconds: Double) throws {
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: seconds)],
                                              ofItemAtPath: path + "/" + name)
    }
}

/// A log handler that keeps every message, to check what is logged and how often.
final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var _messages: [(Logger.Level, String)] = []

    var messages: [(Logger.Level, String)] { lock.withLock { _messages } }

    func warnings() -> [String] { messages.filter { $0.0 == .warning }.map(\.1) }

    func clear() { lock.withLock { _messages = [] } }

    fileprivate func record(_ level: Logger.Level, _ message: String) { lock.withLock { _messages.append((level, message)) } }

    var logger: Logger {
        var logger = Logger(label: "ferry.tests.recorded", factory: { _ in Handler(recorder: self) })
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.record(event.level, event.message.description)
        }
    }
}

/// Hashes with the digest `hex` and a made-up tree that holds together for a file of `size` bytes (its
/// piece layer a repeated hash, its root computed from it): what tests plant in caches and snapshots.
func plantedHashes(_ hex: String, size: UInt64) -> FileHashes {
    let chunkSize = MerkleTree.chunkSize(forFileSize: size)
    let chunks = MerkleTree.chunkCount(fileSize: size, chunkSize: chunkSize)
    let made = MerkleHash(sha(hex))
    let layer = chunks > 1 ? Array(repeating: made, count: chunks) : []
    let root = chunks == 0 ? MerkleHash.zero : chunks == 1 ? made : MerkleTree.root(ofPieceLayer: layer, chunkSize: chunkSize)
    return FileHashes(digest: sha(hex), tree: MerkleTree(fileSize: size, chunkSize: chunkSize, root: root, pieceLayer: layer)!)
}

extension HashCache {
    /// Remembers `digest` with a planted tree (``plantedHashes(_:size:)``).
    func remember(_ digest: ContentDigest, path: String, size: UInt64, modified: Int64) throws {
        try remember(plantedHashes(digest.hex, size: size), path: path, size: size, modified: modified)
    }
}

import Crypto
import FerryUDP
import FerryWire
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves the files of a ``Share`` to the UDP protocol, with the same checks as the TCP file server:
/// the name rule, only files of the current snapshot, only while unchanged since they were hashed.
struct ShareUDPFileProvider: UDPFileProvider {
    let share: Share
    /// The read-ahead windows of all transfers together.
    var budget = ReadAheadBudget(limit: ReadAheadBudget.standardLimit)
    /// Where reads run (a thread pool) and who hears that one finished; `nil` reads synchronously.
    var reads: DiskReads?

    func lookup(name: String) -> Result<any UDPFileSource, FerryUDPError> {
        do {
            if let request = try PieceLayerRequest(udpName: name) { return layer(request) }
        } catch {
            return .failure(FerryUDPError(.badName, reason: "bad layer name"))
        }
        guard let name = SharedFileName(name) else { return .failure(FerryUDPError(.badName, reason: "bad name")) }
        guard let file = share.file(named: name), let real = Share.realPath(file.path),
              real.hasPrefix(share.realFolder + "/")
        else {
            return .failure(FerryUDPError(.notFound, reason: "not found"))
        }
        let fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return .failure(FerryUDPError(.notFound, reason: "not found")) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, UInt64(info.st_size) == file.size,
              Share.modificationTime(info) == file.modified
        else {
            close(fd)
            return .failure(FerryUDPError(.notFound, reason: "changed since it was hashed"))
        }
        return .success(PreadFileSource(fd: fd, size: file.size, sha256Hex: file.digest.hex, budget: budget, reads: reads))
    }
}

extension ShareUDPFileProvider {
    /// A piece layer, from the snapshot's tree: a ``PieceLayerDocument`` in memory (at most 64 KiB
    /// and 40 bytes), only for the content asked for.
    func layer(_ request: PieceLayerRequest) -> Result<any UDPFileSource, FerryUDPError> {
        guard let file = share.file(named: request.name), file.digest == request.digest else {
            return .failure(FerryUDPError(.notFound, reason: "not found"))
        }
        let document = PieceLayerDocument(chunkSize: file.tree.chunkSize, root: file.tree.root.digest,
                                          layer: file.tree.pieceLayerBytes)
        return .success(MemoryFileSource(bytes: document.bytes))
    }
}

/// Bytes in memory served as a file over UDP (a piece layer): everything is readable at once.
struct MemoryFileSource: UDPFileSource {
    let bytes: [UInt8]
    let sha256Hex: String

    init(bytes: [UInt8]) {
        self.bytes = bytes
        sha256Hex = ContentDigest(SHA256.hash(data: bytes)).hex
    }

    var size: UInt64 { UInt64(bytes.count) }

    func read(offset: UInt64, count: Int) throws -> ByteBuffer {
        ByteBuffer(bytes: bytes[Int(offset)..<(Int(offset) + count)])
    }
}

/// The memory all UDP transfers may use for read-ahead windows together: a transfer's window
/// grows only while the budget has room, so a crowd of transfers (or of half-open handshakes) costs
/// at most the budget however many there are.
final class ReadAheadBudget: Sendable {
    /// 64 MiB: 256 transfers at the largest window.
    static let standardLimit = 64 << 20

    let limit: Int
    private let used = NIOLockedValueBox(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// The bytes taken now.
    var inUse: Int { used.withLockedValue { $0 } }

    /// Takes `bytes` if they fit.
    func take(_ bytes: Int) -> Bool {
        used.withLockedValue { used in
            guard used + bytes <= limit else { return false }
            used += bytes
            return true
        }
    }

    func give(_ bytes: Int) {
        used.withLockedValue { $0 -= bytes }
    }
}

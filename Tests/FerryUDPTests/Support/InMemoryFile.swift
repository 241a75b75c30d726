import FerryTestSupport
import FerryUDP
import NIOCore

/// A file held in memory, with deterministic pseudo-random content.
struct InMemoryFile: UDPFileSource {
    let bytes: ByteBuffer
    let sha256Hex: String
    /// The file size.
    var size: UInt64 { UInt64(self.bytes.readableBytes) }

    init(size: Int, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        var remaining = size
        while remaining >= 8 {
            buffer.writeInteger(generator.next(), as: UInt64.self)
            remaining -= 8
        }
        for _ in 0..<remaining {
            buffer.writeInteger(UInt8(truncatingIfNeeded: generator.next()))
        }
        self.bytes = buffer
        // The protocol carries the digest opaquely; tests only check that it arrives unchanged.
        let hex = String(seed, radix: 16)
        self.sha256Hex = String(repeating: "0", count: 64 - hex.count) + hex
    }

    func read(offset: UInt64, count: Int) throws -> ByteBuffer {
        guard let slice = self.bytes.getSlice(at: Int(offset), length: count) else {
            throw FerryUDPError(.ioError, reason: "read past the end")
        }
        return slice
    }
}

/// A provider serving a fixed set of in-memory files.
struct InMemoryProvider: UDPFileProvider {
    var files: [String: InMemoryFile]

    func lookup(name: String) -> Result<any UDPFileSource, FerryUDPError> {
        guard !name.contains("/") else {
            return .failure(FerryUDPError(.badName, reason: "slashes are not allowed"))
        }
        guard let file = self.files[name] else {
            return .failure(FerryUDPError(.notFound, reason: "no such file"))
        }
        return .success(file)
    }
}

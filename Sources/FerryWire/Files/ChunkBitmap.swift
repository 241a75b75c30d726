/// One bit per chunk, in BitTorrent's order: chunk 0 is the high bit of the first byte. Spare bits
/// at the end are zero. The part record on disk (as hex) and the `HAVE` reply (as bytes) use it.
public enum ChunkBitmap {
    /// The bytes of a bitmap of `chunks.count` bits.
    public static func bytes(of chunks: [Bool]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: byteCount(chunks: chunks.count))
        for (index, set) in chunks.enumerated() where set {
            bytes[index / 8] |= 0x80 >> UInt8(index % 8)
        }
        return bytes
    }

    /// The bits of a bitmap of `count` chunks; `nil` when the length is not exactly
    /// ``byteCount(chunks:)`` or a spare bit is set.
    public static func chunks(from bytes: some Collection<UInt8>, count: Int) -> [Bool]? {
        guard count >= 0, bytes.count == byteCount(chunks: count) else { return nil }
        var chunks: [Bool] = []
        chunks.reserveCapacity(count)
        for (byteIndex, byte) in bytes.enumerated() {
            for bit in 0..<8 {
                let set = byte & (0x80 >> UInt8(bit)) != 0
                if byteIndex * 8 + bit < count {
                    chunks.append(set)
                } else if set {
                    return nil
                }
            }
        }
        return chunks
    }

    /// Bytes of a bitmap of `chunks` bits.
    public static func byteCount(chunks: Int) -> Int { (chunks + 7) / 8 }
}

@testable import FerryUDP
import FerryTestSupport
import NIOCore
import Testing

@Suite("UDPReceiveStream: held bytes cost what they are, not their receive buffer")
struct ReceiveMemoryTests {
    /// A receive buffer as a vectored read fills it: many datagrams in one 512 KiB allocation.
    static func readBuffer(datagrams: Int, size: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 512 << 10)
        for index in 0..<datagrams {
            buffer.writeRepeatingByte(UInt8(truncatingIfNeeded: index), count: size)
        }
        return buffer
    }

    @Test("out-of-order fragments, each a slice of its own 512 KiB read buffer, are held compactly")
    func outOfOrderFragmentsAreCopied() throws {
        var stream = UDPReceiveStream(start: 0, window: 16 << 20)
        // The first datagram is lost; every later one arrives in a read buffer of its own.
        for index in 1...100 {
            let buffer = Self.readBuffer(datagrams: 8, size: 1200)
            let slice = buffer.getSlice(at: 1200 * (index % 8), length: 1200)!
            #expect(try stream.insert(offset: UInt64(index * 1200), data: slice) == .accepted)
        }
        #expect(stream.bufferedBytes == 100 * 1200)
        // Before the copy: 100 × 512 KiB = 50 MiB pinned for 117 KiB of data.
        #expect(stream.heldStorageBytes <= 2 * stream.bufferedBytes)
        // A fragment filling a gap between held ones is copied too.
        var stream2 = UDPReceiveStream(start: 0, window: 1 << 20)
        _ = try stream2.insert(offset: 2400, data: ByteBuffer(repeating: 1, count: 1200))
        let big = Self.readBuffer(datagrams: 4, size: 1200)
        _ = try stream2.insert(offset: 1200, data: big.getSlice(at: 0, length: 2400)!)
        #expect(stream2.heldStorageBytes <= 4 * 1200)
    }

    @Test("in-order bytes stay a slice (no copy on the common path) and leave at once")
    func inOrderBytesAreNotCopied() throws {
        var stream = UDPReceiveStream(start: 0, window: 1 << 20)
        let buffer = Self.readBuffer(datagrams: 8, size: 1200)
        let slice = buffer.getSlice(at: 0, length: 1200)!
        #expect(try stream.insert(offset: 0, data: slice) == .accepted)
        #expect(stream.heldStorageBytes == buffer.storageCapacity)
        let ready = stream.popContiguous()
        #expect(ready.count == 1)
        #expect(stream.heldStorageBytes == 0)
    }

    @Test("a whole lossy transfer delivers every byte in order with compaction", arguments: [UInt64(1), 2, 3])
    func lossyReassembly(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let size = 600 * 1200
        var stream = UDPReceiveStream(start: 0, window: size)
        try stream.setEnd(UInt64(size))
        var pending = Array(0..<600)
        var delivered: UInt64 = 0
        var peak = 0
        while !pending.isEmpty {
            var lost: [Int] = []
            for index in pending {
                if Double.random(in: 0..<1, using: &generator) < 0.2 {
                    lost.append(index)
                    continue
                }
                let buffer = Self.readBuffer(datagrams: 8, size: 1200)
                _ = try stream.insert(offset: UInt64(index * 1200), data: buffer.getSlice(at: 1200 * (index % 8), length: 1200)!)
                peak = max(peak, stream.heldStorageBytes)
                for (offset, chunk) in stream.popContiguous() {
                    #expect(offset == delivered)
                    delivered += UInt64(chunk.readableBytes)
                }
            }
            pending = lost
        }
        #expect(delivered == UInt64(size))
        #expect(stream.isComplete)
        // Held bytes never cost more than twice what they are, plus one read buffer in flight.
        #expect(peak <= 2 * size + (512 << 10))
    }
}

@testable import FerryPeer
import FerryTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Hands a loop-bound object between a test and its event loop (used on the loop only).
struct OnLoop<Value>: @unchecked Sendable {
    let value: Value
}

@Suite("PreadFileSource: read-ahead windows grow on use, within one budget")
struct UDPFileSourceTests {
    static func open(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        return fd
    }

    @Test("a transfer that sends only its first datagrams costs 16 KiB; many cost at most the budget; reads stay right")
    func halfOpenTransfersCostLittle() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let path = try folder.write("f", bytes: bytes)
        let budget = ReadAheadBudget(limit: 64 << 10)
        var sources: [PreadFileSource] = []
        for _ in 0..<8 {
            let source = PreadFileSource(fd: try Self.open(path), size: UInt64(bytes.count), sha256Hex: "", budget: budget)
            var datagram = ByteBuffer()
            try source.read(offset: 0, count: 1200, into: &datagram)
            #expect(Array(datagram.readableBytesView) == Array(bytes[0..<1200]))
            sources.append(source)
        }
        // Four windows of 16 KiB fill the budget; the other four read straight into their datagrams.
        #expect(budget.inUse == 64 << 10)
        #expect(sources.map(\.windowCapacity) == [16 << 10, 16 << 10, 16 << 10, 16 << 10, 0, 0, 0, 0])
        sources.removeAll()
        #expect(budget.inUse == 0)
    }

    @Test("sequential reads double the window up to 256 KiB; every byte read is the file's")
    func windowGrowsWithSequentialReads() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let bytes = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let path = try folder.write("f", bytes: bytes)
        let budget = ReadAheadBudget(limit: 64 << 20)
        let source = PreadFileSource(fd: try Self.open(path), size: UInt64(bytes.count), sha256Hex: "", budget: budget)
        var offset = 0
        var sizes: Set<Int> = []
        while offset + 1400 <= bytes.count {
            var datagram = ByteBuffer()
            try source.read(offset: UInt64(offset), count: 1400, into: &datagram)
            #expect(datagram.readableBytesView.elementsEqual(bytes[offset..<(offset + 1400)]))
            sizes.insert(source.windowCapacity)
            offset += 1400
        }
        #expect(sizes == [16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10])
        #expect(budget.inUse == 256 << 10)
    }

    @Test("a file that shrank under a transfer fails the read (the transfer ends with CLOSE(ioError))")
    func shrunkFileFailsTheRead() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("f", bytes: [UInt8](repeating: 1, count: 1 << 20))
        let source = PreadFileSource(fd: try Self.open(path), size: 1 << 20, sha256Hex: "",
                                     budget: ReadAheadBudget(limit: 1 << 20))
        var datagram = ByteBuffer()
        try source.read(offset: 0, count: 1200, into: &datagram)
        #expect(truncate(path, 4096) == 0)
        #expect(throws: PeerError.self) {
            var next = ByteBuffer()
            try source.read(offset: 500_000, count: 1200, into: &next)
        }
    }

    @Test("with a thread pool: a miss answers 0 and reads on the pool; the next window is read ahead half-way; a shrunk file fails")
    func readsOnThePool() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 3) }
        let path = try folder.write("f", bytes: bytes)
        let fd = try Self.open(path)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let completions = AsyncStream<Void>.makeStream()
        let setup = try await loop.submit {
            let reads = DiskReads(eventLoop: loop)
            reads.onCompletion = { completions.continuation.yield() }
            let created = PreadFileSource(fd: fd, size: UInt64(bytes.count), sha256Hex: "", budget: ReadAheadBudget(limit: 1 << 20), reads: reads)
            return OnLoop(value: (created, reads, created.readableBytes(at: 0)))
        }.get()
        #expect(setup.value.2 == 0, "nothing is read on the event loop")
        var events = completions.stream.makeAsyncIterator()
        await events.next()
        let first = try await loop.submit { () -> OnLoop<(Int, ByteBuffer, Int)> in
            let readable = setup.value.0.readableBytes(at: 0)
            var datagram = ByteBuffer()
            try setup.value.0.read(offset: 9000, count: 1200, into: &datagram)
            // Half-way through the first window: the next one is being read.
            let ahead = setup.value.0.readableBytes(at: 9000)
            return OnLoop(value: (readable, datagram, ahead))
        }.get().value
        #expect(first.0 == 16 << 10)
        #expect(Array(first.1.readableBytesView) == Array(bytes[9000..<10200]))
        #expect(first.2 == (16 << 10) - 9000)
        await events.next()
        let second = try await loop.submit { () -> OnLoop<(Int, ByteBuffer)> in
            var datagram = ByteBuffer()
            let readable = setup.value.0.readableBytes(at: 16 << 10)
            try setup.value.0.read(offset: 16 << 10, count: 1200, into: &datagram)
            return OnLoop(value: (readable, datagram))
        }.get().value
        #expect(second.0 == 32 << 10, "the read-ahead window, twice as large, was there at once")
        #expect(Array(second.1.readableBytesView) == Array(bytes[(16 << 10)..<((16 << 10) + 1200)]))
        // The file shrinks; a miss far ahead reads short on the pool, and the read then fails.
        #expect(truncate(path, 4096) == 0)
        let miss = try await loop.submit { setup.value.0.readableBytes(at: 700_000) }.get()
        #expect(miss == 0)
        await events.next()
        let failed = try await loop.submit { () -> Bool in
            #expect(setup.value.0.readableBytes(at: 700_000) > 0)
            var datagram = ByteBuffer()
            do {
                try setup.value.0.read(offset: 700_000, count: 1200, into: &datagram)
                return false
            } catch {
                return true
            }
        }.get()
        #expect(failed)
        try await loop.submit { setup.value.1.onCompletion = {} }.get()
    }
}

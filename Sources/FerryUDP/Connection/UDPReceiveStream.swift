import NIOCore

/// The receiver's reassembly buffer and flow-control state.
///
/// STREAM data is accepted anywhere in `[deliveredOffset, credit)`, trimmed against what is already
/// held, and handed out in offset order. The credit advertised to the sender is
/// `consumed + window`, so at most `window` bytes are ever buffered however slowly the application
/// consumes; the number of held fragments is bounded too, against senders of tiny frames.
struct UDPReceiveStream: Sendable {
    /// The most out-of-order fragments held at once.
    static var maximumFragments: Int { 8192 }

    /// The result of offering a STREAM frame.
    enum InsertResult: Equatable {
        /// New bytes were stored (or everything was already known).
        case accepted
        /// Too many fragments are held: the packet must be dropped unacknowledged.
        case overloaded
    }

    /// The first byte requested.
    let start: UInt64
    /// One past the last byte, once the RESPONSE announced it.
    private(set) var end: UInt64?
    /// The next byte to hand to the application.
    private(set) var deliveredOffset: UInt64
    /// One past the last byte the application consumed.
    private(set) var consumedOffset: UInt64
    /// The highest credit ever advertised; data beyond it is a flow-control violation.
    private(set) var advertisedCredit: UInt64
    /// One past the highest byte received.
    private(set) var highestReceived: UInt64
    private let window: UInt64
    private var fragments: [(offset: UInt64, data: ByteBuffer)] = []

    init(start: UInt64, window: Int) {
        self.start = start
        self.deliveredOffset = start
        self.consumedOffset = start
        self.highestReceived = start
        self.window = UInt64(window)
        self.advertisedCredit = start &+ UInt64(window)
        if self.advertisedCredit < start {
            self.advertisedCredit = UInt64.max
        }
    }

    /// The number of bytes held but not yet handed out.
    var bufferedBytes: Int {
        self.fragments.reduce(0) { $0 + $1.data.readableBytes }
    }

    /// The memory the held bytes keep alive: the storage of every buffer they live in (for a
    /// slice of a larger buffer, the whole buffer).
    var heldStorageBytes: Int {
        self.fragments.reduce(0) { $0 + $1.data.storageCapacity }
    }

    /// Whether every byte up to ``end`` was handed out.
    var isComplete: Bool {
        self.end.map { self.deliveredOffset >= $0 } ?? false
    }

    /// The credit the application's consumption allows.
    var currentCredit: UInt64 {
        let credit = self.consumedOffset &+ self.window
        return credit < self.consumedOffset ? UInt64.max : credit
    }

    /// Records the end announced by RESPONSE.
    mutating func setEnd(_ end: UInt64) throws(FerryUDPError) {
        guard end >= self.start, self.highestReceived <= end else {
            throw FerryUDPError(.finalOffsetError, reason: "data beyond the announced end")
        }
        self.end = end
    }

    /// Marks the current credit as advertised and returns it.
    mutating func advertiseCredit() -> UInt64 {
        self.advertisedCredit = max(self.advertisedCredit, self.currentCredit)
        return self.advertisedCredit
    }

    /// Offers a STREAM frame's bytes.
    mutating func insert(offset: UInt64, data: ByteBuffer) throws(FerryUDPError) -> InsertResult {
        let frameEnd = offset + UInt64(data.readableBytes)
        guard frameEnd <= self.advertisedCredit else {
            throw FerryUDPError(.flowControlError, reason: "data beyond the advertised credit")
        }
        if let end = self.end, frameEnd > end {
            throw FerryUDPError(.finalOffsetError, reason: "data beyond the announced end")
        }
        guard frameEnd > self.deliveredOffset else {
            return .accepted
        }
        self.highestReceived = max(self.highestReceived, frameEnd)
        var data = data
        var offset = offset
        if offset < self.deliveredOffset {
            data.moveReaderIndex(forwardBy: Int(self.deliveredOffset - offset))
            offset = self.deliveredOffset
        }
        // Fast path: data beyond everything held (in-order traffic, the common case) becomes one
        // fragment at the end, without the general path's array of pieces.
        if self.fragments.last.map({ $0.offset + UInt64($0.data.readableBytes) <= offset }) ?? true {
            guard self.fragments.count < Self.maximumFragments else {
                return .overloaded
            }
            // Bytes that are next in order leave at the next `popContiguous` and may stay a slice;
            // bytes that wait for a gap to fill are copied (see `compact`).
            self.fragments.append((offset, offset == self.deliveredOffset ? data : Self.compact(data)))
            return .accepted
        }
        var pieces: [(offset: UInt64, data: ByteBuffer)] = []
        var index = self.firstIndex(endingAfter: offset)
        let insertionIndex = index
        var cursor = offset
        while cursor < frameEnd {
            let nextStart = index < self.fragments.count ? self.fragments[index].offset : frameEnd
            if nextStart > cursor {
                let pieceEnd = min(nextStart, frameEnd)
                let slice = data.getSlice(at: data.readerIndex + Int(cursor - offset), length: Int(pieceEnd - cursor))!
                pieces.append((cursor, cursor == self.deliveredOffset ? slice : Self.compact(slice)))
            }
            guard index < self.fragments.count else {
                break
            }
            cursor = max(cursor, self.fragments[index].offset + UInt64(self.fragments[index].data.readableBytes))
            index += 1
        }
        guard !pieces.isEmpty else {
            return .accepted
        }
        guard self.fragments.count + pieces.count <= Self.maximumFragments else {
            return .overloaded
        }
        // Pieces fill gaps between fragments `insertionIndex...`, so they interleave with them.
        if pieces.count == 1 {
            self.fragments.insert(pieces[0], at: self.position(for: pieces[0].offset, from: insertionIndex))
        } else {
            for piece in pieces {
                self.fragments.insert(piece, at: self.position(for: piece.offset, from: insertionIndex))
            }
        }
        return .accepted
    }

    /// Removes and returns the bytes now contiguous from ``deliveredOffset``.
    mutating func popContiguous() -> [(offset: UInt64, data: ByteBuffer)] {
        var ready: [(offset: UInt64, data: ByteBuffer)] = []
        self.popContiguous(into: &ready) { $0.append(($1, $2)) }
        return ready
    }

    /// Removes the bytes now contiguous from ``deliveredOffset`` and hands them to `sink` in order,
    /// without building an array (this runs for every datagram received). The sink is passed
    /// `inout` so that a caller can deliver into another property of its own state.
    mutating func popContiguous<Sink>(
        into sink: inout Sink,
        _ body: (_ sink: inout Sink, _ offset: UInt64, _ data: ByteBuffer) -> Void
    ) {
        var count = 0
        var cursor = self.deliveredOffset
        while count < self.fragments.count, self.fragments[count].offset == cursor {
            body(&sink, cursor, self.fragments[count].data)
            cursor += UInt64(self.fragments[count].data.readableBytes)
            count += 1
        }
        guard count > 0 else {
            return
        }
        self.fragments.removeFirst(count)
        self.deliveredOffset = cursor
    }

    /// Records that the application consumed `bytes` of the delivered data.
    mutating func consume(_ bytes: Int) {
        precondition(
            bytes >= 0 && UInt64(bytes) <= self.deliveredOffset - self.consumedOffset,
            "consumed more than was delivered"
        )
        self.consumedOffset += UInt64(bytes)
    }

    /// A copy of `data` in a buffer of its own size.
    ///
    /// STREAM data arrives as slices of the driver's receive buffers (a vectored read fills one
    /// buffer of up to 512 KiB with many datagrams). A slice held while it waits for a gap to fill
    /// would keep that whole buffer alive — at 20 % loss, nearly every buffer read. Held bytes are
    /// therefore copied, so that what the window holds is what it costs.
    static func compact(_ data: ByteBuffer) -> ByteBuffer {
        var copy = ByteBufferAllocator().buffer(capacity: data.readableBytes)
        copy.writeImmutableBuffer(data)
        return copy
    }

    /// The index of the first fragment that ends after `offset`.
    private func firstIndex(endingAfter offset: UInt64) -> Int {
        var low = 0
        var high = self.fragments.count
        while low < high {
            let middle = (low + high) / 2
            if self.fragments[middle].offset + UInt64(self.fragments[middle].data.readableBytes) <= offset {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    private func position(for offset: UInt64, from start: Int) -> Int {
        var index = start
        while index < self.fragments.count, self.fragments[index].offset < offset {
            index += 1
        }
        return index
    }
}

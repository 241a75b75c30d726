import FerryTestSupport
import FerryUDP
import NIOCore
import Testing

/// Encoding and decoding of every packet and frame, and the decoders' bounds.
@Suite("Wire codec")
struct WireCodecTests {
    static let digest = String(repeating: "0123456789abcdef", count: 4)

    /// One packet of every type, together holding every frame type (no trailing PADDING, so that a
    /// truncation can only ever shorten the frame list).
    static var samplePackets: [UDPPacket] {
        let ack = UDPAckFrame(ranges: [90...100, 50...80, 0...3], ackDelayMicroseconds: 1234)!
        let data = ByteBuffer(bytes: Array(0..<200).map { UInt8($0) })
        return [
            UDPPacket(
                header: UDPPacketHeader(
                    type: .initial,
                    destinationID: .unset,
                    sourceID: UDPConnectionID(rawValue: 0x0102_0304_0506_0708),
                    token: [1, 2, 3],
                    packetNumber: 7
                ),
                frames: [
                    .padding(length: 3), .request(UDPRequestFrame(name: "ünïcode.bin", start: 5, end: 99)),
                    .maxData(1 << 40),
                ]
            ),
            UDPPacket(
                header: UDPPacketHeader(
                    type: .retry,
                    destinationID: UDPConnectionID(rawValue: 9),
                    sourceID: .unset,
                    token: Array(repeating: 0xAB, count: 36)
                ),
                frames: []
            ),
            UDPPacket(
                header: UDPPacketHeader(
                    type: .transfer,
                    destinationID: UDPConnectionID(rawValue: 10),
                    sourceID: UDPConnectionID(rawValue: 11),
                    packetNumber: UInt64.max - 1
                ),
                frames: [
                    .ack(ack),
                    .response(UDPResponseFrame(fileSize: 1000, start: 10, end: 900, sha256Hex: Self.digest)),
                    .stream(UDPStreamFrame(offset: 10, data: data)),
                    .ping,
                ]
            ),
            UDPPacket(
                header: UDPPacketHeader(
                    type: .transfer,
                    destinationID: UDPConnectionID(rawValue: 12),
                    sourceID: UDPConnectionID(rawValue: 13),
                    packetNumber: 0
                ),
                frames: [
                    .done(finalOffset: 900), .maxData(5000),
                    .close(UDPCloseFrame(code: .notFound, reason: "no such file")),
                ]
            ),
        ]
    }

    @Test func everyPacketRoundTrips() throws {
        for packet in Self.samplePackets {
            let encoded = packet.encoded()
            #expect(encoded.readableBytes == packet.encodedLength)
            #expect(try UDPPacket(decoding: encoded) == packet)
        }
    }

    @Test func headerLayoutIsAsDocumented() throws {
        let packet = Self.samplePackets[2]
        let encoded = packet.encoded()
        #expect(encoded.getInteger(at: 0, as: UInt8.self) == 0xF1)
        #expect(encoded.getInteger(at: 1, as: UInt8.self) == 0x03)
        #expect(encoded.getInteger(at: 2, as: UInt64.self) == 10)
        #expect(encoded.getInteger(at: 10, as: UInt64.self) == 11)
        #expect(encoded.getInteger(at: 18, as: UInt64.self) == UInt64.max - 1)
        #expect(encoded.getInteger(at: 26, as: UInt8.self) == UDPFrameType.ack.rawValue)
        #expect(UDPPacketHeader.peekDestinationID(in: encoded) == UDPConnectionID(rawValue: 10))
        #expect(packet.header.encodedLength == UDPPacketHeader.transferHeaderLength)
    }

    @Test func truncationAtEveryLengthNeverYieldsMoreThanWasSent() throws {
        for packet in Self.samplePackets {
            let encoded = packet.encoded()
            for length in 0..<encoded.readableBytes {
                let prefix = encoded.getSlice(at: 0, length: length)!
                guard let decoded = try? UDPPacket(decoding: prefix) else {
                    continue
                }
                // Only a cut between two frames (or inside PADDING) decodes, and then to fewer bytes.
                #expect(decoded.header == packet.header)
                #expect(decoded.frames.count <= packet.frames.count)
                for (index, frame) in decoded.frames.enumerated() {
                    switch (frame, packet.frames[index]) {
                    case (.padding(let cut), .padding(let full)):
                        #expect(cut <= full)
                    default:
                        #expect(frame == packet.frames[index])
                    }
                }
                #expect(decoded.encodedLength < packet.encodedLength)
            }
        }
    }

    @Test(arguments: 0..<4)
    func randomBytesNeverCrashTheDecoder(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        var decoded = 0
        for _ in 0..<Sanitizers.scaled(5_000, sanitized: 1_000) {
            var bytes = (0..<Int.random(in: 0...1300, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            // Most inputs get a valid magic and type so the fuzzing reaches the frame decoders.
            if bytes.count >= 2, generator.chance(0.9) {
                bytes[0] = UDPWireLimits.magic
                bytes[1] = UInt8.random(in: 1...3, using: &generator)
            }
            if (try? UDPPacket(decoding: ByteBuffer(bytes: bytes))) != nil {
                decoded += 1
            }
        }
        #expect(decoded < 5_000)
    }

    @Test(arguments: 0..<4)
    func mutatedPacketsNeverCrashTheDecoder(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let packets = Self.samplePackets.map { $0.encoded() }
        for _ in 0..<5_000 {
            var datagram = packets[Int.random(in: 0..<packets.count, using: &generator)]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<datagram.readableBytes, using: &generator)
                datagram.setInteger(UInt8.random(in: 0...255, using: &generator), at: index)
            }
            if let packet = try? UDPPacket(decoding: datagram) {
                // Whatever decodes must re-encode to a decodable packet.
                #expect((try? UDPPacket(decoding: packet.encoded())) != nil)
            }
        }
    }

    @Test(arguments: [0, 33, 255])
    func ackRangeCountsOutOfBoundsAreRefused(count: Int) {
        var buffer = ByteBuffer()
        buffer.writeInteger(UDPFrameType.ack.rawValue)
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt8(count))
        for index in 0..<count {
            let top = UInt64(10_000 - index * 10)
            buffer.writeInteger(top)
            buffer.writeInteger(top - 2)
        }
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try buffer.readUDPFrame()
        }
    }

    @Test func thirtyTwoAckRangesAreAccepted() throws {
        let ranges = (0..<32).map { index -> ClosedRange<UInt64> in
            let top = UInt64(10_000 - index * 10)
            return (top - 2)...top
        }
        let frame = try #require(UDPAckFrame(ranges: ranges, ackDelayMicroseconds: 0))
        var buffer = ByteBuffer()
        buffer.writeUDPFrame(.ack(frame))
        #expect(try buffer.readUDPFrame() == .ack(frame))
    }

    @Test(arguments: [
        [ClosedRange<UInt64>](),
        [0...5, 10...20],  // ascending
        [10...20, 5...10],  // overlapping
        [10...20, 5...9],  // adjacent (should have been one range)
    ])
    func invalidAckRangesAreRefused(ranges: [ClosedRange<UInt64>]) {
        #expect(UDPAckFrame(ranges: ranges, ackDelayMicroseconds: 0) == nil)
        var buffer = ByteBuffer()
        buffer.writeInteger(UDPFrameType.ack.rawValue)
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt8(ranges.count))
        for range in ranges {
            buffer.writeInteger(range.upperBound)
            buffer.writeInteger(range.lowerBound)
        }
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try buffer.readUDPFrame()
        }
    }

    @Test func invertedAckRangeIsRefused() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UDPFrameType.ack.rawValue)
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt8(1))
        buffer.writeInteger(UInt64(5))  // largest
        buffer.writeInteger(UInt64(9))  // smallest > largest
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try buffer.readUDPFrame()
        }
    }

    @Test func streamOffsetOverflowIsRefused() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UDPFrameType.stream.rawValue)
        buffer.writeInteger(UInt64.max - 1)
        buffer.writeInteger(UInt16(4))
        buffer.writeBytes([1, 2, 3, 4])
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try buffer.readUDPFrame()
        }
    }

    @Test(arguments: [
        [UInt8](), Array(repeating: UInt8(ascii: "a"), count: 513), [0xFF, 0xFE], [UInt8(ascii: "a"), 0],
    ])
    func badRequestNamesAreRefused(name: [UInt8]) {
        var buffer = ByteBuffer()
        buffer.writeInteger(UDPFrameType.request.rawValue)
        buffer.writeInteger(UInt64(0))
        buffer.writeInteger(UInt64.max)
        buffer.writeInteger(UInt16(name.count))
        buffer.writeBytes(name)
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try buffer.readUDPFrame()
        }
    }

    @Test(arguments: [
        (UInt64(10), UInt64(0), UInt64(11), String(repeating: "a", count: 64)),  // end beyond size
        (UInt64(10), UInt64(5), UInt64(4), String(repeating: "a", count: 64)),  // start after end
        (UInt64(10), UInt64(0), UInt64(10), String(repeating: "A", count: 64)),  // uppercase
        (UInt64(10), UInt64(0), UInt64(10), String(repeating: "g", count: 64)),  // not hex
    ])
    func badResponsesAreRefused(size: UInt64, start: UInt64, end: UInt64, digest: String) {
        var buffer = ByteBuffer()
        buffer.writeInteger(UDPFrameType.response.rawValue)
        buffer.writeInteger(size)
        buffer.writeInteger(start)
        buffer.writeInteger(end)
        buffer.writeString(digest)
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try buffer.readUDPFrame()
        }
    }

    @Test func unknownFrameTypeAndBadMagicAreRefused() {
        var frame = ByteBuffer(bytes: [0x09])
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try frame.readUDPFrame()
        }
        var packet = Self.samplePackets[2].encoded()
        packet.setInteger(UInt8(0x45), at: 0)  // an IPv4 header, say
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try UDPPacket(decoding: packet)
        }
        #expect(UDPPacketHeader.peekDestinationID(in: packet) == nil)
    }

    @Test func retryWithTrailingBytesOrEmptyTokenIsRefused() {
        var retry = Self.samplePackets[1].encoded()
        retry.writeInteger(UInt8(0))
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try UDPPacket(decoding: retry)
        }
        let empty = UDPPacket(
            header: UDPPacketHeader(type: .retry, destinationID: UDPConnectionID(rawValue: 1), sourceID: .unset),
            frames: []
        )
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try UDPPacket(decoding: empty.encoded())
        }
    }

    @Test func tokenLongerThanTheLimitIsRefused() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UDPWireLimits.magic)
        buffer.writeInteger(UDPPacketType.initial.rawValue)
        buffer.writeInteger(UInt64(0))
        buffer.writeInteger(UInt64(1))
        buffer.writeInteger(UInt8(65))
        buffer.writeRepeatingByte(1, count: 65 + 8 + 1)
        #expect(throws: FerryUDPError(.frameEncodingError)) {
            _ = try UDPPacket(decoding: buffer)
        }
    }

    @Test func closeReasonIsCutToTheLimit() throws {
        let frame = UDPCloseFrame(code: .ioError, reason: String(repeating: "é", count: 100))
        #expect(frame.reason.utf8.count <= UDPWireLimits.maximumReasonLength)
        var buffer = ByteBuffer()
        buffer.writeUDPFrame(.close(frame))
        #expect(try buffer.readUDPFrame() == .close(frame))
    }

    @Test func errorsCompareByCode() {
        #expect(FerryUDPError(.notFound, reason: "x") == FerryUDPError(.notFound, reason: "y"))
        #expect(FerryUDPError(.notFound) != FerryUDPError(.badName))
        #expect(FerryUDPError.Code(rawValue: 0x0100) == .notFound)
        #expect(FerryUDPError.Code(rawValue: 0x7777).description == "code(0x7777)")
    }
}

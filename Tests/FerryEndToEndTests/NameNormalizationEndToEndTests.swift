import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import Testing

extension EndToEndTests {
    /// Names compare in NFC end to end: a name typed in one Unicode form finds, lists and downloads a
    /// file announced in the other, over TCP and UDP, from one holder and from a swarm; files keep
    /// their names on disk as they are.
    @Suite("names in either Unicode form")
    struct NameNormalizationEndToEndTests {
        static let composed = "caf\u{E9}.txt"          // é as one scalar (NFC)
        static let decomposed = "cafe\u{301}.txt"      // e + a combining acute accent (NFD)

        static func scalars(_ text: String) -> [UInt32] { text.unicodeScalars.map(\.value) }

        @Test("a file shared as one form is listed and downloaded by the other", arguments: [
            (composed, decomposed, Transport.tcp), (decomposed, composed, Transport.tcp),
            (composed, decomposed, Transport.udp), (decomposed, composed, Transport.udp),
        ])
        func oneHolder(shared: String, asked: String, transport: Transport) async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 70_000, seed: 41)
            let peer = try await TestPeer.start(host: host(120), tracker: tracker.endpoint, in: temporary, files: [shared: bytes])

            // LIST by the other form (the tracker lists names in NFC).
            let connection = try await tracker.connect()
            let listing = try await connection.listing(String(asked.prefix(4)))
            await connection.close()
            #expect(listing.entries.map { Self.scalars($0.name) } == [Self.scalars(Self.composed)])

            let folder = try temporary.subfolder("downloads")
            let outcomes = try await download([asked], from: tracker, into: folder, transports: [transport])
            #expect(outcomes.map(\.status) == [.ok], "\(outcomes.map(\.message))")
            #expect(outcomes.first?.transport == transport)
            // Saved under the name as asked, byte for byte; the holder's file keeps its own name.
            let saved = try FileManager.default.contentsOfDirectory(atPath: folder)
            #expect(saved.map(Self.scalars) == [Self.scalars(asked)])
            expectFile(folder + "/" + asked, holds: bytes)
            #expect(try FileManager.default.contentsOfDirectory(atPath: peer.folder).map(Self.scalars) == [Self.scalars(shared)])
            await peer.kill()
            await tracker.stop()
        }

        @Test("a swarm download takes chunks from holders that name the file in different forms")
        func swarm() async throws {
            let temporary = try TemporaryFolder()
            defer { temporary.remove() }
            let tracker = try await TestTracker.start()
            let bytes = sampleBytes(count: 4 << 20, seed: 42)
            let first = try await TestPeer.start(host: host(121), tracker: tracker.endpoint, in: temporary, files: [Self.composed: bytes])
            let second = try await TestPeer.start(host: host(122), tracker: tracker.endpoint, in: temporary, files: [Self.decomposed: bytes])
            let folder = try temporary.subfolder("downloads")
            let outcomes = try await download([Self.decomposed], from: tracker, into: folder)
            #expect(outcomes.map(\.status) == [.ok], "\(outcomes.map(\.message))")
            // Both holders were asked (one content group of two holders), and neither said not_found.
            let attempts = outcomes.first?.attempts ?? []
            #expect(!attempts.contains { $0.error == .notFound }, "\(attempts)")
            #expect(Set(outcomes.first?.sourceRecords.map(\.peer) ?? []).count == 2, "\(outcomes.first?.sourceRecords ?? [])")
            expectFile(folder + "/" + Self.decomposed, holds: bytes)
            await first.kill()
            await second.kill()
            await tracker.stop()
        }
    }
}

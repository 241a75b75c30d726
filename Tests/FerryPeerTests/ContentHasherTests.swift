@testable import FerryPeer
import FerryTestSupport
import Crypto
import FerryWire
import Foundation
import Testing

@Suite("ContentHasher: streaming SHA-256 of files")
struct ContentHasherTests {
    static let cases: [(String, String)] = [
        ("", Vectors.empty), ("abc", Vectors.abc), ("ab", Vectors.ab), ("hello world", Vectors.helloWorld),
    ]

    @Test("small files hash to the known SHA-256", arguments: cases)
    func knownDigests(_ content: String, _ hex: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("f", content)
        #expect(try ContentHasher.digest(ofFileAt: path) == sha(hex))
        #expect(try ContentHasher.digest(ofFileAt: path).hex == hex)
    }

    @Test("a file of several read chunks hashes to the known SHA-256")
    func multipleChunks() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("big", bytes: Vectors.patternBytes)
        #expect(Vectors.patternCount > 3 * ContentHasher.chunkSize)
        #expect(try ContentHasher.digest(ofFileAt: path) == sha(Vectors.pattern))
    }

    @Test("a limit hashes only the first bytes, also across a chunk boundary", arguments: [
        (UInt64(0), Vectors.empty),
        (UInt64(1 << 20), Vectors.patternFirstMiB),
        (UInt64(1 << 20) + 1, Vectors.patternFirstMiBPlusOne),
        (UInt64(Vectors.patternCount), Vectors.pattern),
        (UInt64.max, Vectors.pattern),
    ])
    func limit(_ limit: UInt64, _ hex: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("big", bytes: Vectors.patternBytes)
        #expect(ContentDigest(try ContentHasher.hasher(ofFileAt: path, limit: limit).finalize()) == sha(hex))
    }

    @Test("the hasher can be continued, as a resumed download does")
    func continued() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("f", "abc")
        var hasher = try ContentHasher.hasher(ofFileAt: path, limit: 2)
        #expect(ContentDigest(hasher.finalize()) == sha(Vectors.ab))
        hasher.update(data: Array("c".utf8))
        #expect(ContentDigest(hasher.finalize()) == sha(Vectors.abc))
    }

    @Test("a missing file is an I/O error that says why")
    func missing() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let error = #expect(throws: PeerError.self) { try ContentHasher.digest(ofFileAt: folder.path + "/missing") }
        #expect(error?.code == .io)
        #expect(error?.message == "cannot open \(folder.path)/missing: No such file or directory")
    }

    @Test("a folder cannot be hashed")
    func folderIsAnError() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let error = #expect(throws: PeerError.self) { try ContentHasher.digest(ofFileAt: folder.path) }
        #expect(error?.code == .io)
        #expect(error?.message == "cannot read \(folder.path): Is a directory")
    }
}

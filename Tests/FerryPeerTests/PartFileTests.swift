@testable import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import NIOCore
import Testing

@Suite("PartFile: a download in progress")
struct PartFileTests {
    static func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("the part file is NAME.part while that fits in a file name", arguments: [1, 100, 250])
    func partName(_ length: Int) throws {
        let name = try SharedFileName(validating: String(repeating: "n", count: length))
        #expect(PartFile.partName(for: name, digest: sha(Vectors.abc)) == name.rawValue + ".part")
    }

    @Test("a name too long for .part gets a hidden name made from the digest", arguments: [251, 255])
    func hiddenPartName(_ length: Int) throws {
        let name = try SharedFileName(validating: String(repeating: "n", count: length))
        let part = PartFile.partName(for: name, digest: sha(Vectors.abc))
        #expect(part == ".ferry-ba7816bf8f01cfea414140de5dae2223b00361a3.part")
        #expect(part.utf8.count <= SharedFileName.maximumByteCount)
    }

    @Test("the limit counts bytes: a multibyte name near the limit gets the hidden name")
    func hiddenPartNameMultibyte() throws {
        let fits = try SharedFileName(validating: String(repeating: "é", count: 125))      // 250 bytes
        let over = try SharedFileName(validating: String(repeating: "é", count: 125) + "a") // 251 bytes
        #expect(PartFile.partName(for: fits, digest: sha(Vectors.ab)) == fits.rawValue + ".part")
        #expect(PartFile.partName(for: over, digest: sha(Vectors.ab)).hasPrefix(".ferry-fb8e20fc2e4c"))
    }

    @Test("a new part file is empty, and appends are written and hashed in order")
    func appendAndDigest() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try PartFile(folder: folder.path, name: fileName("f.txt"), digest: sha(Vectors.abc), expectedSize: 3)
        #expect(part.path == folder.path + "/f.txt.part")
        #expect(part.finalPath == folder.path + "/f.txt")
        #expect(part.length == 0)
        #expect(part.digest == sha(Vectors.empty))
        #expect(folder.exists("f.txt.part"))
        try part.append(Self.buffer("a"))
        try part.append(Self.buffer(""))
        try part.append(Self.buffer("b"))
        #expect(part.digest == sha(Vectors.ab))
        #expect(part.digest == sha(Vectors.ab))          // reading the digest does not disturb it
        try part.append(Self.buffer("c"))
        #expect(part.length == 3)
        #expect(part.digest == sha(Vectors.abc))
        #expect(try folder.read("f.txt.part") == Array("abc".utf8))
    }

    @Test("a large append in one buffer is hashed like the file")
    func largeAppend() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try PartFile(folder: folder.path, name: fileName("big"), digest: sha(Vectors.pattern),
                                expectedSize: UInt64(Vectors.patternCount))
        let bytes = Vectors.patternBytes
        try part.append(ByteBuffer(bytes: bytes[..<1_000_000]))
        try part.append(ByteBuffer(bytes: bytes[1_000_000...]))
        #expect(part.length == UInt64(Vectors.patternCount))
        #expect(part.digest == sha(Vectors.pattern))
        #expect(try ContentHasher.digest(ofFileAt: part.path) == sha(Vectors.pattern))
    }

    @Test("reopening resumes: the bytes already there are hashed again and kept")
    func reopenResumes() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let first = try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.helloWorld), expectedSize: 11)
            try first.append(Self.buffer("hello"))
        }
        let second = try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.helloWorld), expectedSize: 11)
        #expect(second.length == 5)
        try second.append(Self.buffer(" world"))
        #expect(second.digest == sha(Vectors.helloWorld))
        #expect(try folder.read("f.part") == Array("hello world".utf8))
    }

    @Test("a part file from an earlier run, written by someone else, is resumed from its length")
    func foreignPartFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("f.part", "ab")
        let part = try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        #expect(part.length == 2)
        #expect(part.digest == sha(Vectors.ab))
        try part.append(Self.buffer("c"))
        #expect(part.digest == sha(Vectors.abc))
    }

    @Test("a part file longer than the expected size is started over")
    func tooLongPartFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("f.part", "hello world")
        let part = try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        #expect(part.length == 0)
        #expect(part.digest == sha(Vectors.empty))
        #expect(try folder.read("f.part").isEmpty)
    }

    @Test("a part file of exactly the expected size is kept whole")
    func completePartFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("f.part", "abc")
        let part = try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        #expect(part.length == 3)
        #expect(part.digest == sha(Vectors.abc))
    }

    @Test("restart() throws every byte away")
    func restart() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        try part.append(Self.buffer("xyz"))
        try part.restart()
        #expect(part.length == 0)
        #expect(part.digest == sha(Vectors.empty))
        #expect(try folder.read("f.part").isEmpty)
        try part.append(Self.buffer("abc"))
        #expect(part.digest == sha(Vectors.abc))
        #expect(try folder.read("f.part") == Array("abc".utf8))
    }

    @Test("commit() renames the part file to the final name, replacing what was there")
    func commit() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("f.txt", "old content")
        let part = try PartFile(folder: folder.path, name: fileName("f.txt"), digest: sha(Vectors.abc), expectedSize: 3)
        try part.append(Self.buffer("abc"))
        try part.commit()
        #expect(!folder.exists("f.txt.part"))
        #expect(try folder.read("f.txt") == Array("abc".utf8))
    }

    @Test("discard() removes the part file")
    func discard() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        try part.append(Self.buffer("ab"))
        part.discard()
        #expect(!folder.exists("f.part"))
        #expect(!folder.exists("f"))
    }

    @Test("an over-long name downloads through the hidden part name and ends under its own name")
    func longNameThroughHiddenPart() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let name = try SharedFileName(validating: String(repeating: "L", count: 252))
        let part = try PartFile(folder: folder.path, name: name, digest: sha(Vectors.abc), expectedSize: 3)
        #expect(part.path == folder.path + "/.ferry-ba7816bf8f01cfea414140de5dae2223b00361a3.part")
        try part.append(Self.buffer("abc"))
        try part.commit()
        #expect(try folder.read(name.rawValue) == Array("abc".utf8))
        #expect(!folder.exists(".ferry-ba7816bf8f01cfea414140de5dae2223b00361a3.part"))
    }

    @Test("a symlink planted at the part file's name is not followed")
    func symlinkNotFollowed() throws {
        let folder = try TemporaryFolder()
        let outside = try TemporaryFolder()
        defer { folder.remove(); outside.remove() }
        try outside.write("victim", "precious")
        try folder.symlink("f.part", to: outside.path + "/victim")
        let error = #expect(throws: PeerError.self) {
            try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        }
        #expect(error?.code == .io)
        #expect(error?.message.hasPrefix("cannot open \(folder.path)/f.part: ") == true)
        #expect(try outside.read("victim") == Array("precious".utf8))
    }

    @Test("a folder at the part file's name is refused")
    func folderAtPartName() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.mkdir("f.part")
        let error = #expect(throws: PeerError.self) {
            try PartFile(folder: folder.path, name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        }
        #expect(error?.code == .io)
    }

    @Test("a missing download folder is an I/O error")
    func missingFolder() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let error = #expect(throws: PeerError.self) {
            try PartFile(folder: folder.path + "/missing", name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        }
        #expect(error?.code == .io)
        #expect(error?.message.hasSuffix("No such file or directory") == true)
    }
}

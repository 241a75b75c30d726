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

    static func open(_ folder: TemporaryFolder, _ name: String, _ digest: String, _ size: Int) async throws -> PartFile {
        try await PartFile.open(folder: folder.path, name: fileName(name), digest: sha(digest), expectedSize: UInt64(size))
    }

    /// Writes a part file and its record as an earlier run of this content would have left them.
    static func leaveEarlierRun(_ folder: TemporaryFolder, _ name: String, _ bytes: String, digest: String, size: Int) throws {
        try folder.write(name + ".part", bytes)
        try folder.write("." + name + ".state.part", PartFile.recordLine(size: UInt64(size), digest: sha(digest)))
    }

    @Test("a new part file is empty, has a record of its content, and appends are written in order and read back")
    func appendAndDigest() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder, "f.txt", Vectors.abc, 3)
        #expect(part.path == folder.path + "/f.txt.part")
        #expect(part.finalPath == folder.path + "/f.txt")
        #expect(part.opening == .new)
        #expect(part.length == 0)
        #expect(try await part.digestFromDisk() == sha(Vectors.empty))
        #expect(try folder.read(".f.txt.state.part") == Array("ferry-part 1 3 \(Vectors.abc)\n".utf8))
        try await part.append(Self.buffer("a"))
        try await part.append(Self.buffer(""))
        try await part.append(Self.buffer("b"))
        #expect(try await part.digestFromDisk() == sha(Vectors.ab))
        #expect(try await part.digestFromDisk() == sha(Vectors.ab))      // reading the digest does not disturb it
        try await part.append(Self.buffer("c"))
        #expect(part.length == 3)
        #expect(try await part.digestFromDisk() == sha(Vectors.abc))
        #expect(try folder.read("f.txt.part") == Array("abc".utf8))
    }

    @Test("large appends are read back a chunk at a time while they are written, and hash like the file")
    func largeAppend() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder, "big", Vectors.pattern, Vectors.patternCount)
        let bytes = Vectors.patternBytes
        try await part.append(ByteBuffer(bytes: bytes[..<1_000_000]))
        #expect(part.hashedLength == 0, "less than a read-back chunk waits")
        try await part.append(ByteBuffer(bytes: bytes[1_000_000...]))
        #expect(part.length == UInt64(Vectors.patternCount))
        #expect(try await part.digestFromDisk() == sha(Vectors.pattern))
        #expect(part.hashedLength == UInt64(Vectors.patternCount))
        #expect(try ContentHasher.digest(ofFileAt: part.path) == sha(Vectors.pattern))
    }

    @Test("issue 12: bytes changed on disk before they were read back do not match the digest")
    func corruptedOnDisk() async throws {
        // Before the fix the digest was taken from the bytes in flight: 4 KiB zeroed in the part file
        // during a download still ended `sha256 verified`.
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder, "big", Vectors.pattern, Vectors.patternCount)
        // Fewer bytes than the read-back waits for, so none of them is read back yet; then the rest.
        let first = Int(PartFile.readBackChunk) / 2
        try await part.append(ByteBuffer(bytes: Vectors.patternBytes[..<first]))
        let handle = try #require(FileHandle(forUpdatingAtPath: part.path))
        try handle.seek(toOffset: UInt64(first) / 2)
        try handle.write(contentsOf: Data(repeating: 0, count: 4096))
        try handle.close()
        #expect(part.hashedLength == 0, "the read-back had already passed the damaged bytes")
        try await part.append(ByteBuffer(bytes: Vectors.patternBytes[first...]))
        #expect(try await part.digestFromDisk() != sha(Vectors.pattern))
    }

    @Test("reopening resumes: bytes recorded as this content are kept and read back")
    func reopenResumes() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let first = try await Self.open(folder, "f", Vectors.helloWorld, 11)
            try await first.append(Self.buffer("hello"))
        }
        let second = try await Self.open(folder, "f", Vectors.helloWorld, 11)
        #expect(second.opening == .resumed(5))
        #expect(second.length == 5)
        try await second.append(Self.buffer(" world"))
        #expect(try await second.digestFromDisk() == sha(Vectors.helloWorld))
        #expect(try folder.read("f.part") == Array("hello world".utf8))
    }

    @Test("issue 12: a part file whose record names other content is discarded, not resumed")
    func otherContentDiscarded() async throws {
        // Before the fix a stale part file of other content was resumed and an innocent peer was
        // blamed with hash_mismatch.
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try Self.leaveEarlierRun(folder, "f", "hello", digest: Vectors.helloWorld, size: 11)
        let part = try await Self.open(folder, "f", Vectors.abc, 3)
        guard case .discarded(5, let reason) = part.opening else {
            Issue.record("opening was \(part.opening)")
            return
        }
        #expect(reason.contains("other content"))
        #expect(part.length == 0)
        #expect(try folder.read("f.part").isEmpty)
        #expect(try folder.read(".f.state.part") == Array(PartFile.recordLine(size: 3, digest: sha(Vectors.abc)).utf8))
    }

    @Test("a part file with no record (an older Ferry, another program) is discarded")
    func unrecordedPartFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("f.part", "ab")
        let part = try await Self.open(folder, "f", Vectors.abc, 3)
        #expect(part.opening == .discarded(bytes: 2, reason: "there is no record of the content it holds"))
        #expect(part.length == 0)
    }

    @Test("a recorded part file longer than the expected size is started over")
    func tooLongPartFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try Self.leaveEarlierRun(folder, "f", "hello world", digest: Vectors.abc, size: 3)
        let part = try await Self.open(folder, "f", Vectors.abc, 3)
        #expect(part.length == 0)
        #expect(try await part.digestFromDisk() == sha(Vectors.empty))
        #expect(try folder.read("f.part").isEmpty)
    }

    @Test("a recorded part file of exactly the expected size is kept whole")
    func completePartFile() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try Self.leaveEarlierRun(folder, "f", "abc", digest: Vectors.abc, size: 3)
        let part = try await Self.open(folder, "f", Vectors.abc, 3)
        #expect(part.length == 3)
        #expect(try await part.digestFromDisk() == sha(Vectors.abc))
    }

    @Test("issue 12: a second open of the same part file fails at once while the first holds it")
    func locked() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let first = try await Self.open(folder, "f", Vectors.abc, 3)
            try await first.append(Self.buffer("ab"))
            let error = await #expect(throws: PartFileError.self) {
                try await Self.open(folder, "f", Vectors.abc, 3)
            }
            #expect(error?.isLocked == true)
            #expect(error?.message.contains("another download of \"f\" into \(folder.path) is running") == true)
            #expect(try folder.read("f.part") == Array("ab".utf8), "the second open touched the file")
            withExtendedLifetime(first) {}
        }
        let again = try await Self.open(folder, "f", Vectors.abc, 3)      // the lock went with the first
        #expect(again.opening == .resumed(2))
    }

    @Test("a part file let go while its read-back runs unlocks at once: the same download opens it again")
    func unlockedWhenLetGo() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // 8 MiB written in 1 MiB appends: the read-back, 1 MiB at a time behind them, still has
        // megabytes to hash when the last append returns and the part file is let go.
        let piece = (0..<Int(PartFile.readBackChunk)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        let pieces = 8
        let source = try folder.write("source", bytes: Array([[UInt8]](repeating: piece, count: pieces).joined()))
        let digest = try ContentHasher.digest(ofFileAt: source)
        let size = pieces * piece.count
        do {
            let first = try await Self.open(folder, "f", digest.hex, size)
            for _ in 0..<pieces { try await first.append(ByteBuffer(bytes: piece)) }
        }
        let again = try await Self.open(folder, "f", digest.hex, size)
        #expect(again.opening == .resumed(UInt64(size)))
        #expect(try await again.digestFromDisk() == digest)
    }

    @Test("truncate(to:) keeps a prefix; bytes read back past it are read again")
    func truncate() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder, "f", Vectors.abc, 3)
        try await part.append(Self.buffer("xyz"))
        #expect(try await part.digestFromDisk() != sha(Vectors.abc))
        try await part.truncate(to: 0)
        #expect(part.length == 0)
        #expect(try await part.digestFromDisk() == sha(Vectors.empty))
        #expect(try folder.read("f.part").isEmpty)
        try await part.append(Self.buffer("abX"))
        try await part.truncate(to: 2)
        try await part.append(Self.buffer("c"))
        #expect(try await part.digestFromDisk() == sha(Vectors.abc))
        #expect(try folder.read("f.part") == Array("abc".utf8))
    }

    @Test("commit(overwrite: false) renames the part file to the final name and removes the record")
    func commit() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder, "f.txt", Vectors.abc, 3)
        try await part.append(Self.buffer("abc"))
        #expect(try await part.commit(overwrite: false) == .committed)
        #expect(!folder.exists("f.txt.part"))
        #expect(!folder.exists(".f.txt.state.part"))
        #expect(try folder.read("f.txt") == Array("abc".utf8))
    }

    @Test("issue 12: a file that appeared under the final name is never replaced without overwrite")
    func commitNeverReplaces() async throws {
        // Before the fix the final rename replaced a file that appeared after the existence check.
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder, "f.txt", Vectors.abc, 3)
        try await part.append(Self.buffer("abc"))
        try folder.write("f.txt", "appeared meanwhile")
        #expect(try await part.commit(overwrite: false) == .finalNameTaken)
        #expect(try folder.read("f.txt") == Array("appeared meanwhile".utf8))
        #expect(try folder.read("f.txt.part") == Array("abc".utf8))
        #expect(try await part.commit(overwrite: true) == .committed)
        #expect(try folder.read("f.txt") == Array("abc".utf8))
    }

    @Test("renameWithoutReplacing: moves when the name is free, EEXIST when it is taken")
    func renameWithoutReplacingWorks() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("a", "A")
        try folder.write("b", "B")
        #expect(renameWithoutReplacing(folder.path + "/a", folder.path + "/b") == EEXIST)
        #expect(try folder.read("b") == Array("B".utf8))
        #expect(renameWithoutReplacing(folder.path + "/a", folder.path + "/c") == 0)
        #expect(!folder.exists("a"))
        #expect(try folder.read("c") == Array("A".utf8))
    }

    @Test("discard() removes the part file and its record")
    func discard() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let part = try await Self.open(folder, "f", Vectors.abc, 3)
        try await part.append(Self.buffer("ab"))
        await part.discard()
        #expect(!folder.exists("f.part"))
        #expect(!folder.exists(".f.state.part"))
        #expect(!folder.exists("f"))
    }

    @Test("an over-long name downloads through hidden part and record names and ends under its own name")
    func longNameThroughHiddenPart() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let name = try SharedFileName(validating: String(repeating: "L", count: 252))
        let part = try await PartFile.open(folder: folder.path, name: name, digest: sha(Vectors.abc), expectedSize: 3)
        #expect(part.path == folder.path + "/.ferry-ba7816bf8f01cfea414140de5dae2223b00361a3.part")
        #expect(part.recordPath == folder.path + "/.ferry-ba7816bf8f01cfea414140de5dae2223b00361a3.state.part")
        try await part.append(Self.buffer("abc"))
        #expect(try await part.commit(overwrite: false) == .committed)
        #expect(try folder.read(name.rawValue) == Array("abc".utf8))
        #expect(!folder.exists(".ferry-ba7816bf8f01cfea414140de5dae2223b00361a3.part"))
    }

    @Test("a symlink planted at the part file's name is not followed")
    func symlinkNotFollowed() async throws {
        let folder = try TemporaryFolder()
        let outside = try TemporaryFolder()
        defer { folder.remove(); outside.remove() }
        try outside.write("victim", "precious")
        try folder.symlink("f.part", to: outside.path + "/victim")
        let error = await #expect(throws: PartFileError.self) {
            try await Self.open(folder, "f", Vectors.abc, 3)
        }
        #expect(error?.code == .ioError)
        #expect(error?.message.hasPrefix("cannot open \(folder.path)/f.part: ") == true)
        #expect(try outside.read("victim") == Array("precious".utf8))
    }

    @Test("a folder at the part file's name is refused")
    func folderAtPartName() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.mkdir("f.part")
        let error = await #expect(throws: PartFileError.self) {
            try await Self.open(folder, "f", Vectors.abc, 3)
        }
        #expect(error?.code == .ioError)
    }

    @Test("a missing download folder is an I/O error")
    func missingFolder() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let error = await #expect(throws: PartFileError.self) {
            try await PartFile.open(folder: folder.path + "/missing", name: fileName("f"), digest: sha(Vectors.abc), expectedSize: 3)
        }
        #expect(error?.code == .ioError)
        #expect(error?.message.hasSuffix("No such file or directory") == true)
    }
}

@testable import FerryPeer
import FerryTestSupport
import FerryWire
import Foundation
import Testing

@Suite("Share: scanning the shared folder")
struct ShareTests {
    static func names(_ share: Share) -> [String] { share.snapshot.entries.map(\.name.rawValue) }

    @Test("regular files are shared with their size and SHA-256")
    func regularFiles() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("abc.txt", "abc")
        try folder.write("empty", "")
        try folder.write("hello world.txt", "hello world")
        try folder.write("日本 🚀", "ab")
        try folder.write(".hidden", "abc")
        let share = try Share(folder: folder.path, cache: nil, logger: quietLogger)
        #expect(share.snapshot.files.isEmpty)
        #expect(share.version == 0)
        #expect(share.rescan())
        #expect(share.version == 1)
        #expect(Self.names(share) == [".hidden", "abc.txt", "empty", "hello world.txt", "日本 🚀"])
        let abc = try #require(share.file(named: fileName("abc.txt")))
        #expect(abc.size == 3)
        #expect(abc.digest == sha(Vectors.abc))
        #expect(abc.path == folder.realPath + "/abc.txt")
        #expect(abc.modified > 0)
        #expect(share.file(named: fileName("empty"))?.digest == sha(Vectors.empty))
        #expect(share.file(named: fileName("hello world.txt"))?.digest == sha(Vectors.helloWorld))
        #expect(share.file(named: fileName("日本 🚀"))?.digest == sha(Vectors.ab))
        #expect(share.file(named: fileName("missing")) == nil)
    }

    @Test("part files, bad names, folders, FIFOs, broken links and links leading out are not shared")
    func skipped() throws {
        let folder = try TemporaryFolder()
        let outside = try TemporaryFolder()
        defer { folder.remove(); outside.remove() }
        try folder.write("ok.txt", "abc")
        try folder.write("download.part", "partial")
        try folder.write(".ferry-0123456789012345678901234567890123456789.part", "hidden partial")
        try folder.write("bad\u{1}name", "x")
        try folder.write("back\\slash", "x")
        try folder.write("del\u{7F}", "x")
        try folder.mkdir("subfolder")
        try folder.write("subfolder/inner.txt", "x")
        #expect(folder.mkfifo("pipe"))
        try outside.write("secret.txt", "secret")
        try folder.symlink("leak", to: outside.path + "/secret.txt")
        try folder.symlink("leak-relative", to: "../" + URL(fileURLWithPath: outside.path).lastPathComponent + "/secret.txt")
        try folder.symlink("broken", to: folder.path + "/nowhere")
        try folder.symlink("folder-link", to: folder.path + "/subfolder")
        try folder.symlink("self", to: ".")
        let recorder = LogRecorder()
        let share = try Share(folder: folder.path, cache: nil, logger: recorder.logger)
        #expect(share.rescan())
        #expect(Self.names(share) == ["ok.txt"])
        let warnings = recorder.warnings()
        for skipped in ["bad\u{FFFD}name", "back\\\\slash", "del\u{FFFD}", "subfolder", "pipe", "leak", "leak-relative", "broken",
                        "folder-link", "self"] {
            #expect(warnings.filter { $0.hasPrefix("not sharing \"\(skipped)\": ") }.count == 1, "\(skipped): \(warnings)")
        }
        #expect(warnings.count == 10)
        #expect(!warnings.contains { $0.contains(".part") })
        #expect(warnings.contains("not sharing \"leak\": a symlink leading outside the share"))
        #expect(warnings.contains("not sharing \"broken\": a broken symlink"))
        #expect(warnings.contains("not sharing \"pipe\": not a regular file"))
        #expect(warnings.contains("not sharing \"bad\u{FFFD}name\": name contains a control character"))
        #expect(warnings.contains("not sharing \"back\\\\slash\": name contains '/' or '\\'"))

        recorder.clear()
        #expect(!share.rescan())
        #expect(recorder.warnings().isEmpty, "a skipped file is reported once, not on every scan")
    }

    @Test("a symlink to a file inside the share is followed")
    func symlinkInside() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("target.txt", "abc")
        try folder.mkdir("sub")
        try folder.write("sub/deep.txt", "ab")
        try folder.symlink("link.txt", to: "target.txt")
        try folder.symlink("absolute.txt", to: folder.path + "/target.txt")
        try folder.symlink("deep-link", to: "sub/deep.txt")
        let share = try Share(folder: folder.path, cache: nil, logger: quietLogger)
        share.rescan()
        #expect(Self.names(share) == ["absolute.txt", "deep-link", "link.txt", "target.txt"])
        #expect(share.file(named: fileName("link.txt"))?.path == folder.realPath + "/target.txt")
        #expect(share.file(named: fileName("link.txt"))?.digest == sha(Vectors.abc))
        #expect(share.file(named: fileName("absolute.txt"))?.path == folder.realPath + "/target.txt")
        #expect(share.file(named: fileName("deep-link"))?.path == folder.realPath + "/sub/deep.txt")
        #expect(share.file(named: fileName("deep-link"))?.digest == sha(Vectors.ab))
    }

    @Test("a share folder reached through a symlink works, with real paths")
    func folderThroughSymlink() throws {
        let folder = try TemporaryFolder()
        let links = try TemporaryFolder()
        defer { folder.remove(); links.remove() }
        try folder.write("a.txt", "abc")
        try links.symlink("share", to: folder.path)
        let share = try Share(folder: links.path + "/share", cache: nil, logger: quietLogger)
        #expect(share.folder == links.path + "/share")
        #expect(share.realFolder == folder.realPath)
        share.rescan()
        #expect(share.file(named: fileName("a.txt"))?.path == folder.realPath + "/a.txt")
    }

    @Test("changes are noticed by rescan()")
    func rescanNoticesChanges() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("keep.txt", "abc")
        try folder.write("change.txt", "abc")
        try folder.write("delete.txt", "abc")
        let share = try Share(folder: folder.path, cache: nil, logger: quietLogger)
        #expect(share.rescan())
        #expect(!share.rescan())
        #expect(share.version == 1)
        let before = share.snapshot

        try folder.write("change.txt", "hello world")
        try FileManager.default.removeItem(atPath: folder.path + "/delete.txt")
        try folder.write("new.txt", "ab")
        #expect(share.rescan())
        #expect(share.version == 2)
        #expect(Self.names(share) == ["change.txt", "keep.txt", "new.txt"])
        #expect(share.file(named: fileName("change.txt"))?.digest == sha(Vectors.helloWorld))
        let changes = share.snapshot.changes(since: before)
        #expect(changes.added.map(\.name.rawValue) == ["change.txt", "new.txt"])
        #expect(changes.removed.map(\.rawValue) == ["delete.txt"])
    }

    @Test("new content of the same size is noticed through the modification time")
    func sameSizeNewContent() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("f", "abc")
        try folder.touch("f", secondsFromNow: -100)
        let share = try Share(folder: folder.path, cache: nil, logger: quietLogger)
        share.rescan()
        #expect(share.file(named: fileName("f"))?.digest == sha(Vectors.abc))
        try folder.write("f", "xyz")
        try folder.touch("f", secondsFromNow: 0)
        #expect(share.rescan())
        #expect(share.file(named: fileName("f"))?.digest != sha(Vectors.abc))
        #expect(share.file(named: fileName("f"))?.size == 3)
    }

    @Test("a file that was already hashed is not hashed again while its size and time stay")
    func unchangedFileNotRehashed() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write("f", "abc")
        try folder.setModified("f", secondsSince1970: 1_700_000_000)
        let share = try Share(folder: folder.path, cache: nil, logger: quietLogger)
        share.rescan()
        let first = try #require(share.file(named: fileName("f")))
        #expect(first.modified == 1_700_000_000 * 1_000_000_000)
        // Same size, same time, other bytes: only a rehash could notice, and none happens.
        try folder.write("f", "xyz")
        try folder.setModified("f", secondsSince1970: 1_700_000_000)
        #expect(!share.rescan())
        #expect(share.file(named: fileName("f")) == first)
    }

    @Test("a missing folder or a file is not a share", arguments: ["missing", "file"])
    func badFolder(_ kind: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/" + kind
        if kind == "file" { try folder.write(kind, "x") }
        let error = #expect(throws: PeerError.self) { try Share(folder: path, cache: nil, logger: quietLogger) }
        #expect(error?.code == .badShare)
        #expect(error?.message.contains(path) == true)
    }

    @Test("a share folder that disappears is a warning, not a crash")
    func folderVanishes() throws {
        let folder = try TemporaryFolder()
        try folder.write("a", "abc")
        let recorder = LogRecorder()
        let share = try Share(folder: folder.path, cache: nil, logger: recorder.logger)
        share.rescan()
        folder.remove()
        #expect(!share.rescan())
        #expect(recorder.warnings().contains("cannot read the share folder"))
        #expect(Self.names(share) == ["a"])
    }
}

@testable import FerryPeer
import FerryWire
import Testing

@Suite("ShareSnapshot: what changed, as the tracker sees it")
struct ShareSnapshotTests {
    static func file(_ name: String, _ size: UInt64 = 1, _ hex: String = Vectors.abc, path: String? = nil, modified: Int64 = 0) -> SharedFile {
        SharedFile(name: fileName(name), size: size, hashes: plantedHashes(hex, size: size), path: path ?? "/share/\(name)", modified: modified)
    }

    static func snapshot(_ files: [SharedFile]) -> ShareSnapshot {
        ShareSnapshot(files: Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0) }))
    }

    @Test("entries are sorted by name")
    func entries() {
        let snapshot = Self.snapshot([Self.file("b"), Self.file("a"), Self.file("C")])
        #expect(snapshot.entries.map(\.name.rawValue) == ["C", "a", "b"])
        #expect(snapshot.entries.first == SharedFileEntry(name: fileName("C"), size: 1, digest: sha(Vectors.abc),
                                                          root: plantedHashes(Vectors.abc, size: 1).tree.root.digest))
    }

    @Test("nothing changed")
    func unchanged() {
        let snapshot = Self.snapshot([Self.file("a"), Self.file("b")])
        let changes = snapshot.changes(since: snapshot)
        #expect(changes.added.isEmpty)
        #expect(changes.removed.isEmpty)
    }

    @Test("new names, new sizes and new digests are added; gone names are removed; both sorted")
    func changes() {
        let old = Self.snapshot([
            Self.file("same"), Self.file("resized", 1), Self.file("rehashed", 1, Vectors.abc), Self.file("gone2"), Self.file("gone1"),
        ])
        let new = Self.snapshot([
            Self.file("same"), Self.file("resized", 2), Self.file("rehashed", 1, Vectors.ab), Self.file("new2"), Self.file("new1"),
        ])
        let changes = new.changes(since: old)
        #expect(changes.added.map(\.name.rawValue) == ["new1", "new2", "rehashed", "resized"])
        #expect(changes.added.first { $0.name.rawValue == "rehashed" }?.digest == sha(Vectors.ab))
        #expect(changes.removed.map(\.rawValue) == ["gone1", "gone2"])
    }

    @Test("a new path or modification time with the same content is no change for the tracker")
    func localOnlyChange() {
        let old = Self.snapshot([Self.file("a", path: "/share/a", modified: 1)])
        let new = Self.snapshot([Self.file("a", path: "/share/target", modified: 2)])
        #expect(new != old)
        #expect(new.changes(since: old).added.isEmpty)
        #expect(new.changes(since: old).removed.isEmpty)
    }

    @Test("from nothing, everything is added; to nothing, everything is removed")
    func fromAndToNothing() {
        let full = Self.snapshot([Self.file("b"), Self.file("a")])
        #expect(full.changes(since: ShareSnapshot()).added.map(\.name.rawValue) == ["a", "b"])
        #expect(ShareSnapshot().changes(since: full).removed.map(\.rawValue) == ["a", "b"])
        #expect(ShareSnapshot().changes(since: full).added.isEmpty)
    }
}

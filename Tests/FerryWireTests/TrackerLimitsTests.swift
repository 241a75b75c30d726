import FerryWire
import Testing

@Suite("TrackerLimits: the limits the parsers enforce")
struct TrackerLimitsTests {
    @Test("the documented limits")
    func values() {
        #expect(TrackerLimits.maximumLineLength == 4096)
        #expect(TrackerLimits.maximumFilesPerPeer == 100_000)
        #expect(TrackerLimits.maximumNamesPerLookup == 256)
        #expect(TrackerLimits.maximumListEntries == 1000)
        #expect(TrackerLimits.maximumReplyLines == 200_000)
        #expect(TrackerLimits.heartbeatInterval < TrackerLimits.heartbeatTimeout)
        #expect(TrackerLimits.heartbeatTimeout < TrackerLimits.idleTimeout)
    }

    @Test("the longest possible request lines fit in a tracker line")
    func longestRequestsFit() throws {
        let longestName = try SharedFileName(validating: String(repeating: "\"", count: 255))   // doubles when quoted
        let entry = SharedFileEntry(name: longestName, size: UInt64(Int64.max), digest: digest(repeating: 0xFF))
        for request: TrackerRequest in [.file(entry), .add(entry), .remove(longestName)] {
            #expect(request.line.utf8.count <= TrackerLimits.maximumLineLength, "\(request.line.prefix(8))")
        }
    }

    @Test("UPDATE accepts up to the file limit")
    func updateLimit() throws {
        #expect(try TrackerRequest(parsing: "UPDATE \(TrackerLimits.maximumFilesPerPeer)") == .update(count: TrackerLimits.maximumFilesPerPeer))
        #expect(throws: TrackerProtocolError.self) { try TrackerRequest(parsing: "UPDATE \(TrackerLimits.maximumFilesPerPeer + 1)") }
    }
}

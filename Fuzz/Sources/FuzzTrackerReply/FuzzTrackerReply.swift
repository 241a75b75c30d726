import FerryWire
import FuzzSupport

/// The client's side of the tracker protocol: line framing with the client's limit, the reply
/// assembler, then the readers of SEND and LIST replies, as a peer or `ferry get` runs them against a
/// tracker that may be confused or hostile. No crash, the same frames however the stream is split, and
/// whatever a reader accepts survives a round trip through the tracker's encoders.
///
/// Input: one byte that chooses how the stream is split into reads, then the stream.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(start, count)
    guard let control = bytes.first else { return 0 }
    var assembler = TrackerReplyAssembler()
    for frame in checkedLineFrames(of: bytes.dropFirst(), seed: control, maximumLineLength: TrackerLimits.maximumLineLength) {
        guard case .line(let line) = frame else { continue }
        // Codes under 100 print with fewer than three digits (a tracker never sends them).
        if let parsed = TrackerReplyLine(parsing: line), parsed.status.code >= 100 {
            fuzzCheck(TrackerReplyLine(parsing: parsed.line) == parsed, "reply line round trip failed: \(line)")
        }
        let reply: TrackerReply
        do {
            guard let complete = try assembler.push(line) else { continue }
            reply = complete
        } catch {
            // The client closes the connection here; a fresh assembler stands for the next one.
            assembler = TrackerReplyAssembler()
            continue
        }
        if let results = try? LookupResult.results(of: reply) {
            let lines = results.flatMap(\.replyLines)
            fuzzCheck(lines.allSatisfy { isOneWireLine($0.line) }, "lookup results encode to more than one line each")
            let again = try? LookupResult.results(of: TrackerReply(lines: lines, final: reply.final))
            fuzzCheck(again != nil, "lookup results do not read back: \(lines)")
            // Control characters in names are shown as U+FFFD, so compare the structure.
            if let again {
                fuzzCheck(again.count == results.count, "lookup results round trip changed their number")
                for (first, second) in zip(results, again) {
                    if case .found(let groups) = first.outcome, case .found(let groupsAgain) = second.outcome {
                        fuzzCheck(groups == groupsAgain, "lookup groups changed in a round trip: \(groups) vs \(groupsAgain)")
                    }
                }
            }
        }
        if let entries = try? ListEntry.entries(of: reply) {
            let lines = entries.map(\.replyLine)
            fuzzCheck(lines.allSatisfy { isOneWireLine($0.line) }, "list entries encode to more than one line each")
            let again = try? ListEntry.entries(of: TrackerReply(lines: lines, final: reply.final))
            fuzzCheck(again?.count == entries.count, "list entries do not read back: \(lines)")
        }
    }
    return 0
}

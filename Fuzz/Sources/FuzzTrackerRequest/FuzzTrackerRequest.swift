import FerryWire
import FuzzSupport

/// Line framing as the tracker runs it, then the request parser: whatever the bytes, no crash, the
/// same frames however the stream is split, and every parsed request survives a round trip through
/// its own encoding.
///
/// Input: one byte that chooses how the stream is split into reads and whether to use a small line
/// limit (to reach the over-long-line paths), then the stream.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(start, count)
    guard let control = bytes.first else { return 0 }
    let limit = control & 0x80 != 0 ? Int(control & 0x0F) + 1 : TrackerLimits.maximumLineLength
    for frame in checkedLineFrames(of: bytes.dropFirst(), seed: control & 0x7F, maximumLineLength: limit) {
        guard case .line(let line) = frame else { continue }
        let request: TrackerRequest
        do {
            request = try TrackerRequest(parsing: line)
        } catch {
            let reply = trackerReplyLine(of: error) ?? "?"
            fuzzCheck(isOneWireLine(reply), "error reply is not one line: \(reply)")
            continue
        }
        let encoded = request.line
        fuzzCheck(isOneWireLine(encoded), "request encodes to more than one line: \(encoded)")
        do {
            let again = try TrackerRequest(parsing: encoded)
            fuzzCheck(again == request, "round trip changed \(request) into \(again) (line \(encoded))")
        } catch {
            fuzzCheck(false, "re-encoded request \(encoded) does not parse: \(error)")
        }
    }
    return 0
}

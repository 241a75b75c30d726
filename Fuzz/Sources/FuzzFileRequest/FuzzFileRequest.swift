import FerryWire
import FuzzSupport

/// The file server's request line and the reply line a downloader reads: line framing with the file
/// server's limit, then `FileServerRequest` (server side: `GET` or `LAYER`) and `FileReplyHeader`
/// and `PieceLayerReplyHeader` (client side). No crash, the same frames however the stream is split,
/// round trips through the encoders, and every refusal the server can send is read back by the
/// client as that refusal, by both reply readers.
///
/// Input: one byte that chooses how the stream is split into reads, then the stream.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(start, count)
    guard let control = bytes.first else { return 0 }
    let limit = FileProtocolLimits.maximumRequestLength
    for frame in checkedLineFrames(of: bytes.dropFirst(), seed: control, maximumLineLength: limit) {
        guard case .line(let line) = frame else { continue }
        do {
            let request = try FileServerRequest(parsing: line)
            let encoded = switch request {
            case .get(let get): get.line
            case .layer(let layer): layer.line
            }
            fuzzCheck(isOneWireLine(encoded), "request encodes to more than one line: \(encoded)")
            do {
                let again = try FileServerRequest(parsing: encoded)
                fuzzCheck(again == request, "round trip changed \(request) into \(again)")
            } catch {
                fuzzCheck(false, "re-encoded request \(encoded) does not parse: \(error)")
            }
        } catch {
            // What the server sends back; the client must read it as this refusal.
            guard let error = fileProtocolError(error) else {
                fuzzCheck(false, "FileRequest threw something else than a FileProtocolError: \(error)")
                continue
            }
            let reply = error.line
            fuzzCheck(isOneWireLine(reply), "refusal is not one line: \(reply)")
            fuzzCheck(reply.utf8.count <= FileProtocolLimits.maximumReplyLength,
                      "refusal of \(reply.utf8.count) bytes is longer than a client accepts: \(reply)")
            do {
                let header = try FileReplyHeader(parsing: reply)
                guard case .refused(let refusal) = header else {
                    fuzzCheck(false, "refusal \(reply) read as \(header)")
                    continue
                }
                fuzzCheck(refusal.status == error.status, "refusal \(reply) read with status \(refusal.status)")
            } catch {
                fuzzCheck(false, "client cannot read the refusal \(reply): \(error)")
            }
            do {
                let header = try PieceLayerReplyHeader(parsing: reply)
                guard case .refused(let refusal) = header else {
                    fuzzCheck(false, "refusal \(reply) read by LAYER as \(header)")
                    continue
                }
                fuzzCheck(refusal.status == error.status, "refusal \(reply) read by LAYER with status \(refusal.status)")
            } catch {
                fuzzCheck(false, "LAYER client cannot read the refusal \(reply): \(error)")
            }
        }
        if let header = try? PieceLayerReplyHeader(parsing: line) {
            let encoded = header.line
            fuzzCheck(isOneWireLine(encoded), "LAYER reply header encodes to more than one line: \(encoded)")
            if case .ok = header {
                fuzzCheck((try? PieceLayerReplyHeader(parsing: encoded)) == header, "LAYER reply header round trip failed: \(encoded)")
            }
        }
        if let header = try? FileReplyHeader(parsing: line) {
            let encoded = header.line
            fuzzCheck(isOneWireLine(encoded), "reply header encodes to more than one line: \(encoded)")
            if case .ok = header {
                fuzzCheck((try? FileReplyHeader(parsing: encoded)) == header, "reply header round trip failed: \(encoded)")
            }
        }
    }
    return 0
}

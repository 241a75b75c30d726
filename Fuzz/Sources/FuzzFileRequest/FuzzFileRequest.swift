import FerryWire
import FuzzSupport

/// The file server's request line and the reply line a downloader reads: line framing with the file
/// server's limit, then `FileServerRequest` (server side: `GET`, `LAYER` or `HAVE`) and
/// `FileReplyHeader`, `PieceLayerReplyHeader` and `HaveReplyHeader` (client side). No crash, the same frames however the stream is split,
/// round trips through the encoders, and every refusal the server can send is read back by the
/// client as that refusal, by every reply reader.
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
            case .have(let have): have.line
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
            // Each reader takes it as a refusal with its status (nil: it read a success).
            let readers: [(String, (String) throws -> FileProtocolError?)] = [
                ("GET", { if case .refused(let refusal) = try FileReplyHeader(parsing: $0) { refusal } else { nil } }),
                ("LAYER", { if case .refused(let refusal) = try PieceLayerReplyHeader(parsing: $0) { refusal } else { nil } }),
                ("HAVE", { if case .refused(let refusal) = try HaveReplyHeader(parsing: $0) { refusal } else { nil } }),
            ]
            for (reader, read) in readers {
                do {
                    let refusal = try read(reply)
                    fuzzCheck(refusal != nil, "refusal \(reply) read by the \(reader) client as a success")
                    fuzzCheck(refusal == nil || refusal!.status == error.status,
                              "refusal \(reply) read by the \(reader) client with status \(refusal!.status)")
                } catch {
                    fuzzCheck(false, "the \(reader) client cannot read the refusal \(reply): \(error)")
                }
            }
        }
        if let header = try? PieceLayerReplyHeader(parsing: line) {
            let encoded = header.line
            fuzzCheck(isOneWireLine(encoded), "LAYER reply header encodes to more than one line: \(encoded)")
            if case .ok = header {
                fuzzCheck((try? PieceLayerReplyHeader(parsing: encoded)) == header, "LAYER reply header round trip failed: \(encoded)")
            }
        }
        if let header = try? HaveReplyHeader(parsing: line) {
            let encoded = header.line
            fuzzCheck(isOneWireLine(encoded), "HAVE reply header encodes to more than one line: \(encoded)")
            if case .ok(_, _, _, let length) = header {
                fuzzCheck(length <= FileProtocolLimits.maximumChunkBitmapLength, "HAVE reply header over the bound: \(encoded)")
                fuzzCheck((try? HaveReplyHeader(parsing: encoded)) == header, "HAVE reply header round trip failed: \(encoded)")
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

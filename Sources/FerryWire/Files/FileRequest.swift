/// A request to a peer's file server: one line, then the reply.
///
/// ```
/// GET <offset> <end> <name>      <end> is exclusive, or * for the end of the file
///                                <name> quoted, or bare to the end of the line
/// ```
///
/// Example: `GET 0 * "a.txt"` asks for the whole file; `GET 1048576 * "a.txt"` resumes after 1 MiB.
public struct FileRequest: Hashable, Sendable {
    public var name: SharedFileName
    public var offset: UInt64
    /// The first byte not wanted, or `nil` for the end of the file.
    public var end: UInt64?

    public init(name: SharedFileName, offset: UInt64 = 0, end: UInt64? = nil) {
        self.name = name
        self.offset = offset
        self.end = end
    }

    /// Parses a request line (without its `\n`).
    public init(parsing line: String) throws(FileProtocolError) {
        var scanner = LineScanner(line)
        guard let verb = scanner.word(), verb.uppercased() == "GET" else {
            throw FileProtocolError(.malformed, "expected GET <offset> <end|*> <name>")
        }
        do {
            let offset = try scanner.number("offset")
            var end: UInt64?
            var endScanner = scanner
            if endScanner.word() == "*" {
                scanner = endScanner
            } else {
                end = try scanner.number("end")
            }
            let name = try FileServerRequest.validName(scanner.name())
            if let end, end < offset {
                throw FileProtocolError(.badRange, "end \(end) is before offset \(offset)")
            }
            self.init(name: name, offset: offset, end: end)
        } catch let error as FileProtocolError {
            throw error
        } catch {
            throw FileProtocolError(.malformed, "GET: \(error)")
        }
    }

    /// The request line, without `\n`.
    public var line: String {
        "GET \(offset) \(end.map(String.init) ?? "*") \(LineScanner.quote(name.rawValue))"
    }
}

/// The first line of a file server's reply.
///
/// ```
/// 200 <size> <sha256> <offset> <length>     then exactly <length> bytes of the file from <offset>
/// <code> <text>                             an error; the server closes the connection
/// ```
public enum FileReplyHeader: Hashable, Sendable {
    case ok(size: UInt64, digest: ContentDigest, offset: UInt64, length: UInt64)
    case refused(FileProtocolError)

    /// Parses the reply line (without its `\n`); throws when it follows no known form.
    public init(parsing line: String) throws(FileProtocolError) {
        let text: String
        switch try FileProtocolError.okText(ofReply: line) {
        case .success(let ok): text = ok
        case .failure(let refusal):
            self = .refused(refusal)
            return
        }
        var scanner = LineScanner(text)
        do {
            let size = try scanner.number("size")
            guard let hex = scanner.word(), let digest = ContentDigest(hex: hex) else {
                throw SyntaxError("sha256 must be 64 hexadecimal digits")
            }
            let offset = try scanner.number("offset")
            let length = try scanner.number("length")
            guard scanner.isAtEnd else { throw SyntaxError("unexpected text at the end of the line") }
            guard offset <= size, length <= size - offset else {
                throw SyntaxError("range \(offset)+\(length) is outside a file of \(size) bytes")
            }
            self = .ok(size: size, digest: digest, offset: offset, length: length)
        } catch {
            throw FileProtocolError(.malformed, "peer reply: \(error)")
        }
    }

    /// The reply line, without `\n`.
    public var line: String {
        switch self {
        case .ok(let size, let digest, let offset, let length):
            return "200 \(size) \(digest.hex) \(offset) \(length)"
        case .refused(let error):
            return error.line
        }
    }
}

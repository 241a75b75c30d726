/// A request for a file's piece layer (its BEP 52 chunk hashes): one line, then the reply.
///
/// ```
/// LAYER <sha256> <name>      <name> quoted, or bare to the end of the line
/// ```
///
/// The SHA-256 says which content the client wants the layer of: a server that shares other content
/// under that name answers `404`, so that a layer is never taken for the wrong file.
public struct PieceLayerRequest: Hashable, Sendable {
    public var name: SharedFileName
    public var digest: ContentDigest

    public init(name: SharedFileName, digest: ContentDigest) {
        self.name = name
        self.digest = digest
    }

    /// Parses a request line (without its `\n`) that starts with `LAYER`.
    public init(parsing line: String) throws(FileProtocolError) {
        let (name, digest) = try FileServerRequest.digestAndName(of: line, verb: "LAYER")
        self.init(name: name, digest: digest)
    }

    /// The request line, without `\n`.
    public var line: String {
        "LAYER \(digest.hex) \(LineScanner.quote(name.rawValue))"
    }
}

/// Any request a file server takes: `GET` (bytes), `LAYER` (chunk hashes) or `HAVE` (which chunks).
public enum FileServerRequest: Hashable, Sendable {
    case get(FileRequest)
    case layer(PieceLayerRequest)
    case have(HaveRequest)

    /// Parses a request line (without its `\n`) by its verb; anything else is `400`.
    public init(parsing line: String) throws(FileProtocolError) {
        var scanner = LineScanner(line)
        switch scanner.word()?.uppercased() {
        case "LAYER": self = .layer(try PieceLayerRequest(parsing: line))
        case "HAVE": self = .have(try HaveRequest(parsing: line))
        default: self = .get(try FileRequest(parsing: line))     // its error names GET, the usual request
        }
    }

    /// Reads `<verb> <sha256> <name>`, the shape of `LAYER` and `HAVE`: `400` for a bad line, `403` for
    /// a name that breaks the name rule.
    static func digestAndName(of line: String, verb: String) throws(FileProtocolError) -> (SharedFileName, ContentDigest) {
        var scanner = LineScanner(line)
        guard let word = scanner.word(), word.uppercased() == verb else {
            throw FileProtocolError(.malformed, "expected \(verb) <sha256> <name>")
        }
        do {
            guard let hex = scanner.word(), let digest = ContentDigest(hex: hex) else {
                throw SyntaxError("sha256 must be 64 hexadecimal digits")
            }
            return (try validName(scanner.name()), digest)
        } catch let error as FileProtocolError {
            throw error
        } catch {
            throw FileProtocolError(.malformed, "\(verb): \(error)")
        }
    }

    /// A name from a request, checked against the name rule (`403` when it breaks it).
    static func validName(_ raw: String) throws(FileProtocolError) -> SharedFileName {
        do {
            return try SharedFileName(validating: raw)
        } catch {
            throw FileProtocolError(.badName, "bad name \(LineScanner.quote(TrackerReplyLine.printable(raw))): \(error)")
        }
    }
}

/// The first line of a file server's reply to `LAYER`.
///
/// ```
/// 200 <size> <sha256> <chunk-size> <root> <length>    then exactly <length> bytes: 32 per chunk
/// <code> <text>                                       an error; the server closes the connection
/// ```
///
/// `<length>` is 32 × the number of chunks for a file of more than one chunk, and 0 otherwise (BEP 52
/// has no piece layer for a file of one chunk or less: its root is checked directly). A reply that
/// breaks these rules, or announces more than ``FileProtocolLimits/maximumPieceLayerLength`` bytes,
/// does not parse: a hostile server cannot make a client wait for or hold more.
public enum PieceLayerReplyHeader: Hashable, Sendable {
    case ok(size: UInt64, digest: ContentDigest, chunkSize: UInt64, root: ContentDigest, length: Int)
    case refused(FileProtocolError)

    /// The bytes of a piece layer of a file of `size` bytes in chunks of `chunkSize` (a power of two
    /// of at least 16 KiB): 32 per chunk, 0 for one chunk or none.
    public static func layerLength(size: UInt64, chunkSize: UInt64) -> UInt64 {
        let chunks = size / chunkSize + (size % chunkSize == 0 ? 0 : 1)
        return chunks > 1 ? chunks * 32 : 0
    }

    /// Whether `chunkSize` is a power of two from 16 KiB to 2^62 (BEP 52's rule for piece lengths).
    public static func isValidChunkSize(_ chunkSize: UInt64) -> Bool {
        chunkSize >= 16 * 1024 && chunkSize <= 1 << 62 && chunkSize.nonzeroBitCount == 1
    }

    /// Parses the reply line (without its `\n`); throws when it follows no known form or breaks a rule.
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
            let chunkSize = try scanner.number("chunk size")
            guard Self.isValidChunkSize(chunkSize) else { throw SyntaxError("chunk size \(chunkSize) is not a power of two from 16 KiB") }
            guard let rootHex = scanner.word(), let root = ContentDigest(hex: rootHex) else {
                throw SyntaxError("root must be 64 hexadecimal digits")
            }
            guard SharedFileEntry.isPlausible(root: root, size: size) else {
                throw SyntaxError("root \(root.shortHex)… cannot be the root of a file of \(size) bytes")
            }
            let length = try scanner.number("length")
            guard scanner.isAtEnd else { throw SyntaxError("unexpected text at the end of the line") }
            guard length == Self.layerLength(size: size, chunkSize: chunkSize) else {
                throw SyntaxError("a layer of \(length) bytes does not fit \(size) bytes in chunks of \(chunkSize)")
            }
            guard length <= UInt64(FileProtocolLimits.maximumPieceLayerLength) else {
                throw SyntaxError("a layer of \(length) bytes is over \(FileProtocolLimits.maximumPieceLayerLength)")
            }
            self = .ok(size: size, digest: digest, chunkSize: chunkSize, root: root, length: Int(length))
        } catch {
            throw FileProtocolError(.malformed, "peer reply: \(error)")
        }
    }

    /// The reply line, without `\n`.
    public var line: String {
        switch self {
        case .ok(let size, let digest, let chunkSize, let root, let length):
            return "200 \(size) \(digest.hex) \(chunkSize) \(root.hex) \(length)"
        case .refused(let error):
            return error.line
        }
    }
}

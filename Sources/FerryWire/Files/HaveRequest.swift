/// A request for the chunks a peer has of a file (a bitmap): one line, then the reply.
///
/// ```
/// HAVE <sha256> <name>      <name> quoted, or bare to the end of the line
/// ```
///
/// A partial holder (a peer still downloading the file) answers with the chunks it has verified; a
/// peer that shares the whole file sets every bit. As with `LAYER`, the SHA-256 says which content.
public struct HaveRequest: Hashable, Sendable {
    public var name: SharedFileName
    public var digest: ContentDigest

    public init(name: SharedFileName, digest: ContentDigest) {
        self.name = name
        self.digest = digest
    }

    /// Parses a request line (without its `\n`) that starts with `HAVE`.
    public init(parsing line: String) throws(FileProtocolError) {
        let (name, digest) = try FileServerRequest.digestAndName(of: line, verb: "HAVE")
        self.init(name: name, digest: digest)
    }

    /// The request line, without `\n`.
    public var line: String {
        "HAVE \(digest.hex) \(LineScanner.quote(name.rawValue))"
    }
}

/// The first line of a file server's reply to `HAVE`.
///
/// ```
/// 200 <size> <sha256> <chunk-size> <length>    then exactly <length> bytes: the bitmap (ChunkBitmap)
/// <code> <text>                                an error; the server closes the connection
/// ```
///
/// `<length>` is one bit per chunk rounded up to bytes, at most
/// ``FileProtocolLimits/maximumChunkBitmapLength``; a reply that breaks that does not parse.
public enum HaveReplyHeader: Hashable, Sendable {
    case ok(size: UInt64, digest: ContentDigest, chunkSize: UInt64, length: Int)
    case refused(FileProtocolError)

    /// The bytes of the bitmap of a file of `size` bytes in chunks of `chunkSize`.
    public static func bitmapLength(size: UInt64, chunkSize: UInt64) -> UInt64 {
        let chunks = size / chunkSize + (size % chunkSize == 0 ? 0 : 1)
        return (chunks + 7) / 8
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
            guard PieceLayerReplyHeader.isValidChunkSize(chunkSize) else {
                throw SyntaxError("chunk size \(chunkSize) is not a power of two from 16 KiB")
            }
            let length = try scanner.number("length")
            guard scanner.isAtEnd else { throw SyntaxError("unexpected text at the end of the line") }
            guard length == Self.bitmapLength(size: size, chunkSize: chunkSize) else {
                throw SyntaxError("a bitmap of \(length) bytes does not fit \(size) bytes in chunks of \(chunkSize)")
            }
            guard length <= UInt64(FileProtocolLimits.maximumChunkBitmapLength) else {
                throw SyntaxError("a bitmap of \(length) bytes is over \(FileProtocolLimits.maximumChunkBitmapLength)")
            }
            self = .ok(size: size, digest: digest, chunkSize: chunkSize, length: Int(length))
        } catch {
            throw FileProtocolError(.malformed, "peer reply: \(error)")
        }
    }

    /// The reply line, without `\n`.
    public var line: String {
        switch self {
        case .ok(let size, let digest, let chunkSize, let length):
            return "200 \(size) \(digest.hex) \(chunkSize) \(length)"
        case .refused(let error):
            return error.line
        }
    }
}

import FerryWire
import NIOCore

/// One request for a range of a file to one peer over one transport: what ``TCPFetcher`` and
/// ``UDPFetcher`` have in common, so that the ``Downloader`` and a ``SwarmDownload`` treat them alike.
protocol FileFetcher: Sendable {
    /// Asks `holder` for bytes `range` of `name`, checking that the peer offers exactly the expected
    /// content (`size`, `digest`) and that range, and hands what arrives, in order, to `deliver`.
    /// `deliver` returns `false` when it wants no more: the request then ends at once, with no error.
    /// An error `deliver` throws ends the request: a ``PartFileError`` with its code (a local failure).
    /// (`deliver` throws untyped: async closures with typed throws have been miscompiled by Swift.)
    func fetch(
        _ name: SharedFileName,
        size: UInt64,
        digest: ContentDigest,
        range: Range<UInt64>,
        from holder: Holder,
        deliver: (ByteBuffer) async throws -> Bool
    ) async -> FetchResult
}

extension FileFetcher {
    /// Asks `holder` for `name` from the part file's current length to the end and appends what
    /// arrives; `progress` gets the bytes appended so far.
    func fetch(
        _ name: SharedFileName,
        size: UInt64,
        digest: ContentDigest,
        from holder: Holder,
        into part: PartFile,
        progress: (UInt64) -> Void
    ) async -> FetchResult {
        var appended: UInt64 = 0
        return await fetch(name, size: size, digest: digest, range: part.length..<size, from: holder) { buffer in
            try await part.append(buffer)
            appended += UInt64(buffer.readableBytes)
            progress(appended)
            return true
        }
    }
}

/// How a request ended: the bytes it handed over, and the error that stopped it (`nil`: the range
/// arrived, or the receiver wanted no more).
struct FetchResult: Sendable {
    var bytes: UInt64
    var error: TransferError?
    var message: String?
}

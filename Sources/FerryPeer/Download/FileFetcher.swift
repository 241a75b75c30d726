import FerryWire

/// One attempt to fetch a file from one peer over one transport, into a ``PartFile``: what
/// ``TCPFetcher`` and ``UDPFetcher`` have in common, so that the ``Downloader`` treats them alike.
protocol FileFetcher: Sendable {
    /// Asks `holder` for `name` from the part file's current length to the end and appends what
    /// arrives, checking that the peer offers exactly the expected content (`size`, `digest`).
    func fetch(
        _ name: SharedFileName,
        size: UInt64,
        digest: ContentDigest,
        from holder: Holder,
        into part: PartFile,
        progress: (UInt64) -> Void
    ) async -> FetchResult
}

/// How an attempt ended: the bytes it appended, and the error that stopped it (`nil`: complete).
struct FetchResult: Sendable {
    var bytes: UInt64
    var error: TransferError?
    var message: String?
}

/// The limits of the tracker protocol. A line or count over a limit gets an error reply, never a crash.
/// Every limit here is listed in docs/PROTOCOL.md, with what a client over it gets.
public enum TrackerLimits {
    /// The longest line a tracker accepts, in bytes, without the `\n`.
    public static let maximumLineLength = 4096
    /// The most files one peer may share at once.
    public static let maximumFilesPerPeer = 100_000
    /// The most names one `SEND` may ask for.
    public static let maximumNamesPerLookup = 256
    /// The most entries one `LIST` returns.
    public static let maximumListEntries = 1000
    /// The most reply lines a client accepts for one request before giving up on the tracker.
    public static let maximumReplyLines = 200_000
    /// The interval at which a peer sends `PING`, in seconds.
    public static let heartbeatInterval = 3
    /// A registered peer silent for this many seconds is dropped from the index.
    public static let heartbeatTimeout = 9
    /// A connection that has not said `HELLO` is closed (`421`) after this many silent seconds. Short, so
    /// that connections that never register cannot hold the tracker's slots for long.
    public static let idleTimeout = 10
    /// The most connections a tracker serves at once.
    public static let maximumConnections = 4096
    /// The most connections one IP address may hold open at once.
    public static let maximumConnectionsPerAddress = 64
    /// Connection slots kept for addresses that hold few connections: once fewer than this many slots
    /// are free, an address that already holds ``maximumConnectionsPerAddressWhenCrowded`` connections is
    /// refused, so that one busy address cannot take the last slots from everyone else.
    public static let reservedConnectionsForNewAddresses = 512
    /// The most connections one address may hold while the tracker is crowded (see above).
    public static let maximumConnectionsPerAddressWhenCrowded = 4
    /// A `HELLO` for the host and TCP port of a live session on another connection is refused (`423`)
    /// while that session was heard from within this many seconds; after that the new connection takes
    /// the session over and the old one is sent `421` and closed. A little more than one heartbeat
    /// interval: a live peer always speaks within it, a peer that reconnected after a network blip gets
    /// in within it.
    public static let helloTakeoverQuietPeriod = 5
    /// The most bytes one connection's pending `UPDATE` may hold (each `FILE` costs its name's UTF-8
    /// bytes plus ``pendingUpdateEntryOverhead``, plus ``pendingUpdateRootOverhead`` with a root). An `UPDATE` over it is aborted with `413`.
    public static let maximumPendingUpdateBytes = 16 << 20
    /// The most bytes all connections' pending `UPDATE`s may hold together; an `UPDATE` that would go
    /// over it is aborted with `413` too; it may be retried when others complete.
    public static let maximumPendingUpdateBytesInAll = 256 << 20
    /// What one pending `FILE` costs besides its name, in bytes (size, digest, bookkeeping).
    public static let pendingUpdateEntryOverhead = 96
    /// What a pending `FILE`'s root costs on top, in bytes (its 32 bytes and their allocation).
    public static let pendingUpdateRootOverhead = 64
    /// The most refused-`FILE` lines one `UPDATE` reply reports one by one; more are only counted in
    /// its final `200 UPDATED <kept> <refused>` line.
    public static let maximumRefusedLinesPerUpdate = 100
    /// Bytes of replies a tracker queues for one connection before it stops reading that connection's
    /// requests until the client reads its replies (backpressure).
    public static let outboundBufferHighWaterMark = 32 << 10
    /// The queue length, in bytes, below which a stopped connection is read again.
    public static let outboundBufferLowWaterMark = 8 << 10
    /// The most bytes the tracker reads from one connection at a time (reads start at 1 KiB and grow
    /// while they come full).
    public static let receiveBufferSize = 8 << 10
    /// The kernel's send buffer for one tracker connection (`SO_SNDBUF`). Fixed and small, so that a
    /// client that does not read holds at most this much of replies in the kernel, plus
    /// ``outboundBufferHighWaterMark`` in the tracker, before the tracker stops reading it; the kernel's
    /// automatic tuning would let it grow to megabytes, each reply costing the tracker work first.
    public static let socketSendBufferSize = 32 << 10
    /// The kernel's receive buffer for one tracker connection (`SO_RCVBUF`): requests waiting there
    /// cost no work until the tracker reads them.
    public static let socketReceiveBufferSize = 128 << 10
}

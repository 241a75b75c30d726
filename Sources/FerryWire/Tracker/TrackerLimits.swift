/// The limits of the tracker protocol. A line or count over a limit gets an error reply, never a crash.
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
    /// A connection that never registered is closed after this many idle seconds.
    public static let idleTimeout = 300
    /// The most connections a tracker serves at once.
    public static let maximumConnections = 4096
}

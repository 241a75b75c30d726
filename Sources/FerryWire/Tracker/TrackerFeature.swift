/// Words a tracker lists after `200 HELLO <ip> <heartbeat-timeout>`: what it understands beyond the
/// first version of the protocol. Peers ignore words they do not know, and older peers ignore them
/// all, so a tracker may list more as it learns more.
public enum TrackerFeature {
    /// `FILE` and `ADD` lines may carry the BEP 52 root after a quoted name, and `SEND` replies give it.
    /// A peer sends roots only to a tracker that lists this word: an older tracker refuses the lines.
    public static let roots = "ROOTS"

    /// `ADD` lines may end with `PARTIAL` (a peer still downloading the file, serving the chunks it
    /// has), and `SEND` replies mark such holders with `PARTIAL` after their ports. A peer announces
    /// partial files only to a tracker that lists this word.
    public static let partial = "PARTIAL"

    /// The feature words of a `HELLO` reply's final text (`HELLO <ip> <timeout> [<feature> …]`),
    /// in upper case. At most ``maximumFeatureCount`` are read; the rest are ignored.
    public static func features(ofHelloReply text: String) -> Set<String> {
        var scanner = LineScanner(text)
        for _ in 0..<3 { _ = scanner.word() }     // HELLO, the address, the timeout
        var features = Set<String>()
        while features.count < maximumFeatureCount, let word = scanner.word() {
            features.insert(word.uppercased())
        }
        return features
    }

    /// How many feature words a peer reads from a `HELLO` reply.
    public static let maximumFeatureCount = 32
}

import Testing

/// Every end-to-end test runs real servers on loopback: the tracker on 127.0.0.1, peers on
/// 127.0.0.2, 127.0.0.3, … each on port 5555. They share those addresses, so they run one at a time.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct EndToEndTests {}

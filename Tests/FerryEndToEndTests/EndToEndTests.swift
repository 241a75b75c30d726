import FerryTestSupport
import Testing

/// Every end-to-end test runs real servers on loopback: the tracker on 127.0.0.1 (a free port), peers
/// on `host(2)`, `host(3)`, … each on port 5555, in a 127.A.B.0/24 network drawn for this run (see
/// `loopbackPrefix`). The tests of one run share those addresses, so they run one at a time.
@Suite(.serialized, .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 2))))
struct EndToEndTests {}

import FerryTestSupport
import FerryUDP
import Testing

/// Prints the simulated goodput of an 8 MiB transfer (1 MiB under a sanitizer) over a 100 MB/s, 1 ms RTT bottleneck (queue of
/// 128 datagrams) at several random-loss rates, for BBR and, for comparison, NewReno. Timings are
/// reported, not asserted; the transfer itself must still be exact.
@Suite("Goodput report")
struct GoodputReport {
    static func setup(loss: Double, algorithm: UDPCongestionAlgorithm) -> TransferSimulation.Setup {
        var setup = TransferSimulation.Setup()
        setup.fileSize = Sanitizers.scaled(8 << 20, sanitized: 1 << 20)
        setup.seed = 42
        setup.connection.congestionControl = algorithm
        setup.forward = LossyLink.Configuration(
            delay: .microseconds(500),
            lossRate: loss,
            bandwidth: 100_000_000,
            queueLimit: 128 * 1200
        )
        setup.backward = LossyLink.Configuration(delay: .microseconds(500), lossRate: loss)
        return setup
    }

    @Test(arguments: [UDPCongestionAlgorithm.bbr, .newReno], [0.0, 0.01, 0.05])
    func goodput(algorithm: UDPCongestionAlgorithm, loss: Double) async {
        let result = await TransferSimulation.run(Self.setup(loss: loss, algorithm: algorithm))
        #expect(result.clientOutcome == .completed)
        #expect(result.serverOutcome == .completed)
        #expect(result.mismatches == 0)
        let server = result.serverStatistics ?? UDPConnectionStatistics()
        let seconds = result.completeAt?.seconds ?? 0
        let name = algorithm == .bbr ? "BBR    " : "NewReno"
        let megabytes = (result.goodput / 1e5).rounded() / 10
        let milliseconds = (seconds * 10_000).rounded() / 10
        print(
            "goodput \(name) loss \(loss * 100)%: \(megabytes) MB/s (\(milliseconds) ms);",
            "\(server.packetsLost) packets lost, \(server.streamBytesRetransmitted) bytes resent,",
            "\(result.forward.queueDrops) queue drops"
        )
    }
}

import Testing

@testable import FerryUDP

/// The search for the largest datagram a path carries: the pure search, then whole transfers over
/// simulated paths of several MTUs, and a path that shrinks mid-transfer.
@Suite("Path MTU discovery")
struct PathMTUDiscoveryTests {
    @Test func climbsTheLadderOneConfirmedProbeAtATime() {
        var search = PathMTUDiscovery(baseSize: 1200, ladder: [8192, 1472, 1000, 1452, 1472])
        #expect(search.ladder == [1452, 1472, 8192])
        #expect(search.datagramSize == 1200)
        for size in [1452, 1472, 8192] {
            #expect(search.sizeToProbe == size)
            search.onProbeSent()
            #expect(search.sizeToProbe == nil, "one probe in flight at a time")
            search.onProbeAcknowledged()
            #expect(search.datagramSize == size)
        }
        #expect(search.isComplete)
        #expect(search.sizeToProbe == nil)
    }

    @Test func stopsAtTheLastSizeThatWorkedAfterThreeLostProbes() {
        var search = PathMTUDiscovery(baseSize: 1200, ladder: PathMTUDiscoveryTests.standard)
        search.onProbeSent()
        search.onProbeAcknowledged()
        for attempt in 1...PathMTUDiscovery.maximumProbes {
            #expect(search.sizeToProbe == 1472, "attempt \(attempt)")
            search.onProbeSent()
            search.onProbeLost()
        }
        #expect(search.isComplete)
        #expect(search.datagramSize == 1452)
        // An acknowledgement that arrives after the probe was declared lost changes nothing.
        search.onProbeAcknowledged()
        #expect(search.datagramSize == 1452)
    }

    @Test func aLostProbeIsRetriedAndThenMayStillSucceed() {
        var search = PathMTUDiscovery(baseSize: 1200, ladder: [1452])
        search.onProbeSent()
        search.onProbeLost()
        #expect(search.sizeToProbe == 1452)
        search.onProbeSent()
        search.onProbeAcknowledged()
        #expect(search.datagramSize == 1452)
        #expect(search.isComplete)
    }

    @Test func persistentTimeoutsFallBackToTheBaseSize() {
        var search = PathMTUDiscovery(baseSize: 1200, ladder: PathMTUDiscoveryTests.standard)
        let changed = search.onPersistentProbeTimeouts()
        #expect(!changed, "nothing to undo at the base size")
        #expect(search.isComplete, "a path in trouble is not searched further")

        var raised = PathMTUDiscovery(baseSize: 1200, ladder: PathMTUDiscoveryTests.standard)
        raised.onProbeSent()
        raised.onProbeAcknowledged()
        let fellBack = raised.onPersistentProbeTimeouts()
        #expect(fellBack)
        #expect(raised.datagramSize == 1200)
        #expect(raised.sizeToProbe == nil)
    }

    @Test func anEmptyLadderMeansNoDiscovery() {
        let search = PathMTUDiscovery(baseSize: 1472, ladder: [1200, 1452])
        #expect(search.isComplete)
        #expect(search.sizeToProbe == nil)
    }

    static let standard = UDPConfiguration.standardProbeSizes

    /// A 1 ms RTT, 50 MB/s path, lossy if asked, carrying datagrams up to `pathLimit` bytes.
    static func path(limit pathLimit: Int?, loss: Double = 0, seed: UInt64 = 1) -> TransferSimulation.Setup {
        var setup = TransferSimulation.Setup()
        setup.fileSize = 3 << 20
        setup.seed = seed
        setup.connection.pathMTUProbeSizes = Self.standard
        setup.forward = LossyLink.Configuration(
            delay: .microseconds(500),
            lossRate: loss,
            bandwidth: 50_000_000,
            queueLimit: 256 * 1200,
            maximumDatagramSize: pathLimit
        )
        setup.backward = LossyLink.Configuration(delay: .microseconds(500), lossRate: loss, maximumDatagramSize: pathLimit)
        return setup
    }

    @Test(arguments: [(Int?.none, 8192), (1500 - 28, 1472), (1500 - 48, 1452), (1280 - 48, 1200)])
    func transfersFindThePathsLargestDatagram(pathLimit: Int?, expected: Int) async throws {
        let result = await TransferSimulation.run(Self.path(limit: pathLimit))
        TransferTests.expectSuccess(result, bytes: 3 << 20)
        let server = try #require(result.serverStatistics)
        #expect(server.datagramSize == expected)
        // Only probes were too large: the first size the path refused cost three probes, and the
        // search stopped there.
        let refused = expected == Self.standard.last ? 0 : PathMTUDiscovery.maximumProbes
        #expect(result.forward.tooLarge == refused)
    }

    @Test func lostProbesCostNothingButThemselves() async throws {
        // No bottleneck queue and no random loss: the only losses are the refused probes.
        var setup = Self.path(limit: 1472)
        setup.forward.bandwidth = nil
        let result = await TransferSimulation.run(setup)
        TransferTests.expectSuccess(result, bytes: 3 << 20)
        let server = try #require(result.serverStatistics)
        #expect(server.datagramSize == 1472)
        #expect(result.forward.tooLarge == PathMTUDiscovery.maximumProbes)
        #expect(server.packetsLost == PathMTUDiscovery.maximumProbes)
        #expect(server.streamBytesRetransmitted == 0, "a probe carries no file bytes")
        #expect(server.probeTimeouts == 0)
    }

    @Test(arguments: 0..<4)
    func discoveryWorksUnderLoss(seed: UInt64) async {
        let result = await TransferSimulation.run(Self.path(limit: 1472, loss: 0.05, seed: seed))
        TransferTests.expectSuccess(result, bytes: 3 << 20)
        // Five-percent loss may cost a size three probes in a row only rarely; the transfer is
        // exact whatever size it settled on.
        #expect([1200, 1452, 1472].contains(result.serverStatistics?.datagramSize ?? 0))
    }

    @Test func aSlowShortPathStillSendsTheLargerDatagrams() async throws {
        // 2 MB/s and a 100 µs RTT: BBR's window is a few kilobytes, smaller than one 8192-byte
        // datagram unless the controller learns the new size.
        var setup = Self.path(limit: nil)
        setup.fileSize = 1 << 20
        setup.forward.delay = .microseconds(50)
        setup.forward.bandwidth = 2_000_000
        setup.backward.delay = .microseconds(50)
        let result = await TransferSimulation.run(setup)
        TransferTests.expectSuccess(result, bytes: 1 << 20)
        let server = try #require(result.serverStatistics)
        #expect(server.datagramSize == 8192)
        #expect(server.probeTimeouts == 0)
    }

    @Test(arguments: [UDPCongestionAlgorithm.bbr, .newReno])
    func controllersKeepAWindowOfSeveralLargerDatagrams(algorithm: UDPCongestionAlgorithm) {
        var controller: any CongestionController<TestInstant> = switch algorithm {
        case .bbr: BBRCongestionController(maxDatagramSize: 1200, initialWindowPackets: 2, now: .zero)
        case .newReno: NewRenoCongestionController(maxDatagramSize: 1200, initialWindowPackets: 2)
        }
        #expect(controller.congestionWindow == 2400)
        controller.onDatagramSizeChanged(8192)
        #expect(controller.congestionWindow >= 2 * 8192)
    }

    @Test func aPathThatShrinksMidTransferFallsBackToTheBaseSize() async throws {
        var setup = Self.path(limit: nil)
        setup.fileSize = 8 << 20
        setup.shrinkForward = (at: .milliseconds(60), maximumDatagramSize: 1472)
        let result = await TransferSimulation.run(setup)
        TransferTests.expectSuccess(result, bytes: 8 << 20)
        let server = try #require(result.serverStatistics)
        #expect(server.datagramSize == 1200)
        #expect(server.probeTimeouts >= 2)
        #expect(result.forward.tooLarge > 3 * PathMTUDiscovery.maximumProbes, "8192-byte datagrams were in use when the path shrank")
    }
}

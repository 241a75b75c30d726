import CoreMetrics
import FerryUDP
import Prometheus

/// One peer's metrics, in a registry of its own (tests run many peers in one process; nothing goes
/// through the global `MetricsSystem`). Counted per transfer or per progress report, never per
/// datagram: the transfer paths are not slowed.
public final class PeerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let servedTCP: CoreMetrics.Counter
    let servedUDP: CoreMetrics.Counter
    let receivedTCP: CoreMetrics.Counter
    let receivedUDP: CoreMetrics.Counter
    let chunkFailures: CoreMetrics.Counter
    let failedAttempts: CoreMetrics.Counter
    let retransmittedBytes: CoreMetrics.Counter
    let packetsLost: CoreMetrics.Counter
    let congestionWindow: CoreMetrics.Gauge
    let activeDownloads: CoreMetrics.Gauge
    let activeUploads: CoreMetrics.Gauge

    public init() {
        let factory = PrometheusMetricsFactory(registry: registry)
        func counter(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory)
        }
        servedTCP = counter("ferry_peer_bytes_served_total", [("transport", "tcp")])
        servedUDP = counter("ferry_peer_bytes_served_total", [("transport", "udp")])
        receivedTCP = counter("ferry_peer_bytes_received_total", [("transport", "tcp")])
        receivedUDP = counter("ferry_peer_bytes_received_total", [("transport", "udp")])
        chunkFailures = counter("ferry_peer_chunk_failures_total")
        failedAttempts = counter("ferry_peer_failed_attempts_total")
        retransmittedBytes = counter("ferry_peer_udp_retransmitted_bytes_total")
        packetsLost = counter("ferry_peer_udp_packets_lost_total")
        congestionWindow = CoreMetrics.Gauge(label: "ferry_peer_udp_congestion_window_bytes", factory: factory)
        activeDownloads = CoreMetrics.Gauge(label: "ferry_peer_active_transfers", dimensions: [("direction", "download")], factory: factory)
        activeUploads = CoreMetrics.Gauge(label: "ferry_peer_active_transfers", dimensions: [("direction", "upload")], factory: factory)
        for gauge in [congestionWindow, activeDownloads, activeUploads] { gauge.record(0) }
    }

    /// A TCP upload handed `bytes` of file to the socket.
    func served(tcp bytes: UInt64) {
        servedTCP.increment(by: Int64(clamping: bytes))
    }

    /// A UDP upload ended: its bytes, losses and retransmissions, and the congestion window it ended
    /// with (the gauge shows the latest upload's).
    func udpUploadEnded(_ statistics: UDPConnectionStatistics) {
        servedUDP.increment(by: Int64(statistics.bytesSent))
        if statistics.streamBytesRetransmitted > 0 { retransmittedBytes.increment(by: Int64(statistics.streamBytesRetransmitted)) }
        if statistics.packetsLost > 0 { packetsLost.increment(by: Int64(statistics.packetsLost)) }
        if let window = statistics.congestionWindow { congestionWindow.record(window) }
    }

    func received(_ bytes: UInt64, transport: Transport) {
        guard bytes > 0 else { return }
        (transport == .udp ? receivedUDP : receivedTCP).increment(by: Int64(clamping: bytes))
    }
}

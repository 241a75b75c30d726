@testable import FerryPeer
import FerryWire
import Testing

@Suite("DownloadOutcome.holderReports: what a download tells the tracker about its holders")
struct HolderReportsTests {
    typealias Attempt = DownloadOutcome.AttemptRecord
    typealias Source = DownloadOutcome.SourceRecord

    static func outcome(_ status: DownloadOutcome.Status, attempts: [Attempt], sources: [Source]? = nil) -> DownloadOutcome {
        DownloadOutcome(name: "f", status: status, bytes: 100, seconds: 2, attempts: attempts, sources: sources)
    }

    @Test("a holder that delivered served, over the download's time; one that could not be reached failed")
    func servedAndFailed() {
        let reports = Self.outcome(.ok, attempts: [
            Attempt(peer: "127.0.0.2:5555", transport: .tcp, bytes: 0, error: .connectFailed, message: nil),
            Attempt(peer: "127.0.0.3:5555", transport: .tcp, bytes: 100, error: nil, message: nil),
        ]).holderReports
        #expect(reports == [
            HolderReport(host: "127.0.0.2", tcpPort: 5555, verdict: .failed),
            HolderReport(host: "127.0.0.3", tcpPort: 5555, verdict: .served(bytes: 100, milliseconds: 2000)),
        ])
    }

    @Test("sources are summed per holder over transports; a bad chunk makes it failed; IPv6 in brackets")
    func swarm() {
        let reports = Self.outcome(.ok, attempts: [], sources: [
            Source(peer: "[::1]:6000", transport: .tcp, bytes: 30, chunks: 1),
            Source(peer: "127.0.0.4:5555", transport: .udp, bytes: 50, chunks: 2, badChunks: 1),
            Source(peer: "[::1]:6000", transport: .udp, bytes: 20, chunks: 1),
        ]).holderReports
        #expect(reports == [
            HolderReport(host: "::1", tcpPort: 6000, verdict: .served(bytes: 50, milliseconds: 2000)),
            HolderReport(host: "127.0.0.4", tcpPort: 5555, verdict: .failed),
        ])
    }

    @Test("busy holders, this machine's errors and refused requests are not the holder's failure")
    func notReported() {
        let attempts = [TransferError.busy, .ioError, .diskFull, .badName, .badRange].enumerated().map { index, error in
            Attempt(peer: "127.0.0.\(index + 2):5555", transport: .tcp, bytes: 0, error: error, message: nil)
        }
        #expect(Self.outcome(.failed, attempts: attempts).holderReports.isEmpty)
    }

    @Test("a cancelled, refused, skipped or not-found download reports nothing",
          arguments: [DownloadOutcome.Status.cancelled, .refused, .skipped, .notFound])
    func silentStatuses(_ status: DownloadOutcome.Status) {
        let attempt = Attempt(peer: "127.0.0.2:5555", transport: .tcp, bytes: 0, error: .connectFailed, message: nil)
        #expect(Self.outcome(status, attempts: [attempt]).holderReports.isEmpty)
    }
}

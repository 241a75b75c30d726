import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// One file fetched from several holders at once, chunk by chunk: the I/O around a
/// ``SwarmSchedule``. Each source runs a loop: ask the schedule for a range, stream it with one
/// request (``FileFetcher``), cut what arrives into chunks, and hand each chunk to the part file,
/// which checks it against the piece layer before writing it at its offset
/// (``PartFile/writeChunk(_:_:)``). The schedule decides the rest: who takes over which chunks,
/// the endgame, which source is dropped.
///
/// Sources are the candidates in order, one per holder, at most `maximumSources` at once; when a
/// source is dropped, the next candidate not yet tried takes its place (a holder whose first
/// transport failed may come back over the other). A holder that sent bad chunks is never asked
/// again for this file.
///
/// **Pipelining.** Each source runs ``lanes`` lanes (schedule sources of one peer). A lane asks for
/// a range only while the other lane has at most its last chunk in flight: so the next range's
/// request, and its round trip, overlap the end of the current one, and a source never idles
/// waiting for a reply. At most two connections to a holder are open at once, briefly.
///
/// **Partial holders and new holders.** While it runs, the tracker is asked who holds the file now
/// (after ``firstRefresh``, the pause doubling up to ``longestRefresh`` while nothing new comes);
/// holders not seen before join as sources (up to `maximumSources`). A holder still downloading the
/// file (a partial holder) is asked with `HAVE` which chunks it has, every ``haveInterval``; the
/// schedule gives its sources only those, rarest first. A partial holder that offers nothing new for
/// ``partialPatience`` while its lanes idle, or whose `HAVE` fails twice in a row, is dropped.
final class SwarmDownload: Sendable {
    struct Source: Sendable, Equatable {
        var candidate: FailoverPlan.Candidate
        var bytes: UInt64 = 0
        var chunks = 0
        var badChunks = 0
    }

    struct Outcome: Sendable {
        var complete: Bool
        var sources: [Source]
        var attempts: [DownloadOutcome.AttemptRecord]
        /// The local error that stopped the download, if one did.
        var localFailure: PartFileError?
    }

    /// Who holds the file now, as the tracker says: the candidates and which holders are partial.
    typealias Refresh = @Sendable () async -> (candidates: [FailoverPlan.Candidate], partial: Set<Holder>)?

    private struct State {
        var schedule: SwarmSchedule
        var sources: [Source] = []
        /// Every holder and transport to try, in order: the tracker's first answer, then holders it
        /// named later. `nextCandidate` is the first not yet tried.
        var candidates: [FailoverPlan.Candidate]
        var nextCandidate = 0
        /// Holders that are still downloading the file.
        var partial: Set<Holder>
        /// Bumped at every change that may give a waiting source work.
        var version = 0
        var waiters: [(version: Int, continuation: CheckedContinuation<Void, Never>)] = []
        /// The request each source has in flight, to cancel the loser of a duplicated chunk.
        var requests: [Int: Task<FetchResult, Never>] = [:]
        /// Sources whose request was cancelled because another source won their chunk.
        var beaten: Set<Int> = []
        /// Sources whose request was cancelled because their holder was dropped (``drop(_:lanes:candidate:error:message:)``).
        var stopped: Set<Int> = []
        var attempts: [DownloadOutcome.AttemptRecord] = []
        var localFailure: PartFileError?
        /// Bytes of verified chunks, for progress.
        var verifiedBytes: UInt64

        mutating func changed() -> [CheckedContinuation<Void, Never>] {
            version += 1
            defer { waiters = [] }
            return waiters.map(\.continuation)
        }
    }

    private let name: SharedFileName
    private let size: UInt64
    private let digest: ContentDigest
    private let tree: MerkleTree
    private let part: PartFile
    private let maximumSources: Int
    private let fetchers: [Transport: any FileFetcher]
    private let chunkMaps: PieceLayerFetcher
    private let refresh: Refresh?
    private let onVerified: @Sendable (Int) -> Void
    private let events: @Sendable (DownloadEvent) -> Void
    private let logger: Logger
    private let state: NIOLockedValueBox<State>

    /// - Parameters:
    ///   - partial: the holders among `candidates` that are still downloading the file.
    ///   - chunkMaps: asks partial holders which chunks they have.
    ///   - refresh: asks the tracker who holds the file now; `nil`: never.
    ///   - onVerified: told each chunk this download verified and wrote (so that its peer serves it).
    ///   - spreads: this download serves what it fetches (see ``SwarmSchedule/spreadsWhenAlone``).
    init(name: SharedFileName, size: UInt64, digest: ContentDigest, tree: MerkleTree, part: PartFile,
         candidates: [FailoverPlan.Candidate], partial: Set<Holder> = [], maximumSources: Int, fetchers: [Transport: any FileFetcher],
         chunkMaps: PieceLayerFetcher = PieceLayerFetcher(), refresh: Refresh? = nil, onVerified: @escaping @Sendable (Int) -> Void = { _ in },
         spreads: Bool = false,
         logger: Logger, events: @escaping @Sendable (DownloadEvent) -> Void) {
        let verified = part.verifiedChunks ?? Array(repeating: false, count: tree.chunkCount)
        self.name = name
        self.size = size
        self.digest = digest
        self.tree = tree
        self.part = part
        self.maximumSources = max(1, maximumSources)
        self.fetchers = fetchers
        self.chunkMaps = chunkMaps
        self.refresh = refresh
        self.onVerified = onVerified
        self.logger = logger
        self.events = events
        let verifiedBytes = verified.indices.reduce(UInt64(0)) { $0 + (verified[$1] ? tree.chunkLength(at: $1) : 0) }
        var schedule = SwarmSchedule(chunkCount: tree.chunkCount, verified: verified, seed: UInt64.random(in: 0...UInt64.max))
        schedule.spreadsWhenAlone = spreads
        self.state = NIOLockedValueBox(State(schedule: schedule, candidates: candidates, partial: partial, verifiedBytes: verifiedBytes))
    }

    /// How often a source that answers `busy` is asked again before it is dropped, and the pause
    /// before each time: 100 ms, doubling, at most 2 s (about 19 s in all). A busy holder is loaded,
    /// not broken: it is worth asking again while the others fetch.
    static let busyRetries = 12
    static func busyPause(_ retry: Int) -> Duration {
        .milliseconds(min(2000, 100 << min(retry - 1, 5)))
    }

    /// Lanes per source (see the type's documentation).
    static let lanes = 2

    /// When the tracker is first asked who holds the file now, and the longest pause between two
    /// questions (the pause doubles while the answers bring no one new).
    static let firstRefresh: Duration = .milliseconds(500)
    static let longestRefresh: Duration = .seconds(4)
    /// How often a partial holder is asked which chunks it has.
    static let haveInterval: Duration = .milliseconds(250)
    /// How long a partial holder may offer nothing new while its lanes idle before it is dropped.
    static let partialPatience: Duration = .seconds(30)

    /// How long a range should take at the source's measured rate: short enough that a slow source
    /// holds back the verified prefix (and the SHA-256 that follows it) for about this long, long
    /// enough that requests are few.
    static let rangeDuration = 0.25
    /// Chunks in a source's first range, before its rate is known, and in any range at most.
    static let firstRangeChunks = 4
    static let maximumRangeChunks = 64

    /// Chunks a source with this rate (bytes per second; `nil`: not measured yet) gets in its next
    /// range: about ``rangeDuration`` seconds of it, from 1 to ``maximumRangeChunks``.
    static func rangeChunks(bytesPerSecond: Double?, chunkSize: UInt64) -> Int {
        guard let rate = bytesPerSecond, rate.isFinite, rate > 0 else { return firstRangeChunks }
        let chunks = rate * rangeDuration / Double(chunkSize)
        return max(1, min(maximumRangeChunks, Int(chunks.rounded(.down))))
    }

    /// What ends in ``run()``'s task group: the lanes of one source, or a question to the tracker.
    private enum Child: Sendable {
        case sourceEnded
        case refreshed((candidates: [FailoverPlan.Candidate], partial: Set<Holder>)?)
    }

    /// Runs the download until every chunk is verified, every candidate failed, a local error
    /// stopped it, or the task is cancelled.
    func run() async -> Outcome {
        await withTaskGroup(of: Child.self) { group in
            var running = 0
            var refreshing = false
            var refreshPause = Self.firstRefresh
            /// Starts the next candidate whose holder is neither running nor convicted of bad chunks.
            func startNext() -> Bool {
                while true {
                    let pick = state.withLockedValue { state -> (FailoverPlan.Candidate, [Int], Int, Bool)?? in
                        guard state.nextCandidate < state.candidates.count else { return .none }
                        let candidate = state.candidates[state.nextCandidate]
                        state.nextCandidate += 1
                        let busyOrBad = state.sources.indices.contains { index in
                            state.sources[index].candidate.holder == candidate.holder
                                && (!state.schedule.sources[index].isDropped || state.sources[index].badChunks > 0)
                        }
                        guard !busyOrBad, state.localFailure == nil, !state.schedule.isComplete else { return .some(nil) }
                        let peer = state.schedule.sources.count
                        let isPartial = state.partial.contains(candidate.holder)
                        if isPartial {
                            // Nothing until it says what it has.
                            state.schedule.setAvailability(ofPeer: peer, Array(repeating: false, count: state.schedule.chunkCount))
                        }
                        let lanes = (0..<Self.lanes).map { _ in
                            state.sources.append(Source(candidate: candidate))
                            return state.schedule.addSource(peer: peer)
                        }
                        return (candidate, lanes, peer, isPartial)
                    }
                    guard let pick else { return false }
                    guard let (candidate, lanes, peer, isPartial) = pick else { continue }
                    group.addTask {
                        await self.runPeer(candidate, peer: peer, lanes: lanes, isPartial: isPartial)
                        return .sourceEnded
                    }
                    return true
                }
            }
            func startMore() {
                guard !Task.isCancelled else { return }
                while running < maximumSources, startNext() { running += 1 }
                if let refresh, running > 0, !refreshing {
                    refreshing = true
                    let pause = refreshPause
                    group.addTask {
                        try? await Task.sleep(for: pause)
                        if Task.isCancelled { return .refreshed(nil) }
                        // (A statement of its own: Swift 6.3 sized async frames too small for awaits
                        // inside conditions; see Downloader+Swarm.)
                        let fresh = await refresh()
                        return .refreshed(fresh)
                    }
                }
            }
            startMore()
            reportSources()
            for await child in group {
                switch child {
                case .sourceEnded:
                    running -= 1
                case .refreshed(let fresh):
                    refreshing = false
                    let news = fresh.map { add($0.candidates, partial: $0.partial) } ?? false
                    refreshPause = news ? Self.firstRefresh : min(refreshPause * 2, Self.longestRefresh)
                }
                let more = state.withLockedValue { $0.localFailure == nil && !$0.schedule.isComplete }
                if more {
                    startMore()
                } else {
                    group.cancelAll()       // a source pausing after `busy` need not finish its pause
                }
                reportSources()
            }
        }
        return state.withLockedValue { state in
            Outcome(complete: state.schedule.isComplete, sources: state.sources, attempts: state.attempts,
                    localFailure: state.localFailure)
        }
    }

    /// Holders the tracker named since: new candidates go last; a holder no longer partial stays a
    /// source (its `HAVE` says so, and it is then treated as complete). Returns whether any was new.
    private func add(_ fresh: [FailoverPlan.Candidate], partial: Set<Holder>) -> Bool {
        state.withLockedValue { state in
            let known = state.candidates.count
            for candidate in fresh where !state.candidates.contains(candidate) {
                state.candidates.append(candidate)
            }
            state.partial.formUnion(partial)
            state.partial.subtract(Set(fresh.map(\.holder)).subtracting(partial))
            return state.candidates.count > known
        }
    }

    /// One source: its lanes, and for a partial holder the watch over which chunks it has.
    private func runPeer(_ candidate: FailoverPlan.Candidate, peer: Int, lanes: [Int], isPartial: Bool) async {
        await withTaskGroup(of: Bool.self) { group in
            for lane in lanes {
                group.addTask {
                    await self.runSource(lane, partners: lanes.filter { $0 != lane })
                    return true
                }
            }
            if isPartial {
                group.addTask {
                    await self.watchChunks(of: candidate, peer: peer, lanes: lanes)
                    return false
                }
            }
            var lanesLeft = lanes.count
            for await isLane in group {
                if isLane { lanesLeft -= 1 }
                if lanesLeft == 0 { group.cancelAll() }
            }
        }
    }

    /// Asks a partial holder which chunks it has every ``haveInterval`` and tells the schedule,
    /// until the holder has them all, its lanes end, or it is dropped (see the type's documentation).
    private func watchChunks(of candidate: FailoverPlan.Candidate, peer: Int, lanes: [Int]) async {
        let clock = ContinuousClock()
        var failures = 0
        var last: [Bool]?
        var lastNews = clock.now
        while !Task.isCancelled {
            let result = await chunkMaps.chunks(of: name, size: size, digest: digest, chunkSize: tree.chunkSize, from: candidate.holder)
            var failure: (TransferError, String)?
            switch result {
            case .success(let chunks):
                failures = 0
                if chunks != last {
                    last = chunks
                    lastNews = clock.now
                }
                let complete = !chunks.contains(false)
                let wake = state.withLockedValue { state in
                    state.schedule.setAvailability(ofPeer: peer, complete ? nil : chunks)
                    return state.changed()
                }
                wake.forEach { $0.resume() }
                if complete { return }
                let idle = state.withLockedValue { state in lanes.allSatisfy { state.schedule.sources[$0].range == nil } }
                if idle, clock.now - lastNews >= Self.partialPatience {
                    failure = (.tooSlow, "a partial holder with no chunk this download needed for \(Self.partialPatience.seconds) s")
                }
            case .failure(let error):
                failures += 1
                if failures >= 2 { failure = (error.code, "asking which chunks it has: \(error.message)") }
            }
            if let (code, message) = failure {
                drop(peer, lanes: lanes, candidate: candidate, error: code, message: message)
                return
            }
            try? await Task.sleep(for: Self.haveInterval)
        }
    }

    /// Drops every lane of `peer` for a failure not tied to one request, cancelling what they fetch.
    private func drop(_ peer: Int, lanes: [Int], candidate: FailoverPlan.Candidate, error: TransferError, message: String) {
        let (requests, wake, record) = state.withLockedValue { state in
            var requests: [Task<FetchResult, Never>] = []
            for lane in lanes {
                if let request = state.requests[lane] {
                    requests.append(request)
                    state.stopped.insert(lane)      // the request's end is not a failure of its own
                }
                state.schedule.drop(lane)
            }
            let record = DownloadOutcome.AttemptRecord(peer: candidate.endpoint, transport: candidate.transport,
                                                       bytes: 0, error: error, message: message)
            state.attempts.append(record)
            return (requests, state.changed(), record)
        }
        requests.forEach { $0.cancel() }
        wake.forEach { $0.resume() }
        logger.info("source dropped", metadata: ["file": "\(name.rawValue)", "peer": "\(candidate.endpoint)",
                                                 "error": "\(error.rawValue)", "detail": "\(message)"])
        events(.attemptFailed(name: name.rawValue, attempt: record))
    }

    /// One lane's loop: ranges until the schedule has nothing left for it. It asks for a range only
    /// while its `partners` (the source's other lanes) have at most one chunk left in theirs.
    private func runSource(_ index: Int, partners: [Int]) async {
        let candidate = state.withLockedValue { $0.sources[index].candidate }
        let fetcher = fetchers[candidate.transport]!
        var busyRetries = 0
        var rate: Double?           // this lane's last range, in bytes per second
        while !Task.isCancelled {
            let (assignment, version) = state.withLockedValue { state -> (SwarmSchedule.Assignment, Int) in
                if state.localFailure != nil { return (.finished, state.version) }
                if state.schedule.sources[index].isDropped || state.schedule.isComplete { return (state.schedule.assign(index), state.version) }
                let partnerBusy = partners.contains { (state.schedule.sources[$0].range?.count ?? 0) > 1 }
                // Near the end, ranges shrink to a fair share of what is left: the sources finish
                // together, and few verified chunks wait beyond the prefix for the SHA-256.
                let left = state.schedule.chunkCount - state.schedule.verifiedCount
                let share = max(1, left / (2 * max(1, state.schedule.liveSourceCount)))
                let chunks = min(share, Self.rangeChunks(bytesPerSecond: rate, chunkSize: tree.chunkSize))
                return (partnerBusy ? .wait : state.schedule.assign(index, maximumChunks: chunks), state.version)
            }
            switch assignment {
            case .finished:
                return
            case .wait:
                await waitForChange(after: version)
            case .fetch(let chunks):
                reportSources()
                let started = ContinuousClock.now
                let result = await fetch(chunks, from: candidate, index: index, with: fetcher)
                let seconds = (ContinuousClock.now - started).seconds
                if result.error == nil, result.bytes >= tree.chunkSize, seconds > 0 { rate = Double(result.bytes) / seconds }
                let (failed, wake) = state.withLockedValue { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    state.requests[index] = nil
                    let beaten = state.beaten.remove(index) != nil
                    let stopped = state.stopped.remove(index) != nil
                    var record = DownloadOutcome.AttemptRecord(peer: candidate.endpoint, transport: candidate.transport,
                                                               bytes: result.bytes, error: result.error, message: result.message)
                    if beaten {
                        record.error = nil
                        record.message = "endgame: another source delivered the chunk first"
                    } else if stopped {
                        record.error = nil
                        record.message = "stopped: this holder was dropped"
                    } else if Task.isCancelled, result.error != nil {
                        record.error = nil          // the download was cancelled, not the peer's fault
                        record.message = "stopped: the download was cancelled"
                    } else if let local = state.localFailure, !(result.error?.isLocal ?? false) {
                        record.error = nil          // stopped by us, not the peer's fault
                        record.message = "stopped: \(local.message)"
                    } else if state.schedule.sources[index].isDropped,
                              case let bad = state.schedule.badChunks(ofPeer: state.schedule.sources[index].peer), bad >= SwarmSchedule.badChunkLimit {
                        record.error = .hashMismatch
                        record.message = "sent \(bad) chunks that did not match their hashes; not asked again for this file"
                    }
                    state.attempts.append(record)
                    // A busy holder (at its connection or upload cap) is asked again after a pause.
                    let busy = record.error == .busy && busyRetries < Self.busyRetries
                    let failed = record.error != nil && !busy
                    if let error = result.error, error.isLocal, !beaten, !stopped, state.localFailure == nil {
                        state.localFailure = PartFileError(error, result.message ?? error.rawValue)
                    }
                    if state.schedule.sources[index].range != nil || failed {
                        state.schedule.ended(index, failed: failed)
                    }
                    return (failed, state.changed())
                }
                wake.forEach { $0.resume() }
                if result.error == .busy, !failed {
                    busyRetries += 1
                    try? await Task.sleep(for: Self.busyPause(busyRetries))
                    continue
                }
                if failed {
                    logger.info("source dropped", metadata: ["file": "\(name.rawValue)", "peer": "\(candidate.endpoint)",
                                                             "error": "\(result.error!.rawValue)", "detail": "\(result.message ?? "")"])
                    events(.attemptFailed(name: name.rawValue, attempt: state.withLockedValue { $0.attempts.last! }))
                    return
                }
                if state.withLockedValue({ $0.localFailure != nil }) {
                    cancelAllRequests()
                    return
                }
            }
        }
    }

    /// One request for `chunks`, cut into chunks as it arrives.
    private func fetch(_ chunks: Range<Int>, from candidate: FailoverPlan.Candidate, index: Int,
                       with fetcher: any FileFetcher) async -> FetchResult {
        let start = UInt64(chunks.lowerBound) * tree.chunkSize
        let end = min(UInt64(chunks.upperBound) * tree.chunkSize, size)
        let request = Task { [self] in
            var chunk = chunks.lowerBound
            var current = ByteBuffer()
            return await fetcher.fetch(name, size: size, digest: digest, range: start..<end, from: candidate.holder) { buffer in
                var buffer = buffer
                while buffer.readableBytes > 0 {
                    let length = Int(tree.chunkLength(at: chunk))
                    var slice = buffer.readSlice(length: min(length - current.readableBytes, buffer.readableBytes))!
                    current.writeBuffer(&slice)
                    guard current.readableBytes == length else { continue }
                    let valid = try await part.writeChunk(chunk, current)
                    current.clear()
                    switch delivered(chunk, valid: valid, by: index, length: UInt64(length)) {
                    case .proceed: chunk += 1
                    case .rangeDone, .dropped: return false
                    }
                }
                return true
            }
        }
        let beatenAlready = state.withLockedValue { state -> Bool in
            state.requests[index] = request
            return state.beaten.contains(index) || state.stopped.contains(index) || state.schedule.sources[index].isDropped
        }
        if beatenAlready { request.cancel() }
        return await withTaskCancellationHandler {
            await request.value
        } onCancel: {
            request.cancel()
        }
    }

    /// Records a delivered chunk, cancels the sources it beat, and wakes waiting sources.
    private func delivered(_ chunk: Int, valid: Bool, by index: Int, length: UInt64) -> SwarmSchedule.Delivery.Next {
        let (delivery, losers, wake, received) = state.withLockedValue { state in
            let wasVerified = state.schedule.verified[chunk]
            // A chunk of a lane whose range was taken away meanwhile (its peer dropped for bad chunks
            // by another lane, or beaten in the endgame) is not held against it: the schedule does
            // not count it either, so a peer is dropped after exactly `badChunkLimit` bad chunks.
            let counted = state.schedule.sources[index].range?.lowerBound == chunk
            let delivery = state.schedule.delivered(index, chunk: chunk, valid: valid)
            state.sources[index].bytes += length
            if valid, !wasVerified {
                state.sources[index].chunks += 1
                state.verifiedBytes += length
            }
            if !valid, counted { state.sources[index].badChunks += 1 }
            var losers: [Task<FetchResult, Never>] = []
            for loser in delivery.cancel {
                // A valid chunk beat the loser (endgame); a bad one dropped the loser's peer.
                if valid { state.beaten.insert(loser) }
                if let request = state.requests[loser] { losers.append(request) }
            }
            return (delivery, losers, state.changed(), state.verifiedBytes)
        }
        losers.forEach { $0.cancel() }
        wake.forEach { $0.resume() }
        if valid { onVerified(chunk) }
        if !valid {
            let peer = state.withLockedValue { $0.sources[index].candidate.endpoint }
            logger.warning("a chunk did not match its hash; thrown away", metadata: [
                "file": "\(name.rawValue)", "peer": "\(peer)", "chunk": "\(chunk)",
                "dropped": "\(delivery.next == .dropped)",
            ])
        }
        events(.progress(name: name.rawValue, received: received, size: size))
        return delivery.next
    }

    private func waitForChange(after version: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if state.version != version || Task.isCancelled { return true }
                    state.waiters.append((version, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let wake = state.withLockedValue { $0.changed() }
            wake.forEach { $0.resume() }
        }
    }

    private func cancelAllRequests() {
        let (requests, wake) = state.withLockedValue { ($0.requests.values.map { $0 }, $0.changed()) }
        requests.forEach { $0.cancel() }
        wake.forEach { $0.resume() }
    }

    private func reportSources() {
        let (lanes, received) = state.withLockedValue { state in
            (state.sources.indices.filter { state.schedule.sources[$0].range != nil }.map {
                "\(state.sources[$0].candidate.endpoint) (\(state.sources[$0].candidate.transport.rawValue))"
            }, state.verifiedBytes)
        }
        var active: [String] = []
        for lane in lanes where !active.contains(lane) { active.append(lane) }
        events(.sources(name: name.rawValue, active: active, received: received, size: size))
    }
}

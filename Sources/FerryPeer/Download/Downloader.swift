import FerryUDP
import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Something that answers "who holds these names?": the tracker, through a live session or a
/// one-shot connection.
public protocol HolderSource: Sendable {
    func lookup(_ names: [String]) async throws -> [LookupResult]

    /// Tells the tracker how the holders of a finished download served (`REPORT`); best effort: a
    /// report that cannot be sent is dropped, and it never fails or holds up a download for long.
    func report(_ reports: [HolderReport]) async
}

extension HolderSource {
    public func report(_ reports: [HolderReport]) async {}
}

extension TrackerConnection: HolderSource {}

extension TrackerSession: HolderSource {
    public func lookup(_ names: [String]) async throws -> [LookupResult] {
        try await connection().lookup(names)
    }

    public func report(_ reports: [HolderReport]) async {
        guard let connection = try? connection() else { return }
        await connection.report(reports)
    }
}

/// What a download reports while it runs, for progress displays.
public enum DownloadEvent: Sendable {
    /// An attempt started: `offset` is where it resumes.
    case attemptStarted(name: String, peer: String, transport: Transport, offset: UInt64, size: UInt64)
    /// Bytes arrived: `received` counts all bytes of the file in place so far.
    case progress(name: String, received: UInt64, size: UInt64)
    /// A swarm download's sources changed: `active` are fetching now (`IP:PORT (tcp|udp)`);
    /// `received` counts verified bytes (an earlier run's included).
    case sources(name: String, active: [String], received: UInt64, size: UInt64)
    /// An attempt failed; the next candidate follows.
    case attemptFailed(name: String, attempt: DownloadOutcome.AttemptRecord)
    /// The name is finished.
    case finished(DownloadOutcome)
}

/// The download engine behind both `Send` at a peer's prompt and `ferry get`: looks names up, fetches
/// each in parallel (bounded), fails over from peer to peer resuming where the last stopped, verifies
/// SHA-256 before a file takes its final name, and never writes outside the download folder.
public final class Downloader: Sendable {
    public struct Configuration: Sendable {
        public var folder: String
        /// Replace an existing file with different content (otherwise it is `refused`).
        public var overwrite: Bool
        public var maximumParallel: Int
        /// Holders one file is fetched from at once (`--max-sources`); 1 takes one holder at a time.
        public var maximumSources: Int
        /// The transports to try, in order of preference: every holder is tried with the first, then
        /// every holder with the next (a peer whose UDP is blocked may still answer over TCP).
        public var transports: [Transport]
        /// The address connections leave from, if set.
        public var localHost: String?
        public var stallTimeout: TimeAmount
        public var connectTimeout: TimeAmount
        /// The progress floor's window and minimum rate in bytes per second (see ``ProgressFloor``).
        public var progressWindow: Duration
        public var minimumRate: UInt64
        /// Also told every event of every download (the peer's status page and metrics), whatever
        /// the caller of ``Downloader/download(_:lookups:events:)`` listens to.
        public var observer: (@Sendable (DownloadEvent) -> Void)? = nil

        public init(folder: String, overwrite: Bool = false, maximumParallel: Int = 8, maximumSources: Int = 8, transports: [Transport] = Transport.preferring(.tcp),
                    localHost: String? = nil, stallTimeout: TimeAmount = .seconds(10), connectTimeout: TimeAmount = .seconds(5),
                    progressWindow: Duration = ProgressFloor<ContinuousClock.Instant>.defaultWindow,
                    minimumRate: UInt64 = ProgressFloor<ContinuousClock.Instant>.defaultMinimumRate) {
            self.folder = folder
            self.overwrite = overwrite
            self.maximumParallel = maximumParallel
            self.maximumSources = maximumSources
            self.transports = transports
            self.localHost = localHost
            self.stallTimeout = stallTimeout
            self.connectTimeout = connectTimeout
            self.progressWindow = progressWindow
            self.minimumRate = minimumRate
        }
    }

    let configuration: Configuration
    let holders: any HolderSource
    let share: Share?
    let partials: PartialShares?
    let logger: Logger
    let group: any EventLoopGroup

    /// - Parameters:
    ///   - share: the share, when the download folder is also the shared folder: verified files are
    ///     then remembered so the next scan announces them without hashing them again.
    ///   - partials: where a peer's swarm downloads are registered so that it serves their verified
    ///     chunks meanwhile (a partial holder); `nil` for a download that serves nothing (`ferry get`).
    public init(configuration: Configuration, holders: any HolderSource, share: Share? = nil, partials: PartialShares? = nil,
                logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.holders = holders
        self.share = share
        self.partials = partials
        self.logger = logger
        self.group = group
    }

    /// `reported`, and `observer` first when there is one.
    private static func also(_ observer: (@Sendable (DownloadEvent) -> Void)?,
                             _ reported: @escaping @Sendable (DownloadEvent) -> Void) -> @Sendable (DownloadEvent) -> Void {
        guard let observer else { return reported }
        return { event in
            observer(event)
            reported(event)
        }
    }

    /// Downloads every name (duplicates once), at most ``Configuration/maximumParallel`` at a time,
    /// reporting events as they happen; returns the outcomes in the order of `names`.
    ///
    /// - Parameter lookups: the tracker's answer, when the caller already asked; otherwise the
    ///   downloader asks.
    public func download(_ names: [String], lookups known: [LookupResult]? = nil,
                         events reported: @escaping @Sendable (DownloadEvent) -> Void = { _ in }) async -> [DownloadOutcome] {
        let events = Self.also(configuration.observer, reported)
        var unique: [String] = []
        for name in names where !unique.contains(name) { unique.append(name) }

        // Names that break the rule are refused here and never sent.
        var lookups: [String: LookupResult] = [:]
        let valid = unique.filter { SharedFileName($0) != nil }
        var lookupError: (any Error)?
        if let known {
            for result in known { lookups[result.name] = result }
        } else if !valid.isEmpty {
            do {
                for result in try await holders.lookup(valid) { lookups[result.name] = result }
            } catch {
                lookupError = error
            }
        }

        var outcomes: [String: DownloadOutcome] = [:]
        await withTaskGroup(of: DownloadOutcome.self) { group in
            var running = 0
            for raw in unique {
                if running == configuration.maximumParallel {
                    let next = await group.next()
                    if let done = next {
                        outcomes[done.name] = done
                        running -= 1
                    }
                }
                let lookup = lookups[raw]
                let error = lookupError
                group.addTask { [self] in
                    let outcome = await downloadOne(raw, lookup: lookup, lookupError: error, start: .now, events: events)
                    events(.finished(outcome))
                    let reports = outcome.holderReports
                    if !reports.isEmpty { await holders.report(reports) }
                    return outcome
                }
                running += 1
            }
            for await done in group { outcomes[done.name] = done }
        }
        return unique.map { outcomes[$0]! }
    }

    private func downloadOne(_ raw: String, lookup: LookupResult?, lookupError: (any Error)?, start: ContinuousClock.Instant,
                             events: @escaping @Sendable (DownloadEvent) -> Void) async -> DownloadOutcome {
        var outcome = DownloadOutcome(name: raw, status: .refused, bytes: 0, seconds: 0, attempts: [])
        func finish(_ status: DownloadOutcome.Status, _ message: String?) -> DownloadOutcome {
            outcome.status = status
            outcome.message = message
            outcome.seconds = (ContinuousClock.now - start).seconds
            return outcome
        }
        let name: SharedFileName
        do {
            name = try SharedFileName(validating: raw)
        } catch {
            return finish(.refused, "bad name: \(error)")
        }
        if let lookupError {
            return finish(.failed, "could not ask the tracker: \(lookupError)")
        }
        guard let lookup, case .found(let groups) = lookup.outcome, let chosen = groups.first else {
            if case .badName(let reason) = lookup?.outcome { return finish(.refused, "the tracker refused the name: \(reason)") }
            return finish(.notFound, "no live peer shares \(LineScanner.quote(raw)); check the name with `list`")
        }
        outcome.sha256 = chosen.digest.hex
        if groups.count > 1 {
            logger.warning("peers share different content under one name; taking the most shared",
                           metadata: ["file": "\(raw)", "versions": "\(groups.count)", "sha256": "\(chosen.digest.shortHex)"])
        }

        // An existing file: the same content counts as done; other content is never silently replaced.
        let finalPath = configuration.folder + "/" + name.rawValue
        if let existing = Share.lstatus(finalPath) {
            let same: Bool
            if existing.isRegular, existing.size == chosen.size {
                let digest = await Self.digest(ofFileAt: finalPath)
                same = digest == chosen.digest
            } else {
                same = false
            }
            if same {
                outcome.bytes = chosen.size
                outcome.path = finalPath
                return finish(.skipped, "already here with the same SHA-256")
            }
            if !configuration.overwrite {
                outcome.path = finalPath
                return finish(.refused, "\(finalPath) exists with other content; move it away or pass --overwrite")
            }
        }

        // Awaits are statements of their own in this file: Swift 6.3 at -Onone sized async frames too
        // small for awaits inside `if`/`guard`/`while` conditions (found by the address sanitizer as
        // heap overflows in `downloadFromSwarm`).
        let swarmOutcome = await downloadFromSwarm(name, group: chosen, outcome: outcome, events: events)
        if let swarm = swarmOutcome {
            outcome = swarm
            return finish(swarm.status, swarm.message)
        }

        let part: PartFile
        do {
            // Only a download the share will announce needs its tree: building it doubles the hashing.
            part = try await PartFile.open(folder: configuration.folder, name: name, digest: chosen.digest, expectedSize: chosen.size,
                                           buildsTree: share != nil)
        } catch {
            return finish(.failed, error.message)
        }
        if case .discarded(let bytes, let reason) = part.opening {
            logger.notice("discarding the part file: \(reason)", metadata: ["file": "\(raw)", "path": "\(part.path)", "bytes": "\(bytes)"])
        }
        // Only complete holders: this path streams the file from one offset to its end, which a
        // partial holder (still downloading it) does not serve.
        var plan = FailoverPlan(size: chosen.size, candidates: candidates(chosen.completeHolders), received: part.length)
        let floor = NIOLockedValueBox(ProgressFloor(window: configuration.progressWindow, minimumRate: configuration.minimumRate,
                                                    now: ContinuousClock.now))
        let fetchers = self.fetchers
        func failed(_ message: String) -> DownloadOutcome {
            outcome.attempts = plan.attempts.map(record)
            return finish(.failed, message)
        }
        /// Stopped by the user: the attempt that was cut short is not a holder's failure, and the
        /// part file stays for a resume.
        func cancelled() -> DownloadOutcome {
            outcome.attempts = plan.attempts.map(record)
            return finish(.cancelled, Self.cancelledMessage(kept: part.length, of: chosen.size, in: part.path))
        }
        while true {
            switch plan.nextAction() {
            case .fetch(let candidate, let offset):
                if Task.isCancelled {
                    if part.length == 0 { await part.discard() }
                    return cancelled()
                }
                let peer = candidate.endpoint
                if part.length != offset {
                    // The plan starts over: a suspect's bytes are never completed by another peer.
                    logger.info("starting over", metadata: ["file": "\(raw)", "offset": "\(offset)", "discarded": "\(part.length - offset)"])
                    do {
                        try await part.truncate(to: offset)
                    } catch {
                        return failed(error.message)
                    }
                }
                events(.attemptStarted(name: raw, peer: peer, transport: candidate.transport, offset: offset, size: chosen.size))
                var result = await fetch(name, digest: chosen.digest, size: chosen.size, from: candidate, with: fetchers[candidate.transport]!,
                                         into: part, floor: floor, enforceFloor: plan.hasAlternative(to: candidate)) { received in
                    events(.progress(name: raw, received: offset + received, size: chosen.size))
                }
                if Task.isCancelled, result.error != nil {
                    // Not a holder's failure, but its bytes count: `bytes` is what this run received.
                    outcome.bytes += part.length - offset
                    if part.length == 0 { await part.discard() }
                    return cancelled()
                }
                // What the attempt counts is what reached the part file; a local failure overrides
                // whatever the fetcher made of it (a disk-full error is not the peer's fault).
                result.bytes = part.length - offset
                if let failure = part.failure {
                    result.error = failure.code
                    result.message = failure.message
                }
                plan.record(candidate, bytes: result.bytes, error: result.error, message: result.message)
                outcome.bytes += result.bytes
                if let error = result.error {
                    events(.attemptFailed(name: raw, attempt: record(plan.attempts.last!)))
                    logger.info("attempt failed", metadata: ["file": "\(raw)", "peer": "\(peer)",
                                                             "error": "\(error.rawValue)", "detail": "\(result.message ?? "")"])
                }
            case .pause(let pause):
                logger.info("every holder left is busy; asking again after a pause",
                            metadata: ["file": "\(raw)", "pause": "\(pause)"])
                do {
                    try await Task.sleep(for: pause)
                } catch {
                    if part.length == 0 { await part.discard() }
                    return cancelled()
                }
            case .askTracker:
                // The await stays out of the guard's conditions (see Downloader+Swarm.swift).
                let same = await holdersNow(name, sameContentAs: chosen)
                guard let same else { continue }
                plan.holdersRefreshed(candidates(same.completeHolders))
            case .verify:
                let hashes: (digest: ContentDigest, tree: MerkleTree?)
                do {
                    hashes = try await part.hashesFromDisk()
                } catch {
                    return failed(error.message)
                }
                if hashes.digest == chosen.digest {
                    outcome.attempts = plan.attempts.map(record)
                    let last = plan.finishingAttempt
                    outcome.peer = last?.candidate.endpoint
                    outcome.transport = last?.candidate.transport
                    let (status, message) = await commit(part, tree: hashes.tree, digest: chosen.digest, size: chosen.size, into: &outcome)
                    return finish(status, message)
                }
                plan.verificationFailed()
                if let last = plan.attempts.last { events(.attemptFailed(name: raw, attempt: record(last))) }
                logger.warning("hash mismatch; discarding the part file and starting over from a holder not blamed",
                               metadata: ["file": "\(raw)", "convicted": "\(plan.convicted.map(\.description).sorted())",
                                          "suspected": "\(plan.suspects.map(\.description).sorted())"])
                do {
                    try await part.truncate(to: 0)
                } catch {
                    await part.discard()
                    return failed(error.message)
                }
            case .giveUp:
                outcome.attempts = plan.attempts.map(record)
                if let local = plan.localFailure {
                    return finish(.failed, (local.message ?? local.error?.rawValue ?? "local error")
                                  + (part.length > 0 ? "; \(counted(part.length, "byte")) kept in \(part.path)" : ""))
                }
                if part.length == 0 { await part.discard() }
                let tried = Set(plan.attempts.map(\.candidate.holder)).count
                let waited = plan.busyPausesTaken > 0 ? "; busy holders were asked again \(counted(plan.busyPausesTaken, "time"))" : ""
                return finish(.failed, "every holder failed (\(tried) peer\(tried == 1 ? "" : "s"), tracker asked again\(waited))"
                              + (part.length > 0 ? "; \(counted(part.length, "byte")) kept in the part file for a later resume" : ""))
            }
        }
    }

    /// "cancelled; 300.0 MiB of 1.0 GiB kept in NAME.part; run the same command to resume".
    /// "cancelled before anything arrived" when nothing was kept (the part file is then removed).
    static func cancelledMessage(kept: UInt64, of size: UInt64, in path: String) -> String {
        guard kept > 0 else { return "cancelled before anything arrived" }
        return "cancelled; \(ByteCount.format(kept)) of \(ByteCount.format(size)) kept in \(path); run the same command to resume"
    }

    /// Gives a verified part file its final name (never replacing a file that appeared there
    /// meanwhile) and tells the share about it; returns the status and message for the outcome.
    func commit(_ part: PartFile, tree: MerkleTree?, digest: ContentDigest, size: UInt64,
                into outcome: inout DownloadOutcome) async -> (DownloadOutcome.Status, String?) {
        let committed: PartFile.Commit
        let finalPath = part.finalPath, partPath = part.path, share = self.share
        // The share learns the file before it takes its name: its scans (every 2 s) never find it unknown.
        let remember: @Sendable () -> Void = {
            guard let tree else { return }
            share?.rememberVerified(path: finalPath, contentAt: partPath, hashes: FileHashes(digest: digest, tree: tree))
        }
        do {
            committed = try await part.commit(overwrite: configuration.overwrite, beforeRename: remember)
        } catch {
            share?.forgetVerified(path: finalPath)
            return (.failed, error.message)
        }
        outcome.path = finalPath
        if committed == .finalNameTaken {
            // A file appeared under the final name during the download: it is never replaced.
            share?.forgetVerified(path: finalPath)
            outcome.peer = nil
            outcome.transport = nil
            let there = await Self.digest(ofFileAt: finalPath)
            if there == digest {
                await part.discard()
                outcome.bytes = size
                return (.skipped, "the same file appeared at \(finalPath) during the download")
            }
            return (.refused, "\(finalPath) appeared with other content during the download and was not replaced; "
                    + "the verified download is kept as \(part.path): move the other file away and run the download again")
        }
        outcome.bytes = size
        return (.ok, nil)
    }

    /// One attempt, watched by the progress floor when another holder is left to try: an attempt
    /// under the floor is cancelled and ends `too_slow`.
    private func fetch(_ name: SharedFileName, digest: ContentDigest, size: UInt64, from candidate: FailoverPlan.Candidate,
                       with fetcher: any FileFetcher, into part: PartFile,
                       floor: NIOLockedValueBox<ProgressFloor<ContinuousClock.Instant>>, enforceFloor: Bool,
                       progress: @escaping @Sendable (UInt64) -> Void) async -> FetchResult {
        enum Ending: Sendable {
            case fetched(FetchResult)
            case tooSlow(received: UInt64, floor: UInt64)
        }
        floor.withLockedValue { $0.attemptStarted(at: .now) }
        let window = configuration.progressWindow
        return await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                var counted: UInt64 = 0
                return .fetched(await fetcher.fetch(name, size: size, digest: digest, from: candidate.holder, into: part) { received in
                    floor.withLockedValue { $0.received(received - counted) }
                    counted = received
                    progress(received)
                })
            }
            if enforceFloor {
                group.addTask {
                    while true {
                        let end = floor.withLockedValue { $0.windowEnd }
                        do {
                            try await Task.sleep(until: end, clock: .continuous)
                        } catch {
                            return nil
                        }
                        if case .tooSlow(let received, let minimum) = floor.withLockedValue({ $0.check(at: .now) }) {
                            return .tooSlow(received: received, floor: minimum)
                        }
                    }
                }
            }
            var verdict: (received: UInt64, floor: UInt64)?
            for await ending in group {
                switch ending {
                case .fetched(var result):
                    group.cancelAll()
                    if let verdict, result.error != nil {
                        result.error = .tooSlow
                        result.message = "\(verdict.received) bytes in \(window), under the floor of \(verdict.floor); trying the next holder"
                    }
                    return result
                case .tooSlow(let received, let minimum):
                    verdict = (received, minimum)
                    group.cancelAll()
                case nil:
                    continue
                }
            }
            return FetchResult(bytes: 0, error: .closedEarly, message: "cancelled")
        }
    }

    /// A fetcher per transport, with the configured timeouts and local address.
    var fetchers: [Transport: any FileFetcher] {
        [.tcp: tcpFetcher, .udp: udpFetcher]
    }

    private var tcpFetcher: TCPFetcher {
        TCPFetcher(connectTimeout: configuration.connectTimeout, stallTimeout: configuration.stallTimeout,
                   localHost: configuration.localHost, group: group)
    }

    private var udpFetcher: UDPFetcher {
        UDPFetcher(configuration: UDPConfiguration(idleTimeout: .nanoseconds(configuration.stallTimeout.nanoseconds)),
                   localHost: configuration.localHost, group: group)
    }

    /// The same for a swarm's many connections: shallow receive buffers over TCP.
    var swarmFetchers: [Transport: any FileFetcher] {
        [.tcp: tcpFetcher.swarm, .udp: udpFetcher]
    }

    /// The SHA-256 of a file, read on the thread pool; `nil` when it cannot be read.
    static func digest(ofFileAt path: String) async -> ContentDigest? {
        try? await NIOThreadPool.singleton.runIfActive { try ContentHasher.digest(ofFileAt: path) }
    }

    func candidates(_ holders: [Holder]) -> [FailoverPlan.Candidate] {
        configuration.transports.flatMap { transport in
            holders.compactMap { holder in
                transport == .udp && holder.udpPort == 0 ? nil : FailoverPlan.Candidate(holder: holder, transport: transport)
            }
        }
    }

    func record(_ attempt: FailoverPlan.Attempt) -> DownloadOutcome.AttemptRecord {
        DownloadOutcome.AttemptRecord(peer: attempt.candidate.endpoint, transport: attempt.candidate.transport,
                                      bytes: attempt.bytes, error: attempt.error, message: attempt.message)
    }
}

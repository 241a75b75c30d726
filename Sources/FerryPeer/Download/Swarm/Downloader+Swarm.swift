import FerryUDP
import FerryWire

extension Downloader {
    /// Whether a file is fetched from several holders at once: more than one source is allowed, the
    /// tracker gave a root, the file has at least two chunks, and at least two holders hold it, or
    /// this download serves what it fetches (a peer's, with ``partials``): then one holder is enough,
    /// as others may join while it runs (a flash crowd's downloaders serve each other).
    /// Otherwise it takes the one-source path, with no extra round trip.
    func takesSwarmPath(_ group: HolderGroup) -> Bool {
        guard configuration.maximumSources > 1, group.root != nil,
              group.size >= 2 * MerkleTree.chunkSize(forFileSize: group.size) else { return false }
        return Set(group.holders).count >= (partials == nil ? 2 : 1)
    }

    /// The candidates for the holders of `group`: partial holders over TCP only (they serve the
    /// chunks they have over TCP; see docs/PROTOCOL.md), after the complete ones.
    func swarmCandidates(_ group: HolderGroup) -> [FailoverPlan.Candidate] {
        candidates(group.completeHolders) + candidates(group.holders.filter { group.partial.contains($0) }).filter { $0.transport == .tcp }
    }

    /// The swarm path (``SwarmDownload``): the piece layer from the first holder that serves one
    /// matching the root, then every chunk from up to ``Configuration/maximumSources`` holders at
    /// once. Returns `nil` when the file takes the one-source path instead (see
    /// ``takesSwarmPath(_:)``, or no holder served a layer that matches the root).
    func downloadFromSwarm(_ name: SharedFileName, group chosen: HolderGroup, outcome start: DownloadOutcome,
                           events: @escaping @Sendable (DownloadEvent) -> Void) async -> DownloadOutcome? {
        guard takesSwarmPath(chosen), let root = chosen.root else { return nil }
        var outcome = start
        let raw = name.rawValue
        let candidates = swarmCandidates(chosen)
        let layer = await pieceLayer(name, group: chosen, root: root, candidates: candidates)
        guard let tree = layer else {
            logger.info("no holder served a piece layer matching the root; fetching from one holder at a time", metadata: ["file": "\(raw)"])
            return nil
        }

        let part: PartFile
        do {
            part = try await PartFile.open(folder: configuration.folder, name: name, digest: chosen.digest, expectedSize: chosen.size, tree: tree)
        } catch {
            outcome.status = .failed
            outcome.message = error.message
            return outcome
        }
        if case .discarded(let bytes, let reason) = part.opening {
            logger.notice("discarding the part file: \(reason)", metadata: ["file": "\(raw)", "path": "\(part.path)", "bytes": "\(bytes)"])
        }
        if part.unverifiedChunks > 0 {
            logger.notice("chunks recorded as verified no longer match their hashes; fetching them again",
                          metadata: ["file": "\(raw)", "chunks": "\(part.unverifiedChunks)"])
        }
        // A peer serves the chunks it verified while it downloads (a partial holder), and the whole
        // file until its share has it, when it lands in the shared folder. Every return from here on
        // goes through `releasing`. (No `defer`, and no helper function around the rest: with either,
        // Swift 6.3 at -Onone sized this function's async frame too small, found by the address
        // sanitizer as heap overflows on the early returns.)
        let registration = partials?.begin(SharedFileEntry(name: name, size: chosen.size, digest: chosen.digest, root: root),
                                           tree: tree, path: part.path, verified: part.verifiedChunks)
        let verifiedBefore = part.verifiedChunks?.filter { $0 }.count ?? 0
        if verifiedBefore > 0 {
            logger.info("resuming", metadata: ["file": "\(raw)", "chunks": "\(verifiedBefore) of \(tree.chunkCount)"])
        }

        var result = await swarm(name, group: chosen, tree: tree, part: part, candidates: candidates,
                                 registration: registration, events: events)
        // Every holder failed: the tracker is asked once who holds the file now, and those holders
        // (but none that sent bad chunks) are tried for the chunks still missing.
        // (Awaits stay out of `if` conditions here: Swift 6.3 at -Onone then sized this function's
        // async frame too small, found by the address sanitizer as a heap overflow.)
        if !result.complete, result.localFailure == nil, !Task.isCancelled {
            let again = await candidatesAgain(name, group: chosen, after: result)
            if !again.isEmpty {
                let second = await swarm(name, group: chosen, tree: tree, part: part, candidates: again,
                                         registration: registration, events: events)
                result = SwarmDownload.Outcome(complete: second.complete, sources: result.sources + second.sources,
                                               attempts: result.attempts + second.attempts, localFailure: second.localFailure)
            }
        }
        outcome.attempts = result.attempts
        var sources: [DownloadOutcome.SourceRecord] = []
        for source in result.sources {
            let peer = source.candidate.endpoint, transport = source.candidate.transport
            if let index = sources.firstIndex(where: { $0.peer == peer && $0.transport == transport }) {
                sources[index].bytes += source.bytes
                sources[index].chunks += source.chunks
                sources[index].badChunks += source.badChunks
            } else {
                sources.append(.init(peer: peer, transport: transport, bytes: source.bytes, chunks: source.chunks, badChunks: source.badChunks))
            }
        }
        outcome.sources = sources
        outcome.bytes = sources.reduce(0) { $0 + $1.bytes }
        let kept = (part.verifiedChunks ?? []).filter { $0 }.count
        if let local = result.localFailure {
            outcome.status = .failed
            outcome.message = local.message + "; \(kept) of \(tree.chunkCount) chunks verified and kept in \(part.path)"
            return releasing(registration, outcome)
        }
        guard result.complete else {
            if Task.isCancelled {
                let bytes = Self.verifiedBytes(of: part, tree: tree)
                if bytes == 0 { await part.discard() }
                outcome.status = .cancelled
                outcome.message = Self.cancelledMessage(kept: bytes, of: chosen.size, in: part.path)
                return releasing(registration, outcome)
            }
            let tried = Set(result.sources.map(\.candidate.holder)).count     // lanes of one holder count once
            outcome.status = .failed
            outcome.message = "every holder failed (\(tried) peer\(tried == 1 ? "" : "s"), tracker asked again)"
                + (kept > 0 ? "; \(kept) of \(tree.chunkCount) chunks verified and kept in \(part.path) for a later resume" : "")
            if kept == 0 { await part.discard() }
            return releasing(registration, outcome)
        }

        // Every chunk matched the layer; the whole file's SHA-256, computed as the verified prefix
        // grew, is the last check.
        let digest: ContentDigest
        do {
            digest = try await part.digestFromDisk()
        } catch {
            outcome.status = .failed
            outcome.message = error.message
            return releasing(registration, outcome)
        }
        guard digest == chosen.digest else {
            await part.discard()
            outcome.status = .failed
            outcome.message = "every chunk matched the root \(root.shortHex)… when it arrived, but the file does not match the announced "
                + "SHA-256 \(chosen.digest.shortHex)…: the part file was changed on disk during the download, or the root announced "
                + "with it belongs to other content; discarded"
            return releasing(registration, outcome)
        }
        let best = sources.max { $0.bytes < $1.bytes }
        outcome.peer = best?.peer
        outcome.transport = best?.transport
        let (status, message) = await commit(part, tree: tree, digest: digest, size: chosen.size, into: &outcome)
        outcome.status = status
        outcome.message = message
        return releasing(registration, outcome)
    }

    /// The bytes of the chunks `part` has verified.
    static func verifiedBytes(of part: PartFile, tree: MerkleTree) -> UInt64 {
        let verified = part.verifiedChunks ?? []
        return verified.indices.reduce(UInt64(0)) { $0 + (verified[$1] ? tree.chunkLength(at: $1) : 0) }
    }

    /// Ends a download's registration as a partial holder (see ``PartialShares/finish(_:finalPath:)``)
    /// and returns its outcome.
    private func releasing(_ registration: PartialShares.Token?, _ outcome: DownloadOutcome) -> DownloadOutcome {
        if let registration, let partials {
            partials.finish(registration, finalPath: share != nil && outcome.status == .ok ? outcome.path : nil)
        }
        return outcome
    }

    /// The holders the tracker lists now for the same content, but none that sent bad chunks.
    private func candidatesAgain(_ name: SharedFileName, group: HolderGroup, after result: SwarmDownload.Outcome) async -> [FailoverPlan.Candidate] {
        let same = await holdersNow(name, sameContentAs: group)
        guard let same else { return [] }
        let convicted = Set(result.sources.filter { $0.badChunks >= SwarmSchedule.badChunkLimit }.map(\.candidate.holder))
        return swarmCandidates(same).filter { !convicted.contains($0.holder) }
    }

    /// The tracker's group for `name` with the content of `group`, now; `nil` when it cannot say.
    func holdersNow(_ name: SharedFileName, sameContentAs group: HolderGroup) async -> HolderGroup? {
        let fresh: [LookupResult]
        do {
            fresh = try await holders.lookup([name.rawValue])
        } catch {
            return nil
        }
        guard let first = fresh.first, case .found(let groups) = first.outcome else { return nil }
        return groups.first { $0.digest == group.digest && $0.size == group.size }
    }

    private func swarm(_ name: SharedFileName, group: HolderGroup, tree: MerkleTree, part: PartFile,
                       candidates: [FailoverPlan.Candidate], registration: PartialShares.Token?,
                       events: @escaping @Sendable (DownloadEvent) -> Void) async -> SwarmDownload.Outcome {
        let partials = self.partials
        // Who holds the same content now (new holders, partial ones among them).
        let refresh: SwarmDownload.Refresh = { [self] in
            let same = await holdersNow(name, sameContentAs: group)
            guard let same else { return nil }
            return (swarmCandidates(same), same.partial)
        }
        return await SwarmDownload(name: name, size: group.size, digest: group.digest, tree: tree, part: part,
                                   candidates: candidates, partial: group.partial, maximumSources: configuration.maximumSources,
                                   fetchers: swarmFetchers, chunkMaps: pieceLayerFetcher, refresh: refresh,
                                   onVerified: { chunk in if let registration { partials?.verified(registration, chunk: chunk) } },
                                   spreads: partials != nil,
                                   logger: logger, events: events).run()
    }

    /// Fetches piece layers and chunk bitmaps with this downloader's timeouts and address.
    var pieceLayerFetcher: PieceLayerFetcher {
        var fetcher = PieceLayerFetcher(localHost: configuration.localHost)
        fetcher.connectTimeout = configuration.connectTimeout
        fetcher.stallTimeout = configuration.stallTimeout
        fetcher.group = group
        return fetcher
    }

    /// The piece layer of the file, from the first candidates (one per holder, at most three) that
    /// serve one leading to `root`; `nil` when none does.
    private func pieceLayer(_ name: SharedFileName, group: HolderGroup, root: ContentDigest,
                            candidates: [FailoverPlan.Candidate]) async -> MerkleTree? {
        let fetcher = pieceLayerFetcher
        var asked: Set<Holder> = []
        for candidate in candidates where !asked.contains(candidate.holder) && asked.count < 3 {
            asked.insert(candidate.holder)
            let result: Result<MerkleTree, PieceLayerFetcher.Failure>
            if candidate.transport == .tcp {
                result = await fetcher.fetch(name, size: group.size, digest: group.digest, root: root, from: candidate.holder)
            } else {
                result = await fetcher.fetchOverUDP(name, size: group.size, digest: group.digest, root: root, from: candidate.holder,
                                                    configuration: UDPConfiguration(idleTimeout: .nanoseconds(configuration.stallTimeout.nanoseconds)))
            }
            switch result {
            case .success(let tree): return tree
            case .failure(let failure):
                logger.info("no piece layer from this holder", metadata: [
                    "file": "\(name.rawValue)", "peer": "\(candidate.endpoint)", "error": "\(failure.code.rawValue)", "detail": "\(failure.message)",
                ])
            }
        }
        return nil
    }
}

import FerryWire
import Logging
import NIOCore

/// The tracker's side of one control connection, apart from the socket: takes frames, updates the
/// index through a ``TrackerStore`` and returns the reply lines. The server drives one per connection;
/// tests drive it directly.
public struct TrackerConversation: Sendable {
    /// What to send back, and whether to close the connection afterwards.
    public struct Response: Sendable, Equatable {
        public var lines: [TrackerReplyLine]
        public var close: Bool

        init(_ lines: [TrackerReplyLine], close: Bool = false) {
            self.lines = lines
            self.close = close
        }

        static func final(_ status: TrackerStatus, _ text: String, close: Bool = false) -> Response {
            Response([TrackerReplyLine(status: status, isFinal: true, text: text)], close: close)
        }

        static func error(_ error: TrackerProtocolError) -> Response { Response([error.replyLine]) }
    }

    private struct PendingUpdate: Sendable {
        var expected: Int
        var files: [SharedFileName: SharedFileEntry] = [:]
        /// The first ``TrackerLimits/maximumRefusedLinesPerUpdate`` refused `FILE` lines, reported.
        var refused: [TrackerReplyLine] = []
        var received = 0
        /// Bytes taken from the per-connection limit and the shared budget for `files`.
        var bytes = 0
    }

    private let store: any TrackerStore
    /// The address the tracker sees on this connection: what lookups report for this peer.
    public let observedHost: String
    private let logger: Logger
    private let endpoints: PeerEndpointTable
    private let connection: TrackerConnectionHandle
    private let updateBudget: ByteBudget
    private let maximumPendingUpdateBytes: Int
    public private(set) var peer: PeerID?
    private var endpoint: PeerEndpointTable.Endpoint?
    private var fileCount = 0
    private var pendingUpdate: PendingUpdate?
    /// After an aborted `UPDATE`, its remaining `FILE` lines are dropped without replies, so that the
    /// abort stays the update's one reply.
    private var fileLinesToSkip = 0

    /// - Parameters:
    ///   - endpoints: who holds which peer endpoint, shared by the tracker's connections (``HelloRule``).
    ///     A conversation on its own (tests, fuzzing) gets a table of its own.
    ///   - connection: this connection as ``endpoints`` sees it.
    ///   - updateBudget: the bytes all connections' pending `UPDATE`s may hold together.
    ///   - maximumPendingUpdateBytes: the bytes this connection's pending `UPDATE` may hold.
    public init(
        store: any TrackerStore, observedHost: String, logger: Logger,
        endpoints: PeerEndpointTable = PeerEndpointTable(),
        connection: TrackerConnectionHandle = TrackerConnectionHandle(),
        updateBudget: ByteBudget = ByteBudget(limit: TrackerLimits.maximumPendingUpdateBytesInAll),
        maximumPendingUpdateBytes: Int = TrackerLimits.maximumPendingUpdateBytes
    ) {
        self.store = store
        self.observedHost = observedHost
        self.logger = logger
        self.endpoints = endpoints
        self.connection = connection
        self.updateBudget = updateBudget
        self.maximumPendingUpdateBytes = maximumPendingUpdateBytes
    }

    /// Bytes held by this connection's pending `UPDATE` (0 when none is pending).
    public var pendingUpdateBytes: Int { pendingUpdate?.bytes ?? 0 }

    /// `true` once the connection said `HELLO`: it is then held to the heartbeat timeout.
    public var isRegistered: Bool { peer != nil }

    /// No `UPDATE` is under way: a `SEND` or `PING` now would be answered as ``lookupResponse(for:rows:)``
    /// and ``pong`` answer it, without this conversation (the server does so on its event loop).
    public var answersLookupsDirectly: Bool { pendingUpdate == nil && fileLinesToSkip == 0 }

    /// The reply to `SEND names`, given the index's rows for the valid names among them.
    public static func lookupResponse(for names: [String], rows: [HolderRow]) -> Response {
        let results = HolderGrouping.results(for: names, rows: rows)
        return Response(results.flatMap(\.replyLines) + [TrackerReplyLine(status: .ok, isFinal: true, text: "SEND \(results.count)")])
    }

    /// The reply to `PING`.
    public static let pong = Response.final(.ok, "PONG")

    /// The reply to a `REPORT` on a live holder.
    public static let reported = Response.final(.ok, "REPORTED")

    /// The reply to a `REPORT` on an endpoint no live session holds.
    public static func unknownHolder(_ report: HolderReport) -> Response {
        .final(.notFound, "NOHOLDER \(report.host) \(report.tcpPort)")
    }

    /// Handles one frame from the connection.
    public mutating func handle(_ frame: LineFrame) async -> Response? {
        switch frame {
        case .invalid(.tooLong(let limit)):
            return abortingUpdate(.error(.init(.lineTooLong, "line longer than \(limit) bytes")))
        case .invalid(.containsNUL):
            return abortingUpdate(.error(.malformed("line contains NUL")))
        case .invalid(.notUTF8):
            return abortingUpdate(.error(.malformed("line is not valid UTF-8")))
        case .line(let line):
            if fileLinesToSkip > 0 {
                if line.uppercased().hasPrefix("FILE") {
                    fileLinesToSkip -= 1
                    return nil
                }
                fileLinesToSkip = 0
            }
            do {
                return try await handle(TrackerRequest(parsing: line))
            } catch let error as TrackerProtocolError {
                if pendingUpdate != nil, line.uppercased().hasPrefix("FILE") {
                    return await refuseInUpdate(error)
                }
                return abortingUpdate(.error(error))
            } catch is CancellationError {
                // The tracker is stopping: not a storage failure.
                return abortingUpdate(.final(.closing, "tracker shutting down", close: true))
            } catch {
                logger.error("tracker storage failed", metadata: ["error": "\(error)"])
                return abortingUpdate(.final(.internalError, "internal error; try again"))
            }
        }
    }

    /// Forgets this connection's peer (its files leave lookups at once) and gives back what it held.
    public func finish() async {
        if let pendingUpdate { updateBudget.give(pendingUpdate.bytes) }
        if let endpoint { endpoints.release(endpoint, by: connection) }
        guard let peer else { return }
        do {
            try await store.unregisterPeer(peer)
        } catch {
            logger.error("could not mark \(peer) offline", metadata: ["error": "\(error)"])
        }
    }

    private mutating func handle(_ request: TrackerRequest) async throws -> Response? {
        if pendingUpdate != nil {
            guard case .file(let entry) = request else {
                let missing = pendingUpdate!.expected - pendingUpdate!.received
                return abortingUpdate(.error(.init(
                    .outOfSequence, "UPDATE aborted: \(missing) more FILE lines were expected; nothing changed")))
            }
            if let abort = receive(entry) { return abort }
            return try await completeUpdateIfDone()
        }

        switch request {
        case .hello(let tcpPort, let udpPort):
            guard peer == nil else { return .error(.init(.alreadyRegistered, "this connection already said HELLO")) }
            let claimed = PeerEndpointTable.Endpoint(host: observedHost, tcpPort: tcpPort)
            switch endpoints.claim(claimed, by: connection) {
            case .refuse(let heardAgo):
                let seconds = Double(heardAgo.nanoseconds / 100_000_000) / 10
                return .error(.init(
                    .endpointInUse,
                    "\(claimed) is registered by another live connection, heard from \(seconds) s ago; try again in \(TrackerLimits.helloTakeoverQuietPeriod) s"))
            case .takeOver(let silence):
                logger.notice("a new connection takes over a silent peer session", metadata: [
                    "peer": "\(claimed)", "silent": "\(silence.nanoseconds / 1_000_000) ms"])
            case .register:
                break
            }
            do {
                peer = try await store.registerPeer(host: observedHost, tcpPort: tcpPort, udpPort: udpPort)
            } catch {
                endpoints.release(claimed, by: connection)
                throw error
            }
            endpoint = claimed
            fileCount = 0
            logger.info("peer registered", metadata: ["peer": "\(observedHost):\(tcpPort)", "udp": "\(udpPort)"])
            return .final(.ok, "HELLO \(observedHost) \(TrackerLimits.heartbeatTimeout) \(TrackerFeature.roots) \(TrackerFeature.partial)")

        case .update(let count):
            guard peer != nil else { return .error(.init(.notRegistered, "say HELLO <tcp-port> <udp-port> first")) }
            pendingUpdate = PendingUpdate(expected: count)
            return try await completeUpdateIfDone()

        case .file:
            return .error(.init(.outOfSequence, "FILE comes only after UPDATE <count>"))

        case .add(let entry):
            guard let peer else { return .error(.init(.notRegistered, "say HELLO <tcp-port> <udp-port> first")) }
            if try await store.addFile(entry, to: peer) {
                // A new name counts against the limit; a changed file does not.
                guard fileCount < TrackerLimits.maximumFilesPerPeer else {
                    _ = try await store.removeFile(named: entry.name, from: peer)
                    return .error(.init(.tooMany, "at most \(TrackerLimits.maximumFilesPerPeer) files per peer"))
                }
                fileCount += 1
            }
            return .final(.ok, "ADDED \(LineScanner.quote(entry.name.rawValue))")

        case .remove(let name):
            guard let peer else { return .error(.init(.notRegistered, "say HELLO <tcp-port> <udp-port> first")) }
            guard try await store.removeFile(named: name, from: peer) else {
                return .final(.notFound, "NOTSHARED \(LineScanner.quote(name.rawValue))")
            }
            fileCount -= 1
            return .final(.ok, "REMOVED \(LineScanner.quote(name.rawValue))")

        case .send(let names):
            let rows = try await store.holderRows(for: names.compactMap(SharedFileName.init))
            return Self.lookupResponse(for: names, rows: rows)

        case .list(let pattern):
            let limit = TrackerLimits.maximumListEntries
            let entries = try await store.list(matching: ListPattern(pattern), limit: limit + 1)
            let shown = entries.prefix(limit)
            let suffix = entries.count > limit ? " more" : ""
            return Response(shown.map(\.replyLine) + [TrackerReplyLine(status: .ok, isFinal: true, text: "LIST \(shown.count)\(suffix)")])

        case .report(let report):
            let known = try await store.report(report, from: observedHost)
            return known ? Self.reported : Self.unknownHolder(report)

        case .ping:
            return Self.pong

        case .help:
            return Response(Self.helpText.map { TrackerReplyLine(status: .help, isFinal: false, text: $0) }
                + [TrackerReplyLine(status: .ok, isFinal: true, text: "HELP")])

        case .quit:
            return .final(.ok, "BYE", close: true)
        }
    }

    /// Takes one `FILE` line of the pending update into it; returns the abort, if it aborts.
    private mutating func receive(_ entry: SharedFileEntry) -> Response? {
        pendingUpdate!.received += 1
        let cost = entry.name.rawValue.utf8.count + TrackerLimits.pendingUpdateEntryOverhead
            + (entry.root == nil ? 0 : TrackerLimits.pendingUpdateRootOverhead)
        guard pendingUpdate!.bytes + cost <= maximumPendingUpdateBytes else {
            return abortingUpdate(.error(.init(
                .tooMany, "UPDATE aborted: its FILE lines hold over \(maximumPendingUpdateBytes) bytes; nothing changed")))
        }
        guard updateBudget.take(cost) else {
            return abortingUpdate(.error(.init(
                .tooMany, "UPDATE aborted: the tracker holds too many pending updates; nothing changed, try again later")))
        }
        pendingUpdate!.bytes += cost
        if pendingUpdate!.files.updateValue(entry, forKey: entry.name) != nil {
            note(refused: TrackerReplyLine(
                status: .malformed, isFinal: false,
                text: "duplicate name \(LineScanner.quote(entry.name.rawValue)) in this UPDATE; the last FILE line for it counts"))
        }
        return nil
    }

    /// What ``handleDirectly(_:)`` did with a frame.
    public enum DirectOutcome: Sendable, Equatable {
        /// Handled; the reply, if the frame gets one.
        case handled(Response?)
        /// The frame needs ``handle(_:)`` (it may change the index).
        case needsTurn
    }

    /// Handles, without the store, a line that an `UPDATE` under way takes: a `FILE` line that is not
    /// the last (good, refused or over a limit), or a line left over from an aborted update. The
    /// server calls it on its event loop, so that an update of 100,000 files takes one turn, not one
    /// per read. Anything else is ``DirectOutcome/needsTurn``, and the conversation is unchanged.
    public mutating func handleDirectly(_ frame: LineFrame) -> DirectOutcome {
        guard case .line(let line) = frame else { return .needsTurn }
        if fileLinesToSkip > 0 {
            guard line.uppercased().hasPrefix("FILE") else { return .needsTurn }
            fileLinesToSkip -= 1
            return .handled(nil)
        }
        // Scalars only: a copy of the pending update would make the next insert copy its dictionary.
        guard let received = pendingUpdate?.received, let expected = pendingUpdate?.expected,
              received + 1 < expected
        else { return .needsTurn }
        do {
            guard case .file(let entry) = try TrackerRequest(parsing: line) else { return .needsTurn }
            return .handled(receive(entry))
        } catch {
            guard line.uppercased().hasPrefix("FILE") else { return .needsTurn }
            pendingUpdate!.received += 1
            note(refused: TrackerReplyLine(status: error.status, isFinal: false, text: error.message))
            return .handled(nil)
        }
    }

    private mutating func completeUpdateIfDone() async throws -> Response? {
        guard let update = pendingUpdate, let peer else { return nil }
        guard update.received == update.expected else { return nil }  // FILE lines get no reply of their own
        pendingUpdate = nil
        defer { updateBudget.give(update.bytes) }
        let files = update.files
        try await store.replaceShare(of: peer, byName: files)
        fileCount = files.count
        logger.info("share updated", metadata: ["peer": "\(observedHost)", "files": "\(files.count)"])
        return Response(update.refused + [TrackerReplyLine(
            status: .ok, isFinal: true, text: "UPDATED \(files.count) \(update.expected - files.count)")])
    }

    /// Keeps a refused-`FILE` line for the reply, up to ``TrackerLimits/maximumRefusedLinesPerUpdate``.
    private mutating func note(refused line: TrackerReplyLine) {
        guard pendingUpdate!.refused.count < TrackerLimits.maximumRefusedLinesPerUpdate else { return }
        pendingUpdate!.refused.append(line)
    }

    /// A bad `FILE` line inside an `UPDATE` is refused on its own; the rest of the update goes on.
    private mutating func refuseInUpdate(_ error: TrackerProtocolError) async -> Response? {
        pendingUpdate!.received += 1
        note(refused: TrackerReplyLine(status: error.status, isFinal: false, text: error.message))
        do {
            return try await completeUpdateIfDone()
        } catch is CancellationError {
            return .final(.closing, "tracker shutting down", close: true)
        } catch {
            logger.error("tracker storage failed", metadata: ["error": "\(error)"])
            return .final(.internalError, "internal error; try again")
        }
    }

    private mutating func abortingUpdate(_ response: Response) -> Response {
        guard let update = pendingUpdate else { return response }
        pendingUpdate = nil
        updateBudget.give(update.bytes)
        fileLinesToSkip = update.expected - update.received
        return response
    }

    static let helpText = [
        "HELLO <tcp-port> <udp-port>      register as a peer (udp-port 0: no UDP)",
        "UPDATE <count>                   replace your share; <count> FILE lines follow",
        "FILE <size> <sha256> <name> [<root>]  one file of an UPDATE (root: after a quoted name)",
        "ADD <size> <sha256> <name> [<root>]   share one more file",
        "REMOVE <name>                    stop sharing a file",
        "SEND <name>[, <name> ...]        who has these files? (quote names with commas)",
        "LIST [<pattern>]                 shared files (glob with * and ?, or a substring)",
        "REPORT <host> <tcp-port> OK <bytes> <ms> | FAILED   how a holder served you",
        "PING                             heartbeat",
        "QUIT                             close the connection",
    ]
}

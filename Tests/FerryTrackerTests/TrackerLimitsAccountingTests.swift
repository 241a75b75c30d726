import FerryTracker
import FerryWire
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// A clock the tests move by hand.
final class ManualClock: Sendable {
    private let instant = NIOLockedValueBox(NIODeadline.uptimeNanoseconds(1_000_000_000_000))
    var now: NIODeadline { instant.withLockedValue { $0 } }
    func advance(by amount: TimeAmount) { instant.withLockedValue { $0 = $0 + amount } }
}

/// Records the lines a superseded connection was sent.
final class ClosedLines: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    var all: [String] { lines.withLockedValue { $0 } }
    func record(_ line: TrackerReplyLine) { lines.withLockedValue { $0.append(line.line) } }
}

/// A log handler that keeps every message, to check what was (not) logged.
struct CapturingLogHandler: LogHandler {
    let messages: NIOLockedValueBox<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        messages.withLockedValue { $0.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
    }
}

@Suite("Connection admission: caps in all, per address, and room for new addresses")
struct ConnectionAdmissionTests {
    @Test("an address over its cap is refused while others get in; releasing makes room again")
    func perAddressCap() {
        var admission = ConnectionAdmission(limits: .init(total: 100, perAddress: 3, reservedForNewAddresses: 10, perAddressWhenCrowded: 2))
        for _ in 0..<3 { #expect(admission.admit("10.0.0.1") == nil) }
        #expect(admission.admit("10.0.0.1") == .addressOverCap(3))
        #expect(admission.admit("10.0.0.2") == nil)
        admission.release("10.0.0.1")
        #expect(admission.admit("10.0.0.1") == nil)
        #expect(admission.count(for: "10.0.0.1") == 3)
    }

    @Test("the last slots go only to addresses that hold few connections")
    func roomForNewAddresses() {
        var admission = ConnectionAdmission(limits: .init(total: 20, perAddress: 20, reservedForNewAddresses: 5, perAddressWhenCrowded: 2))
        for _ in 0..<15 { #expect(admission.admit("10.0.0.1") == nil) }
        // 5 slots left: the busy address is refused, new ones get in (up to 2 each).
        #expect(admission.admit("10.0.0.1") == .crowded(2))
        #expect(admission.admit("10.0.0.2") == nil)
        #expect(admission.admit("10.0.0.2") == nil)
        #expect(admission.admit("10.0.0.2") == .crowded(2))
        #expect(admission.admit("10.0.0.3") == nil)
        #expect(admission.admit("10.0.0.4") == nil)
        #expect(admission.admit("10.0.0.5") == nil)
        #expect(admission.total == 20)
        #expect(admission.admit("10.0.0.6") == .full)
    }

    @Test("nothing is kept for an address once its connections are gone")
    func noLeak() {
        var admission = ConnectionAdmission()
        for index in 0..<1000 { #expect(admission.admit("10.0.\(index / 200).\(index % 200)") == nil) }
        for index in 0..<1000 { admission.release("10.0.\(index / 200).\(index % 200)") }
        #expect(admission.total == 0)
        #expect(admission.addressCount == 0)
        admission.release("10.9.9.9")  // an unknown address changes nothing
        #expect(admission.total == 0)
    }

    @Test("the descriptor budget keeps a reserve for the database")
    func descriptorBudget() {
        #expect(TrackerServer.Configuration.maximumConnections(descriptorLimit: 1024) == 1024 - TrackerServer.Configuration.reservedDescriptors)
        #expect(TrackerServer.Configuration.maximumConnections(descriptorLimit: 1 << 20) == TrackerLimits.maximumConnections)
        #expect(TrackerServer.Configuration.maximumConnections(descriptorLimit: 10) == 1)
    }
}

@Suite("HELLO from the endpoint of a live session")
struct HelloRuleTests {
    static let quiet = TimeAmount.seconds(5)

    @Test("register, refuse while the holder was heard recently, take over once it is silent")
    func decisions() {
        let now = NIODeadline.uptimeNanoseconds(100_000_000_000)
        #expect(HelloRule.decide(holderLastHeard: nil, now: now, quietPeriod: Self.quiet) == .register)
        #expect(HelloRule.decide(holderLastHeard: now - .seconds(1), now: now, quietPeriod: Self.quiet) == .refuse(heardAgo: .seconds(1)))
        #expect(HelloRule.decide(holderLastHeard: now - .seconds(5), now: now, quietPeriod: Self.quiet) == .takeOver(silentFor: .seconds(5)))
        #expect(HelloRule.decide(holderLastHeard: now + .seconds(1), now: now, quietPeriod: Self.quiet) == .refuse(heardAgo: .zero))
    }

    @Test("a second connection is refused with 423 while the first heartbeats; the first keeps its files")
    func refusedWhileLive() async throws {
        let clock = ManualClock()
        let table = PeerEndpointTable(quietPeriod: Self.quiet, now: { clock.now })
        let store = MemoryTrackerStore()
        let first = TrackerConnectionHandle(now: clock.now)
        var a = TrackerConversation(store: store, observedHost: "10.0.0.1", logger: quietLogger, endpoints: table, connection: first)
        await a.share([entry("a.txt")])
        let second = TrackerConnectionHandle(now: clock.now)
        var b = TrackerConversation(store: store, observedHost: "10.0.0.1", logger: quietLogger, endpoints: table, connection: second)
        clock.advance(by: .seconds(3))
        first.heard(at: clock.now)  // a PING
        clock.advance(by: .seconds(4))
        let refusal = try #require(await b.ask("HELLO 5555"))
        #expect(refusal.hasPrefix("423 10.0.0.1:5555 is registered by another live connection, heard from 4.0 s ago"))
        #expect(!b.isRegistered)
        #expect(!first.isSuperseded)
        #expect(await store.holderRows(for: [fileName("a.txt")]).count == 1)
        // Another port from the same address is another peer: no conflict.
        #expect(await b.ask("HELLO 6666") == "200 HELLO 10.0.0.1 9 ROOTS PARTIAL")
    }

    @Test("a silent holder is taken over: it is sent 421 and closed, the new session is the one listed")
    func takeOverSilentHolder() async throws {
        let clock = ManualClock()
        let table = PeerEndpointTable(quietPeriod: Self.quiet, now: { clock.now })
        let store = MemoryTrackerStore()
        let first = TrackerConnectionHandle(now: clock.now)
        let closed = ClosedLines()
        first.onSupersede { closed.record($0) }
        var a = TrackerConversation(store: store, observedHost: "10.0.0.1", logger: quietLogger, endpoints: table, connection: first)
        await a.share([entry("old.txt")])
        clock.advance(by: .seconds(6))
        var b = TrackerConversation(
            store: store, observedHost: "10.0.0.1", logger: quietLogger, endpoints: table, connection: TrackerConnectionHandle(now: clock.now))
        await b.share([entry("new.txt")])
        #expect(b.isRegistered)
        #expect(first.isSuperseded)
        #expect(closed.all == ["421 a new connection registered 10.0.0.1:5555 after 6 s of silence here; closing"])
        #expect(await store.holderRows(for: [fileName("old.txt")]).isEmpty)
        #expect(await store.holderRows(for: [fileName("new.txt")]).count == 1)
        // The old connection's end does not unlist the new session, nor free its endpoint.
        await a.finish()
        #expect(await store.holderRows(for: [fileName("new.txt")]).count == 1)
        #expect(table.count == 1)
        await b.finish()
        #expect(table.count == 0)
    }

    @Test("a HELLO the store refuses does not keep the endpoint")
    func failedRegistrationReleases() async {
        let table = PeerEndpointTable()
        var conversation = TrackerConversation(
            store: FailingTrackerStore(failRegistration: true), observedHost: "10.0.0.1", logger: quietLogger, endpoints: table)
        #expect(await conversation.ask("HELLO 5555") == "500 internal error; try again")
        #expect(table.count == 0)
    }
}

@Suite("Pending UPDATE: bounded in bytes, given back however it ends")
struct PendingUpdateBudgetTests {
    /// A 205-byte name.
    static func longName(_ index: Int) -> String {
        let number = String(index)
        return String(repeating: "0", count: 4 - number.count) + number + "-" + String(repeating: "n", count: 200)
    }

    @Test("an UPDATE over the per-connection byte cap is aborted with 413 and nothing changes")
    func perConnectionCap() async {
        let store = MemoryTrackerStore()
        let budget = ByteBudget(limit: 1 << 20)
        var conversation = TrackerConversation(
            store: store, observedHost: "10.0.0.1", logger: quietLogger, updateBudget: budget, maximumPendingUpdateBytes: 3000)
        await conversation.share([entry("kept.txt")])
        #expect(await conversation.say("UPDATE 50") == nil)
        var replies: [String] = []
        for index in 0..<50 {
            if let lines = await conversation.say("FILE 1 \(hexA) \(Self.longName(index))") { replies += lines }
        }
        // Each FILE costs 205 + 96 bytes: the 10th goes over 3000.
        #expect(replies == ["413 UPDATE aborted: its FILE lines hold over 3000 bytes; nothing changed"])
        #expect(budget.inUse == 0)
        #expect(conversation.pendingUpdateBytes == 0)
        #expect(await store.holderRows(for: [fileName("kept.txt")]).count == 1)
        #expect(await conversation.ask("PING") == "200 PONG")
    }

    @Test("UPDATEs of all connections together stay within the shared budget")
    func sharedBudget() async {
        let store = MemoryTrackerStore()
        let budget = ByteBudget(limit: 1600)
        var a = TrackerConversation(store: store, observedHost: "10.0.0.1", logger: quietLogger, updateBudget: budget)
        var b = TrackerConversation(store: store, observedHost: "10.0.0.2", logger: quietLogger, updateBudget: budget)
        _ = await a.say("HELLO 5555")
        _ = await b.say("HELLO 5555")
        #expect(await a.say("UPDATE 10") == nil)
        for index in 0..<5 { #expect(await a.say("FILE 1 \(hexA) \(Self.longName(index))") == nil) }
        #expect(budget.inUse == 5 * 301)
        #expect(await b.say("UPDATE 2") == nil)
        #expect(await b.say("FILE 1 \(hexA) \(Self.longName(1))") == [
            "413 UPDATE aborted: the tracker holds too many pending updates; nothing changed, try again later"])
        #expect(budget.inUse == 5 * 301)
        await a.finish()  // the connection closes mid-UPDATE
        #expect(budget.inUse == 0)
        #expect(await b.say("UPDATE 1") == nil)
        #expect(await b.say("FILE 1 \(hexA) \(Self.longName(1))") == ["200 UPDATED 1 0"])
        #expect(budget.inUse == 0)
    }

    @Test("refused FILE lines are reported one by one up to a limit, then only counted")
    func refusedLinesCapped() async {
        var conversation = TrackerConversation(MemoryTrackerStore())
        _ = await conversation.say("HELLO 5555")
        let count = TrackerLimits.maximumRefusedLinesPerUpdate + 50
        _ = await conversation.say("UPDATE \(count)")
        var reply: [String]?
        for _ in 0..<count { reply = await conversation.say("FILE 1 zz bad") }
        #expect(reply?.count == TrackerLimits.maximumRefusedLinesPerUpdate + 1)
        #expect(reply?.last == "200 UPDATED 0 \(count)")
    }
}

/// A store whose calls wait until the test lets them go, or throw `CancellationError` when cancelled.
actor BlockingTrackerStore: TrackerStore {
    private var waiting: [CheckedContinuation<Void, any Error>] = []
    private let (calls, callStarted) = AsyncStream.makeStream(of: Void.self)

    /// Returns once a call is waiting.
    func waitForCall() async {
        for await _ in calls { return }
    }

    private func block() async throws {
        callStarted.yield()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { waiting.append($0) }
        } onCancel: {
            Task { await self.cancelAll() }
        }
    }

    private func cancelAll() {
        for continuation in waiting { continuation.resume(throwing: CancellationError()) }
        waiting = []
    }

    func markAllPeersOffline() {}
    func registerPeer(host: String, tcpPort: UInt16, udpPort: UInt16) async throws -> PeerID {
        try await block()
        return PeerID(rawValue: 1)
    }
    func unregisterPeer(_ peer: PeerID) {}
    func replaceShare(of peer: PeerID, with files: [SharedFileEntry]) {}
    func addFile(_ file: SharedFileEntry, to peer: PeerID) -> Bool { true }
    func removeFile(named name: SharedFileName, from peer: PeerID) -> Bool { true }
    func holderRows(for names: [SharedFileName]) -> [HolderRow] { [] }
    func list(matching pattern: ListPattern, limit: Int) -> [ListEntry] { [] }
}

@Suite("Cancellation is not a storage failure")
struct CancellationTests {
    @Test("a store call cancelled by shutdown answers 421 and logs no storage error")
    func cancelledStoreCall() async throws {
        let messages = NIOLockedValueBox<[String]>([])
        let logger = Logger(label: "test") { _ in CapturingLogHandler(messages: messages) }
        let store = BlockingTrackerStore()
        let task = Task {
            var conversation = TrackerConversation(store: store, observedHost: "10.0.0.1", logger: logger)
            return await conversation.say("HELLO 5555")
        }
        await store.waitForCall()
        task.cancel()
        #expect(await task.value == ["421 tracker shutting down"])
        #expect(!messages.withLockedValue { $0 }.contains { $0.contains("storage failed") })
    }
}

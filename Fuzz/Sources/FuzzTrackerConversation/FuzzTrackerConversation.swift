import Dispatch
import FerryTracker
import FerryWire
import FuzzSupport
import Logging

/// Two tracker connections from one address, driven line by line against one in-memory SQLite store
/// (the second as the server drives it, with `handleDirectly` first):
/// framing, the request parser, the conversation's state (HELLO, UPDATE with its FILE lines, ADD,
/// REMOVE, SEND, LIST) and the store's queries. Whatever the bytes: no crash, every reply is one wire
/// line that the client's parser accepts, every reply ends with a final line, and the replies to SEND
/// and LIST read back with the client's own parsers.
///
/// Input: one byte that chooses how each stream is split into reads, then the bytes. A 0x01 byte
/// switches the following bytes to the other connection.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = fuzzBytes(start, count)
    guard let control = bytes.first else { return 0 }
    var streams: [[UInt8]] = [[], []]
    var current = 0
    for byte in bytes.dropFirst() {
        if byte == 0x01 { current = 1 - current } else { streams[current].append(byte) }
    }
    let frames = streams.map {
        checkedLineFrames(of: $0[...], seed: control, maximumLineLength: TrackerLimits.maximumLineLength)
    }
    // Interleave the two connections' frames: first's, then second's, one frame each in turn.
    var script: [(connection: Int, frame: LineFrame)] = []
    for index in 0..<max(frames[0].count, frames[1].count) {
        for connection in 0..<2 where index < frames[connection].count {
            script.append((connection, frames[connection][index]))
        }
    }
    let store = FuzzStore.next()
    let done = DispatchSemaphore(value: 0)
    Task.detached { [script] in
        await run(script, store: store)
        done.signal()
    }
    done.wait()
    return 0
}

/// One store for many inputs (opening and migrating one costs milliseconds); replaced every so often so
/// that the rows of finished sessions do not pile up.
enum FuzzStore {
    nonisolated(unsafe) static var store: SQLiteTrackerStore?
    nonisolated(unsafe) static var uses = 0

    static func next() -> SQLiteTrackerStore {
        uses += 1
        if store == nil || uses % 10_000 == 0 {
            do {
                store = try SQLiteTrackerStore(path: ":memory:")
            } catch {
                fuzzCheck(false, "cannot open an in-memory store: \(error)")
            }
        }
        return store!
    }
}

let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

func run(_ script: [(connection: Int, frame: LineFrame)], store: SQLiteTrackerStore) async {
    var conversations = [
        TrackerConversation(store: store, observedHost: "127.0.0.1", logger: logger),
        TrackerConversation(store: store, observedHost: "127.0.0.1", logger: logger),
    ]
    var closed = [false, false]
    for (connection, frame) in script where !closed[connection] {
        // The second connection is driven as the server drives one: the lines an UPDATE takes
        // without the store first (`handleDirectly`), the rest through `handle`.
        var response: TrackerConversation.Response?
        if connection == 1, case .handled(let direct) = conversations[1].handleDirectly(frame) {
            response = direct
        } else {
            response = await conversations[connection].handle(frame)
        }
        guard let response else { continue }
        fuzzCheck(!response.lines.isEmpty, "an empty response to \(frame)")
        check(response, to: frame)
        if response.close { closed[connection] = true }
    }
    for conversation in conversations {
        await conversation.finish()
    }
}

/// The client's view: every line fits its framing and parses, the last one ends the reply, and the
/// replies to SEND and LIST read back.
func check(_ response: TrackerConversation.Response, to frame: LineFrame) {
    var assembler = TrackerReplyAssembler()
    var reply: TrackerReply?
    for (index, line) in response.lines.enumerated() {
        let wire = line.line
        fuzzCheck(isOneWireLine(wire), "reply line is not one wire line: \(wire)")
        fuzzCheck(wire.utf8.count <= TrackerLimits.maximumLineLength,
                  "reply line of \(wire.utf8.count) bytes is longer than a client reads")
        do {
            reply = try assembler.push(wire)
        } catch {
            fuzzCheck(false, "client refuses reply line \(wire): \(error)")
        }
        fuzzCheck((reply != nil) == (index == response.lines.count - 1),
                  "reply to \(frame) does not end with its last line: \(response.lines)")
    }
    guard let reply, case .line(let text) = frame, let request = try? TrackerRequest(parsing: text) else { return }
    switch request {
    case .send(let names) where reply.final.status.isSuccess:
        do {
            let results = try LookupResult.results(of: reply)
            fuzzCheck(results.count == names.count, "SEND of \(names.count) names answered with \(results.count) results")
        } catch {
            fuzzCheck(false, "client cannot read the SEND reply \(response.lines): \(error)")
        }
    case .list where reply.final.status.isSuccess:
        do {
            _ = try ListEntry.entries(of: reply)
        } catch {
            fuzzCheck(false, "client cannot read the LIST reply \(response.lines): \(error)")
        }
    default:
        break
    }
}

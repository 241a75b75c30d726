// Times the tracker's handling of one UPDATE of N files, without sockets: the line decoder, the
// request parser, the conversation (memory index) and the database record, each phase on its own.
import FerryTracker
import FerryWire
import Foundation
import Logging
import NIOCore

let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1])! : 100_000
let rounds = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2])! : 3

func fileLines(prefix: String) -> [ByteBuffer] {
    var chunks: [ByteBuffer] = []
    var buffer = ByteBuffer()
    let hex = String(repeating: "ab", count: 32)
    for i in 0..<count {
        buffer.writeString("FILE \(1000 + i) \(hex) \"\(prefix)-file-\(i).dat\"\n")
        if buffer.readableBytes >= 65_536 { chunks.append(buffer); buffer = ByteBuffer() }
    }
    if buffer.readableBytes > 0 { chunks.append(buffer) }
    return chunks
}

func seconds(_ d: Duration) -> String { String(format: "%.3f s", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) }

let clock = ContinuousClock()
var logger = Logger(label: "bench"); logger.logLevel = .error
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-update-bench-\(getpid())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: folder) }

for round in 0..<rounds {
    let chunks = fileLines(prefix: "r\(round)")
    // 1. Frames only.
    var frames: [LineFrame] = []
    frames.reserveCapacity(count)
    let decode = clock.measure {
        var decoder = LineFrameDecoder(maximumLineLength: TrackerLimits.maximumLineLength)
        for var chunk in chunks { while let frame = try! decoder.decode(buffer: &chunk) { frames.append(frame) } }
    }
    // 2. Parsing only.
    var parsed = 0
    let parse = clock.measure {
        for frame in frames { if case .line(let line) = frame, case .file = try? TrackerRequest(parsing: line) { parsed += 1 } }
    }
    // 3. The conversation: every FILE line as the server takes it, then the last one's turn.
    let sqlite = try SQLiteTrackerStore(path: folder.appendingPathComponent("r\(round).sqlite").path)
    let journal = TrackerJournal(durable: sqlite, logger: logger)
    let writer = Task { await journal.run() }
    var conversation = TrackerConversation(store: journal, observedHost: "127.0.0.2", logger: logger,
                                           maximumPendingUpdateBytes: 1 << 30)
    _ = await conversation.handle(.line("HELLO 5555 5555"))
    _ = await conversation.handle(.line("UPDATE \(count)"))
    var reply: TrackerConversation.Response?
    let start = clock.now
    for frame in frames.dropLast() {
        if case .handled = conversation.handleDirectly(frame) { continue }
        _ = await conversation.handle(frame)
    }
    let lines = clock.now
    reply = await conversation.handle(frames.last!)
    let answered = clock.now
    await journal.flush()
    let recorded = clock.now
    journal.stop(); await writer.value
    print("round \(round): \(count) files; decode \(seconds(decode)), parse \(seconds(parse)) (\(parsed)); "
          + "conversation: lines \(seconds(lines - start)), last turn \(seconds(answered - lines)); "
          + "database \(seconds(recorded - answered)); reply \(reply?.lines.last?.text ?? "none")")
}

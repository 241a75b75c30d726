import FerryPeer
import FerryWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tracker on 127.0.0.1 that misbehaves on purpose, on a real loopback socket: it closes at once,
/// says `421` and closes, resets the connection, never answers, or speaks the protocol just well
/// enough (HELLO, UPDATE/FILE, ADD, REMOVE, PING, SEND, QUIT) until the test tells it to say `421`
/// and close a connection, as a tracker does to a superseded session.
final class ScriptedTracker: Sendable {
    enum Behaviour: Sendable, CustomStringConvertible {
        case closeAtOnce
        case say421AndClose
        case reset
        case neverAnswer
        case answer

        var description: String {
            switch self {
            case .closeAtOnce: "accepts and closes at once"
            case .say421AndClose: "accepts, says 421 and closes"
            case .reset: "accepts and resets (SO_LINGER 0)"
            case .neverAnswer: "accepts and never answers"
            case .answer: "answers"
            }
        }
    }

    /// What one connection sent, line by line.
    struct Connection: Sendable {
        var lines: [String] = []
    }

    let port: Int
    private let server: any Channel
    private let task: Task<Void, Never>
    private let state: NIOLockedValueBox<State>

    private struct State {
        var connections: [Connection] = []
        var channels: [Int: any Channel] = [:]
    }

    var endpoint: Endpoint { Endpoint(host: "127.0.0.1", port: port) }

    private init(port: Int, server: any Channel, task: Task<Void, Never>, state: NIOLockedValueBox<State>) {
        self.port = port
        self.server = server
        self.task = task
        self.state = state
    }

    static func start(_ behaviour: Behaviour) async throws -> ScriptedTracker {
        let state = NIOLockedValueBox(State())
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(AcceptedChannel.autoReadOption, value: false)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Recorded here, so that `stop()` closes one the accept loop never took too.
                    state.withLockedValue { state in
                        state.connections.append(Connection())
                        state.channels[state.connections.count - 1] = channel
                    }
                    return channel
                }
            }
        let task = Task {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await channel in inbound {
                            let index = state.withLockedValue { state in
                                state.channels.first { $0.value === channel }!.key
                            }
                            group.addTask {
                                guard let connection = try? await AcceptedChannel.wrap(channel) as NIOAsyncChannel<ByteBuffer, ByteBuffer> else { return }
                                await serve(connection, index: index, behaviour, state: state)
                            }
                        }
                    }
                } catch {}
            }
        }
        return ScriptedTracker(port: server.channel.localAddress!.port!, server: server.channel, task: task, state: state)
    }

    /// Every connection so far and what it sent.
    var connections: [Connection] { state.withLockedValue { $0.connections } }

    /// Says `421 <text>` on connection `index` and closes it, as a tracker does to a session that
    /// another `HELLO` superseded.
    func supersede(_ index: Int, text: String = "superseded by a new session from the same address") async throws {
        guard let channel = state.withLockedValue({ $0.channels[index] }) else { return }
        try await channel.writeAndFlush(ByteBuffer(string: "421 \(text)\n"))
        // Half-close: the serving loop reads until the peer closes, so no reset can swallow the line.
        try? await channel.close(mode: .output)
    }

    func stop() async {
        for channel in state.withLockedValue({ Array($0.channels.values) }) { try? await channel.close() }
        try? await server.close()
        await task.value
    }

    private static func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, index: Int, _ behaviour: Behaviour,
                              state: NIOLockedValueBox<State>) async {
        try? await connection.executeThenClose { inbound, outbound in
            switch behaviour {
            case .closeAtOnce:
                return
            case .say421AndClose:
                // Closed the way a tracker should: the line, then the write side, then whatever the
                // client still sends is read until it closes (closing with unread input would send a
                // reset, and the client could lose the line).
                try await outbound.write(ByteBuffer(string: "421 too many connections; try again later\n"))
                try await connection.channel.close(mode: .output)
                for try await _ in inbound {}
            case .reset:
                if let options = connection.channel as? any SocketOptionProvider {
                    try await options.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
                }
                return
            case .neverAnswer:
                for try await _ in inbound {}
            case .answer:
                var pending = ByteBuffer()
                var filesExpected = 0
                for try await var bytes in inbound {
                    pending.writeBuffer(&bytes)
                    while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = pending.readString(length: newline - pending.readerIndex)!
                        pending.moveReaderIndex(forwardBy: 1)
                        state.withLockedValue { $0.connections[index].lines.append(line) }
                        let words = line.split(separator: " ")
                        let verb = words.first.map { $0.uppercased() } ?? ""
                        var reply: String?
                        switch verb {
                        case "HELLO": reply = "200 HELLO 127.0.0.1 9"
                        case "UPDATE":
                            filesExpected = Int(words.dropFirst().first ?? "0") ?? 0
                            if filesExpected == 0 { reply = "200 UPDATE 0" }
                        case "FILE":
                            filesExpected -= 1
                            if filesExpected == 0 { reply = "200 UPDATE" }
                        case "PING": reply = "200 PONG"
                        case "ADD": reply = "200 ADDED"
                        case "REMOVE": reply = "200 REMOVED"
                        case "SEND": reply = "200 SEND 0"
                        case "QUIT":
                            try await outbound.write(ByteBuffer(string: "200 BYE\n"))
                            return
                        default: reply = "401 unknown"
                        }
                        if let reply { try await outbound.write(ByteBuffer(string: reply + "\n")) }
                    }
                }
            }
        }
    }
}

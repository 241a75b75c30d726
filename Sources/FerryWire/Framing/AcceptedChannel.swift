import NIOCore

/// Wrapping an accepted connection in a `NIOAsyncChannel` in the task that serves it, not in the
/// server's child-channel initializer.
///
/// A `NIOAsyncChannel` made with `init(wrappingChannelSynchronously:)` must reach `executeThenClose`:
/// one dropped while its channel is open traps ("Deinited NIOAsyncWriter without calling finish()").
/// A listener's async stream drops the children it accepted but could not hand over (those whose
/// initializer completed after the listener closed, or were buffered when its loop ended), so a
/// server that wraps in the initializer can trap at shutdown. Instead the initializer only adds
/// handlers, the child starts with `autoRead` off (no byte is read before the wrapper is in place),
/// and the serving task wraps it here, on the channel's event loop, and then turns reading on. A
/// child the stream drops is then a plain `Channel`, which the server closes.
public enum AcceptedChannel {
    /// Set on the `ServerBootstrap` (`.childChannelOption(AcceptedChannel.autoReadOption, value: false)`):
    /// children read nothing until ``wrap(_:configuration:)``.
    public static let autoReadOption = ChannelOptions.Types.AutoReadOption()

    /// Wraps `channel` (accepted with `autoRead` off) and starts reading. Throws (and closes the
    /// channel) when it cannot, e.g. when the channel closed in the meantime.
    public static func wrap<Inbound: Sendable, Outbound: Sendable>(
        _ channel: any Channel,
        configuration: NIOAsyncChannel<Inbound, Outbound>.Configuration = .init()
    ) async throws -> NIOAsyncChannel<Inbound, Outbound> {
        try await channel.eventLoop.submit {
            // Reading on only registers interest: the first read comes from the selector, after this
            // closure put the wrapper in place.
            do {
                try channel.syncOptions?.setOption(.autoRead, value: true)
                return try NIOAsyncChannel<Inbound, Outbound>(wrappingChannelSynchronously: channel,
                                                              configuration: configuration)
            } catch {
                channel.close(promise: nil)
                throw error
            }
        }.get()
    }
}

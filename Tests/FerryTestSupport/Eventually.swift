/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held. For
/// state that has no event to await (a server's count of connections, another tracker's rows). The
/// default bound is 10 s, five times it under a sanitizer (``Sanitizers/patience(_:)``).
public func eventually(within timeout: Duration = Sanitizers.patience(.seconds(10)), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

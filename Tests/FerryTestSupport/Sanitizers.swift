#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether this test process runs under the thread or address sanitizer (`swift test --sanitize=…`),
/// found from the runtime's symbols.
///
/// Under a sanitizer the code runs 5 to 20 times slower. Tests that move many megabytes (or simulate
/// many transfers) take a smaller size there, through ``scaled(_:sanitized:)``: the same code paths
/// and the same assertions, fewer bytes. Deadlines a test sets for what it does not test (a connect,
/// a reply, the next bytes of a transfer) take ``patience(_:)``: under a sanitizer, beside the other
/// suites on two cores, a loopback reply took over 10 s in CI.
public enum Sanitizers {
    public static let active: Bool = {
        guard let handle = dlopen(nil, RTLD_NOW) else { return false }
        defer { dlclose(handle) }
        let runtimes: [String] = ["__tsan_init", "__asan_init"]
        return runtimes.contains { dlsym(handle, $0) != nil }
    }()

    /// `normal`, or `sanitized` under a sanitizer.
    public static func scaled<Value>(_ normal: Value, sanitized: Value) -> Value {
        active ? sanitized : normal
    }

    /// How long to wait for something the test does not test: `normal`, or five times it under a
    /// sanitizer. Deadlines a test is about (a `408` after the request timeout, a stall detected)
    /// keep their values; so the assertions are the same, only a slow machine is not a failure.
    public static func patience(_ normal: Duration) -> Duration {
        normal * patienceFactor
    }

    /// The factor of ``patience(_:)``, for timeouts of other types (NIO's `TimeAmount`).
    public static let patienceFactor = active ? 5 : 1

    /// The minutes of a time limit that guards a test against a hang: `minutes`, three times as many
    /// under a sanitizer.
    public static func hangGuard(minutes: Int) -> Int {
        active ? 3 * minutes : minutes
    }
}

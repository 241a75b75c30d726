import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A short reason for a failed connect or socket, for people: "connection refused",
/// "no answer within 5 s", rather than NIO's nested error values.
func describe(connectError error: any Error, timeout: TimeAmount) -> String {
    switch error {
    case let error as NIOConnectionError:
        return error.connectionErrors.first.map { describe(connectError: $0.error, timeout: timeout) } ?? "cannot connect"
    case let error as IOError:
        return String(cString: strerror(error.errnoCode)).lowercased()
    case let error as SocketAddressError:
        return "bad address: \(error)"
    case ChannelError.connectTimeout:
        return "no answer within \(timeout.nanoseconds / 1_000_000_000) s"
    default:
        return "\(error)"
    }
}

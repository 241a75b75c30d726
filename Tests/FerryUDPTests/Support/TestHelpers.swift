import FerryUDP
import NIOCore
import Testing

/// `#require` for values produced by mutating calls, which the macro cannot capture.
func unwrap<T>(_ value: T?, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
    try #require(value, sourceLocation: sourceLocation)
}

extension UDPPacket {
    /// The packet's CLOSE frame, if it has one.
    var closeFrame: UDPCloseFrame? {
        for case .close(let frame) in self.frames {
            return frame
        }
        return nil
    }

    /// Decodes `datagram`'s CLOSE frame, if it is a packet with one.
    static func closeFrame(in datagram: ByteBuffer) -> UDPCloseFrame? {
        (try? UDPPacket(decoding: datagram))?.closeFrame
    }
}

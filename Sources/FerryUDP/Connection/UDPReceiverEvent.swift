import NIOCore

/// What a ``UDPReceiverStateMachine`` reports to its driver, in order.
public enum UDPReceiverEvent: Hashable, Sendable {
    /// The server accepted the request: file size, range and digest are known. Comes before any data.
    case response(UDPResponseFrame)
    /// File bytes at `offset`, in offset order with no gap or overlap. Once written, report them with
    /// ``UDPReceiverStateMachine/consumed(bytes:)`` to grant the sender more credit.
    case data(offset: UInt64, bytes: ByteBuffer)
    /// Every requested byte was delivered; the closing handshake continues in the background.
    case complete
    /// The connection ended; the last event.
    case closed(UDPTransferOutcome)
}

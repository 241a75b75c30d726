import FerryUDP
import NIOCore

// What the UDP server's and client's channel handlers share: the one timer each state machine
// asks for, the datagrams in a coalesced read, and in-place access to a machine held by a class.

/// The timer an event-loop driver keeps for one `FerryUDP` state machine, armed at the deadline the
/// machine asks for.
///
/// A timer already armed for that deadline or an earlier one stays: when it fires, the machine runs
/// what expired by then (nothing, if it fired early) and the driver arms it again for the deadline
/// of that moment. Re-arming after every datagram cost a task allocation and two updates of the
/// event loop's timer heap each time.
struct DeadlineTimer {
    private var armed: (task: Scheduled<Void>, deadline: UDPMonotonicInstant)?

    /// Arms the timer for `deadline`, or cancels it for `nil`. `schedule` is called only when a new
    /// task is needed, with the delay from `now`; it returns the scheduled task.
    mutating func arm(
        at deadline: UDPMonotonicInstant?,
        now: UDPMonotonicInstant,
        schedule: (TimeAmount) -> Scheduled<Void>
    ) {
        guard let deadline else {
            return self.cancel()
        }
        if let armed, armed.deadline <= deadline {
            return
        }
        self.armed?.task.cancel()
        let delay = max(now.duration(to: deadline), .zero)
        self.armed = (schedule(.nanoseconds(delay.wholeNanoseconds)), deadline)
    }

    /// The scheduled task ran: nothing is armed any more.
    mutating func fired() {
        self.armed = nil
    }

    mutating func cancel() {
        self.armed?.task.cancel()
        self.armed = nil
    }
}

extension AddressedEnvelope<ByteBuffer> {
    /// Calls `body` with each datagram in the envelope: one, or several when the kernel coalesced
    /// them (GRO). Slices, and no array of them: this runs for every datagram received.
    func forEachDatagram(_ body: (ByteBuffer) -> Void) {
        guard let size = self.metadata?.segmentSize, size > 0, self.data.readableBytes > size else {
            return body(self.data)
        }
        var data = self.data
        while data.readableBytes > 0 {
            body(data.readSlice(length: min(size, data.readableBytes))!)
        }
    }
}

/// Runs `body` on `value` in place.
///
/// Reading a computed property of a large struct held in a class property (`demultiplexer.nextDeadline(for:)`,
/// `machine.nextDeadline`) makes Swift copy the whole struct first — retaining and then releasing
/// every buffer in it — since the class property could change during the call; an `inout` access
/// borrows it instead.
@inline(__always)
func inPlace<Value, Result>(_ value: inout Value, _ body: (inout Value) -> Result) -> Result {
    body(&value)
}

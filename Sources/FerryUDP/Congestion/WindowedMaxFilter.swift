/// The maximum of the samples taken over the last `window` time units (rounds, for BBR's bandwidth).
///
/// Kathleen Nichols' algorithm as used in Linux's `minmax`: it keeps the best, second-best and
/// third-best candidates of successive sub-windows, so it needs O(1) memory and time per sample.
struct WindowedMaxFilter: Hashable, Sendable {
    private struct Entry: Hashable, Sendable {
        var time: UInt64
        var value: Double
    }

    let window: UInt64
    private var entries: [Entry] = []

    init(window: UInt64) {
        self.window = window
    }

    /// The current maximum, or zero before any sample.
    var best: Double {
        self.entries.first?.value ?? 0
    }

    /// Forgets every sample.
    mutating func reset() {
        self.entries.removeAll(keepingCapacity: true)
    }

    /// Adds `value` observed at `time` (times never decrease).
    mutating func update(_ value: Double, at time: UInt64) {
        let entry = Entry(time: time, value: value)
        if self.entries.isEmpty || value >= self.entries[0].value || time - self.entries[2].time > self.window {
            self.entries = [entry, entry, entry]
            return
        }
        if value >= self.entries[1].value {
            self.entries[1] = entry
            self.entries[2] = entry
        } else if value >= self.entries[2].value {
            self.entries[2] = entry
        }
        self.expire(at: time, latest: entry)
    }

    private mutating func expire(at time: UInt64, latest: Entry) {
        let elapsed = time - self.entries[0].time
        if elapsed > self.window {
            // The best is too old: promote the others.
            self.entries[0] = self.entries[1]
            self.entries[1] = self.entries[2]
            self.entries[2] = latest
            if time - self.entries[0].time > self.window {
                self.entries[0] = self.entries[1]
                self.entries[1] = self.entries[2]
            }
        } else if self.entries[1].time == self.entries[0].time, elapsed > self.window / 4 {
            // A quarter of the window passed with no second choice: take one from the current sub-window.
            self.entries[1] = latest
            self.entries[2] = latest
        } else if self.entries[2].time == self.entries[1].time, elapsed > self.window / 2 {
            self.entries[2] = latest
        }
    }
}

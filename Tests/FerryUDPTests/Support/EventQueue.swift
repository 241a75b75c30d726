/// A min-heap of timed events; ties run in insertion order, which keeps simulations deterministic.
struct EventQueue<Event> {
    private struct Entry {
        var time: TestInstant
        var sequence: Int
        var event: Event

        func precedes(_ other: Entry) -> Bool {
            self.time < other.time || (self.time == other.time && self.sequence < other.sequence)
        }
    }

    private var heap: [Entry] = []
    private var sequence = 0

    var isEmpty: Bool { self.heap.isEmpty }

    var count: Int { self.heap.count }

    mutating func push(_ event: Event, at time: TestInstant) {
        self.sequence += 1
        self.heap.append(Entry(time: time, sequence: self.sequence, event: event))
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.heap[child].precedes(self.heap[parent]) else {
                break
            }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: TestInstant, event: Event)? {
        guard !self.heap.isEmpty else {
            return nil
        }
        self.heap.swapAt(0, self.heap.count - 1)
        let entry = self.heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < self.heap.count, self.heap[left].precedes(self.heap[smallest]) {
                smallest = left
            }
            if right < self.heap.count, self.heap[right].precedes(self.heap[smallest]) {
                smallest = right
            }
            guard smallest != parent else {
                break
            }
            self.heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (entry.time, entry.event)
    }
}

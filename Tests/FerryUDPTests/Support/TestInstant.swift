/// A point in simulated time: a duration since the simulation started.
struct TestInstant: InstantProtocol, CustomStringConvertible {
    var offset: Duration

    static let zero = TestInstant(offset: .zero)

    func advanced(by duration: Duration) -> TestInstant {
        TestInstant(offset: self.offset + duration)
    }

    func duration(to other: TestInstant) -> Duration {
        other.offset - self.offset
    }

    static func < (lhs: TestInstant, rhs: TestInstant) -> Bool {
        lhs.offset < rhs.offset
    }

    var seconds: Double {
        let (seconds, attoseconds) = self.offset.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    var description: String {
        "t+\(self.offset)"
    }
}

import Testing

@Test func udpTargetBuilds() { #expect(Int("5555") == 5555) }

import FerryWire
import Testing

@Suite("TrackerStatus: stable codes")
struct TrackerStatusTests {
    static let codes: [(TrackerStatus, UInt16, Bool)] = [
        (.ok, 200, true), (.file, 210, true), (.peer, 211, true), (.listEntry, 212, true), (.help, 214, true),
        (.malformed, 400, false), (.unknownCommand, 401, false), (.lineTooLong, 402, false), (.badName, 403, false),
        (.notFound, 404, false), (.notRegistered, 405, false), (.outOfSequence, 406, false),
        (.alreadyRegistered, 409, false), (.tooMany, 413, false), (.closing, 421, false), (.internalError, 500, false),
    ]

    @Test("every named status has its documented code", arguments: codes)
    func code(_ status: TrackerStatus, _ code: UInt16, _ success: Bool) {
        #expect(status.code == code)
        #expect(status == TrackerStatus(code: code))
        #expect(status.isSuccess == success)
        #expect(status.description == String(code))
    }

    @Test("the named codes are distinct")
    func distinct() {
        #expect(Set(Self.codes.map(\.0)).count == Self.codes.count)
    }

    @Test("success is every code below 300")
    func successBoundary() {
        #expect(TrackerStatus(code: 0).isSuccess)
        #expect(TrackerStatus(code: 299).isSuccess)
        #expect(!TrackerStatus(code: 300).isSuccess)
        #expect(!TrackerStatus(code: 999).isSuccess)
    }
}

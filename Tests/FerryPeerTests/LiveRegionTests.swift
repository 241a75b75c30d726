import FerryPeer
import FerryTestSupport
import Testing

/// The live progress lines at the bottom of the terminal, played on a virtual screen: what a person
/// sees after text, log lines and updates arrive in any order.
@Suite("LiveRegion: live lines stay below what is printed")
struct LiveRegionTests {
    final class Owner: Sendable {}
    let first = Owner(), second = Owner()

    /// What the console's writer does for text: clear the region, print, draw it again.
    func print(_ text: String, _ region: inout LiveRegion, _ screen: inout VirtualTerminal) {
        screen.feed(region.clear() + text + region.draw())
    }

    @Test("text goes above the live lines, which are drawn again below it")
    func textAbove() {
        var region = LiveRegion()
        var screen = VirtualTerminal(columns: 80, rows: 10, translatesNewlines: true)
        screen.feed("earlier\n")
        screen.feed(region.show(["a.txt 10%", "b.txt 20%"], for: ObjectIdentifier(first)))
        print("2026-11-28T10:00:00+0000 info ferry.peer: [FerryPeer] a log line\n", &region, &screen)
        print("✔ c.txt done\n", &region, &screen)
        #expect(screen.visibleLines == ["earlier", "2026-11-28T10:00:00+0000 info ferry.peer: [FerryPeer] a log line",
                                        "✔ c.txt done", "a.txt 10%", "b.txt 20%"])
        #expect(region.drawnRows == 2)
        #expect(screen.row == 5 && screen.column == 0)
    }

    @Test("a line updated in place leaves nothing of its longer self")
    func updateInPlace() {
        var region = LiveRegion()
        var screen = VirtualTerminal(columns: 40, rows: 10, translatesNewlines: true)
        screen.feed(region.show(["movie.mkv 99% 47.5 MiB/48.0 MiB ETA 1 s"], for: ObjectIdentifier(first)))
        screen.feed(region.show(["movie.mkv 100%"], for: ObjectIdentifier(first)))
        #expect(screen.visibleLines == ["movie.mkv 100%"])
    }

    @Test("two displays keep a block each, in the order they came; an empty list removes one")
    func blocks() {
        var region = LiveRegion()
        var screen = VirtualTerminal(columns: 40, rows: 10, translatesNewlines: true)
        screen.feed(region.show(["a 1%"], for: ObjectIdentifier(first)))
        screen.feed(region.show(["b 1%", "c 1%"], for: ObjectIdentifier(second)))
        screen.feed(region.show(["a 50%"], for: ObjectIdentifier(first)))
        #expect(screen.visibleLines == ["a 50%", "b 1%", "c 1%"])
        #expect(region.lines == ["a 50%", "b 1%", "c 1%"])
        screen.feed(region.show([], for: ObjectIdentifier(first)))
        #expect(screen.visibleLines == ["b 1%", "c 1%"])
        screen.feed(region.show([], for: ObjectIdentifier(second)))
        #expect(screen.visibleLines == [])
        #expect(region.clear() == "" && region.drawnRows == 0)
    }

    @Test("nothing drawn: text is written as it is", arguments: ["", "one line\n", "two\nlines\n"])
    func nothingDrawn(text: String) {
        var region = LiveRegion()
        #expect(region.clear() + text + region.draw() == text)
    }

    @Test("the prompt and its typed text, wrapped over rows, are erased from the prompt's first row",
          arguments: [0, 5, 13, 14, 30, 50])
    func erasePrompt(typed: Int) {
        var screen = VirtualTerminal(columns: 20, rows: 10, translatesNewlines: true)
        screen.feed("above\n")
        let text = "ferry> " + String(repeating: "x", count: typed)
        screen.feed(text)
        // libedit leaves the cursor on the next row once a row is full (it forces the wrap).
        if text.count % 20 == 0 { screen.feed(" \u{8}") }
        screen.feed(LiveRegion.erasePrompt(cursorColumn: text.count, width: 20) + "log\n")
        #expect(screen.visibleLines == ["above", "log"])
        #expect(screen.row == 2 && screen.column == 0)
    }

    @Test("the prompt erased with live lines above it leaves them for the writer to clear")
    func promptBelowLiveLines() {
        var region = LiveRegion()
        var screen = VirtualTerminal(columns: 40, rows: 10, translatesNewlines: true)
        screen.feed(region.show(["a.txt 10%"], for: ObjectIdentifier(first)))
        screen.feed("ferry> Send b")
        screen.feed(LiveRegion.erasePrompt(cursorColumn: 13, width: 40))
        print("a log line\n", &region, &screen)
        screen.feed("ferry> Send b")
        #expect(screen.visibleLines == ["a log line", "a.txt 10%", "ferry> Send b"])
    }
}

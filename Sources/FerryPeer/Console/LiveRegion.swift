/// The bottom of a terminal that is redrawn in place: the live progress lines of each running
/// download display, one block per display, in the order they first appeared. Everything else the
/// console prints (results, messages, log lines) scrolls above it, so printing is: clear the
/// region, print, draw the region again. A value: it returns the escape sequences to write and
/// never writes itself, so that one writer can put them in order with the text and the prompt.
///
/// Each line must fit one row of the terminal (the progress display cuts them to its width):
/// clearing moves the cursor up one row per line drawn.
public struct LiveRegion: Sendable {
    private var blocks: [(owner: ObjectIdentifier, lines: [String])] = []
    /// Rows drawn on the terminal now, the cursor being on the row below them, at column 0.
    public private(set) var drawnRows = 0

    public init() {}

    /// The lines of every block, in order.
    public var lines: [String] { blocks.flatMap(\.lines) }

    /// What to write to clear the region: up one row and erase it, once per row drawn. Afterwards
    /// nothing is drawn; `draw()` puts it back.
    public mutating func clear() -> String {
        guard drawnRows > 0 else { return "" }
        let text = String(repeating: "\u{1B}[1A\u{1B}[2K", count: drawnRows) + "\r"
        drawnRows = 0
        return text
    }

    /// What to write to draw the region below the cursor (which must be at column 0).
    public mutating func draw() -> String {
        let lines = self.lines
        drawnRows = lines.count
        return lines.map { $0 + "\n" }.joined()
    }

    /// Replaces the lines of `owner`'s block (an empty list removes the block) and returns what to
    /// write to show the change.
    public mutating func show(_ lines: [String], for owner: ObjectIdentifier) -> String {
        if let index = blocks.firstIndex(where: { $0.owner == owner }) {
            if lines.isEmpty {
                blocks.remove(at: index)
            } else {
                blocks[index].lines = lines
            }
        } else if !lines.isEmpty {
            blocks.append((owner, lines))
        }
        return clear() + draw()
    }

    /// What to write to take the prompt and the text typed after it off the screen, the cursor
    /// being `column` columns after the start of the prompt (prompt and text wrap at `width`):
    /// back to the prompt's first row, then erase to the end of the screen. Afterwards the cursor is
    /// where the prompt began, at column 0.
    public static func erasePrompt(cursorColumn column: Int, width: Int) -> String {
        let row = width > 0 ? max(0, column) / width : 0
        return "\r" + (row > 0 ? "\u{1B}[\(row)A" : "") + "\u{1B}[J"
    }
}

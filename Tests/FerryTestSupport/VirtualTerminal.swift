/// A terminal screen for tests: feed it what a program wrote to its terminal and read the rows a
/// person would see. It understands what `ferry` and libedit write (with `TERM=xterm`): text,
/// CR, LF, BS, TAB, cursor motion (`ESC[nA/B/C/D/G/H/d`), erasing (`ESC[K`, `ESC[J`, `ESC[P/@/X`),
/// and skips colours and mode switches. Like xterm, writing in the last column leaves the cursor
/// there until the next character, which wraps first.
public struct VirtualTerminal: Sendable {
    public let columns: Int
    public let rows: Int
    /// Translate LF into CR LF, as a terminal's `onlcr` output mode does (a pty's master side
    /// already carries the CR: leave it off there).
    public var translatesNewlines: Bool

    public private(set) var screen: [[Character]]
    public private(set) var row = 0
    public private(set) var column = 0
    private var wrapPending = false
    private var pending: [UInt8] = []

    public init(columns: Int = 100, rows: Int = 30, translatesNewlines: Bool = false) {
        self.columns = columns
        self.rows = rows
        self.translatesNewlines = translatesNewlines
        screen = Array(repeating: Array(repeating: " ", count: columns), count: rows)
    }

    /// The rows as text, trailing blanks removed.
    public var lines: [String] {
        screen.map { row in String(row[..<(row.lastIndex { $0 != " " }.map { $0 + 1 } ?? 0)]) }
    }

    /// The rows up to the last that is not blank.
    public var visibleLines: [String] {
        let lines = self.lines
        guard let last = lines.lastIndex(where: { !$0.isEmpty }) else { return [] }
        return Array(lines[...last])
    }

    public mutating func feed(_ text: String) {
        feed(Array(text.utf8))
    }

    public mutating func feed(_ bytes: [UInt8]) {
        pending += bytes
        var index = 0
        while index < pending.count {
            guard let consumed = step(pending[index...]) else { break }
            index += consumed
        }
        pending.removeFirst(index)
    }

    /// Handles one character or escape sequence at the start of `bytes`; returns how many bytes it
    /// took, or `nil` if it is cut short (wait for more).
    private mutating func step(_ bytes: ArraySlice<UInt8>) -> Int? {
        let first = bytes[bytes.startIndex]
        switch first {
        case 0x1B:
            return escape(bytes)
        case 0x0D:
            column = 0
            wrapPending = false
        case 0x0A:
            if translatesNewlines { column = 0 }
            lineFeed()
        case 0x08:
            column = max(0, column - 1)
            wrapPending = false
        case 0x09:
            column = min(columns - 1, (column / 8 + 1) * 8)
        case 0x00..<0x20, 0x7F:
            break
        default:
            let length = first < 0xC0 ? 1 : first < 0xE0 ? 2 : first < 0xF0 ? 3 : 4
            guard bytes.count >= length else { return nil }
            let text = String(decoding: bytes.prefix(length), as: UTF8.self)
            put(text.first ?? "\u{FFFD}")
            return length
        }
        return 1
    }

    private mutating func escape(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count >= 2 else { return nil }
        let start = bytes.startIndex
        guard bytes[start + 1] == UInt8(ascii: "[") else {
            // ESC ( B and the like take one more byte; ESC = and ESC > none.
            if [UInt8(ascii: "("), UInt8(ascii: ")")].contains(bytes[start + 1]) { return bytes.count >= 3 ? 3 : nil }
            return 2
        }
        var index = start + 2
        while index < bytes.endIndex, !(0x40...0x7E).contains(bytes[index]) { index += 1 }
        guard index < bytes.endIndex else { return nil }
        let parameters = String(decoding: bytes[(start + 2)..<index], as: UTF8.self)
        let numbers = parameters.split(separator: ";", omittingEmptySubsequences: false).map { Int($0) }
        let n = max(1, numbers.first.flatMap { $0 } ?? 1)
        let raw = numbers.first.flatMap { $0 } ?? 0
        wrapPending = false
        switch bytes[index] {
        case UInt8(ascii: "A"): row = max(0, row - n)
        case UInt8(ascii: "B"): row = min(rows - 1, row + n)
        case UInt8(ascii: "C"): column = min(columns - 1, column + n)
        case UInt8(ascii: "D"): column = max(0, column - n)
        case UInt8(ascii: "G"): column = min(columns - 1, n - 1)
        case UInt8(ascii: "d"): row = min(rows - 1, n - 1)
        case UInt8(ascii: "H"), UInt8(ascii: "f"):
            row = min(rows - 1, n - 1)
            column = min(columns - 1, max(1, numbers.dropFirst().first.flatMap { $0 } ?? 1) - 1)
        case UInt8(ascii: "K"):
            let range = raw == 1 ? 0..<(column + 1) : raw == 2 ? 0..<columns : column..<columns
            for index in range { screen[row][index] = " " }
        case UInt8(ascii: "J"):
            if raw == 2 {
                screen = Array(repeating: Array(repeating: " ", count: columns), count: rows)
            } else {
                for index in column..<columns { screen[row][index] = " " }
                for below in (row + 1)..<rows { screen[below] = Array(repeating: " ", count: columns) }
            }
        case UInt8(ascii: "P"):
            screen[row].removeSubrange(column..<min(columns, column + n))
            screen[row] += Array(repeating: " ", count: columns - screen[row].count)
        case UInt8(ascii: "@"):
            screen[row].insert(contentsOf: Array(repeating: " ", count: n), at: column)
            screen[row].removeLast(n)
        case UInt8(ascii: "X"):
            for index in column..<min(columns, column + n) { screen[row][index] = " " }
        default:
            break  // colours (m), modes (h, l) and the rest change nothing a test reads
        }
        return index - start + 1
    }

    private mutating func put(_ character: Character) {
        if wrapPending {
            column = 0
            lineFeed()
            wrapPending = false
        }
        screen[row][column] = character
        if column == columns - 1 {
            wrapPending = true
        } else {
            column += 1
        }
    }

    private mutating func lineFeed() {
        wrapPending = false
        if row == rows - 1 {
            screen.removeFirst()
            screen.append(Array(repeating: " ", count: columns))
        } else {
            row += 1
        }
    }
}

/// Writes one JSON object on one line with its keys in a fixed order, as scripts read it.
struct JSONLine {
    private var text = "{"
    private var first = true

    mutating func field(_ key: String, _ value: String?) {
        append(key, value.map(Self.quote) ?? "null")
    }

    mutating func field(_ key: String, _ value: UInt64) {
        append(key, String(value))
    }

    mutating func field(_ key: String, _ value: Double) {
        append(key, value.isFinite ? String(value) : "null")
    }

    mutating func field(_ key: String, raw: String) {
        append(key, raw)
    }

    var result: String { text + "}" }

    private mutating func append(_ key: String, _ value: String) {
        if !first { text += "," }
        first = false
        text += Self.quote(key) + ":" + value
    }

    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

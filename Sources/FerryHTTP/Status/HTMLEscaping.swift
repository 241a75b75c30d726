/// HTML escaping for the text the server writes into the status page itself (its title). Everything
/// else on the page (file names, addresses: chosen by strangers) arrives as JSON and is set with
/// `textContent`, which never parses markup.
public enum HTMLEscaping {
    /// Escapes `& < > " '` so that `text` is inert in an element or a quoted attribute.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}

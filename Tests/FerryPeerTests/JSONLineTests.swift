@testable import FerryPeer
import Testing

@Suite("JSONLine: one object, keys in order")
struct JSONLineTests {
    @Test("fields come in the order they were added, with the right types")
    func fields() {
        var json = JSONLine()
        json.field("s", "text")
        json.field("n", nil as String?)
        json.field("u", UInt64(7))
        json.field("d", 1.5)
        json.field("r", raw: "[1,2]")
        #expect(json.result == #"{"s":"text","n":null,"u":7,"d":1.5,"r":[1,2]}"#)
    }

    @Test("an empty object")
    func empty() {
        #expect(JSONLine().result == "{}")
    }

    @Test("strings are escaped as JSON requires", arguments: [
        ("plain", #""plain""#),
        ("\"", #""\"""#),
        ("\\", #""\\""#),
        ("\n\r\t", #""\n\r\t""#),
        ("\u{0}\u{8}\u{C}\u{1F}", #""\u0000\u0008\u000c\u001f""#),
        ("\u{7F}", #""\u007f""#),
        ("\u{80}\u{85}é🚀\u{2028}", "\"\u{80}\u{85}é🚀\u{2028}\""),
        ("/", #""/""#),
    ])
    func quoting(_ text: String, _ json: String) {
        #expect(JSONLine.quote(text) == json)
    }

    @Test("keys are escaped too")
    func keys() {
        var json = JSONLine()
        json.field("a\"b", "c")
        #expect(json.result == #"{"a\"b":"c"}"#)
    }
}

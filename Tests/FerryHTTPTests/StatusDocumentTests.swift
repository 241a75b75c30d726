import FerryHTTP
import Foundation
import Testing

@Suite struct StatusDocumentTests {
    static let hostile = "<img src=x onerror=alert(1)>\"'&.txt"

    @Test func escapesMarkup() {
        #expect(HTMLEscaping.escape(Self.hostile) == "&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;.txt")
        #expect(HTMLEscaping.escape("plain é ü 文件") == "plain é ü 文件")
        #expect(HTMLEscaping.escape("") == "")
    }

    @Test func encodesWithSortedKeysAndRoundTrips() throws {
        let document = StatusDocument(
            kind: "tracker", healthy: true, health: "listening on 127.0.0.1:4444",
            figures: [.init("live peers", "2")],
            tables: [.init(title: "Live peers", columns: ["peer", "files"],
                           rows: [.init(["127.0.0.2", "3"]), .init([Self.hostile, "1"], progress: 0.5)], empty: "none")])
        let text = String(decoding: document.encoded(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"figures":[{"label":"live peers","value":"2"}],"health":"listening on 127.0.0.1:4444","healthy":true,"kind":"tracker","tables":"#))
        // No raw "</" can close a script element, whatever a name holds.
        #expect(!text.contains("</"))
        #expect(try JSONDecoder().decode(StatusDocument.self, from: Data(document.encoded())) == document)
    }

    @Test func pageHasNoExternalAssetsAndNeverUsesInnerHTML() {
        let page = StatusPage.html(title: Self.hostile)
        #expect(page.contains("<title>&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;.txt</title>"))
        #expect(!page.contains("<img"))
        for external in ["src=\"http", "href=\"http", "<link", "@import", "url(", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"] {
            #expect(!page.contains(external), "the page contains \(external)")
        }
        #expect(page.contains("fetch(\"/status.json\""))
        #expect(page.contains("textContent"))
    }
}

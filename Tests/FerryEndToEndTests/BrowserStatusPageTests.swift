import FerryTestSupport
import Foundation
import Testing

extension EndToEndTests {
    /// The tracker's status page in a real headless browser (Debian's `chromium`), driven through the
    /// Chrome DevTools Protocol by `Tests/Scripts/status_page_browser.py` (standard library only): the
    /// page is loaded, a peer registers, and its address and its file (a name made of markup) must appear
    /// without a reload, as text.
    ///
    /// Without chromium the test is skipped and says so; with `FERRY_REQUIRE_BROWSER=1` (CI) it runs and
    /// fails instead. `FERRY_CHROMIUM` names another browser binary.
    @Suite("The status page in headless chromium", .timeLimit(.minutes(Sanitizers.hangGuard(minutes: 2))))
    struct BrowserStatusPageTests {
        static let chromium: String? = {
            let environment = ProcessInfo.processInfo.environment
            let candidates = [environment["FERRY_CHROMIUM"], "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
            return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }()

        static let required = ProcessInfo.processInfo.environment["FERRY_REQUIRE_BROWSER"] == "1"

        static let script: String = {
            // Tests/FerryEndToEndTests/BrowserStatusPageTests.swift → Tests/Scripts/status_page_browser.py
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Scripts/status_page_browser.py").path
        }()

        @Test(.enabled(if: chromium != nil || required, "skipped: no chromium (apt-get install chromium, or set FERRY_CHROMIUM)"))
        func peerAppearsWithoutReload() async throws {
            guard let chromium = Self.chromium else {
                Issue.record("FERRY_REQUIRE_BROWSER=1 but no chromium was found (apt-get install chromium)")
                return
            }
            let tracker = try await ObservedTracker.start()
            let browser = try BrowserScript(script: Self.script, chromium: chromium, url: "http://127.0.0.1:\(tracker.httpPort)/")
            let ready = await browser.nextLine()
            #expect(ready == "READY")
            var peer: TestPeer?
            if ready == "READY" {
                let temporary = try TemporaryFolder()
                // A file name that is markup: the page must show it as text, and make no element of it.
                let name = "<img src=x onerror=window.__pwned=1>marker-\(Int.random(in: 1000...9999)).txt"
                peer = try await TestPeer.start(host: host(2), tracker: tracker.endpoint, in: temporary,
                                                files: [name: sampleBytes(count: 100, seed: 3)])
                let texts = try JSONEncoder().encode([host(2), name])
                browser.send(String(decoding: texts, as: UTF8.self))
                let verdict = await browser.nextLine()
                #expect(verdict == "OK")
            }
            browser.stop()
            await peer?.kill()
            await tracker.stop()
        }
    }
}


/// The browser script as a child process: lines out, one line in. Every read is bounded by the
/// script's own alarm (90 s), after which it exits and its output ends.
final class BrowserScript: @unchecked Sendable {
    // @unchecked: `process` and the pipes are thread-safe Foundation objects; `pending` is used from
    // one read at a time (the test awaits each).
    private let process = Process()
    private let output = Pipe()
    private let input = Pipe()
    private var pending = Data()

    init(script: String, chromium: String, url: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, chromium, url]
        process.standardOutput = output
        process.standardInput = input
        try process.run()
    }

    /// The next line the script prints, or what it printed before it ended.
    func nextLine() async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: self.readLineBlocking())
            }
        }
    }

    private func readLineBlocking() -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending = Data(pending[pending.index(after: newline)...])
                return line
            }
            let data = output.fileHandleForReading.availableData
            if data.isEmpty {
                return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
            }
            pending.append(data)
        }
    }

    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

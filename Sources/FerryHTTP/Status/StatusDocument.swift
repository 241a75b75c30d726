import Foundation

/// What the status page shows, as `/status.json` sends it: a few figures and a few tables. The page
/// knows nothing of trackers or peers; each side fills this document (``ObservabilitySource``).
///
/// Every string in it may come from a stranger (file names, addresses): the page sets them with
/// `textContent` only.
public struct StatusDocument: Codable, Sendable, Equatable {
    /// One figure: "live peers: 12".
    public struct Figure: Codable, Sendable, Equatable {
        public var label: String
        public var value: String
        public init(_ label: String, _ value: String) {
            self.label = label
            self.value = value
        }
    }

    /// One row of a table; `progress` (0...1), when set, is drawn as a bar after the cells.
    public struct Row: Codable, Sendable, Equatable {
        public var cells: [String]
        public var progress: Double?
        public init(_ cells: [String], progress: Double? = nil) {
            self.cells = cells
            self.progress = progress
        }
    }

    public struct Table: Codable, Sendable, Equatable {
        public var title: String
        public var columns: [String]
        public var rows: [Row]
        /// Said when `rows` is empty ("no transfer running").
        public var empty: String
        public init(title: String, columns: [String], rows: [Row], empty: String = "none") {
            self.title = title
            self.columns = columns
            self.rows = rows
            self.empty = empty
        }
    }

    /// "tracker" or "peer".
    public var kind: String
    public var healthy: Bool
    /// Why (un)healthy, in words: "listening on 127.0.0.1:4444".
    public var health: String
    public var figures: [Figure]
    public var tables: [Table]

    public init(kind: String, healthy: Bool, health: String, figures: [Figure], tables: [Table]) {
        self.kind = kind
        self.healthy = healthy
        self.health = health
        self.figures = figures
        self.tables = tables
    }

    /// The JSON of `/status.json`: keys sorted (stable for tests and diffs), `/` escaped so that the
    /// text stays inert even if someone pastes it into HTML.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings, numbers and arrays cannot fail; a failure would be a bug here.
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}

/// Whether the process serves: `/healthz` answers `200 ok`, or `503` and ``text``.
public struct HealthReport: Sendable, Equatable {
    public var healthy: Bool
    /// For a 503, what is wrong ("not registered with the tracker: connecting").
    public var text: String
    public init(healthy: Bool, text: String) {
        self.healthy = healthy
        self.text = text
    }
}

/// What the HTTP side asks of a tracker or a peer. Called off the event loops, concurrently.
public protocol ObservabilitySource: Sendable {
    /// The Prometheus text exposition of the process's metrics.
    func metricsText() async -> String
    func status() async -> StatusDocument
    func health() async -> HealthReport
    /// The page's heading ("Ferry tracker 127.0.0.1:4444"); escaped before it is written.
    var title: String { get }
}

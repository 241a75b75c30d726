import Foundation

/// The PostgreSQL server the tests may use, from the environment:
/// - `FERRY_TEST_POSTGRES_URL`: a `postgres://` URL of a database the tests may create schemas in
///   (`.ci/run` starts a throwaway cluster and sets it);
/// - `FERRY_REQUIRE_POSTGRES=1`: the PostgreSQL tests must run (CI): without a URL, or with one that
///   cannot be reached, they fail instead of being skipped.
///
/// Every test takes a schema of its own (``freshSchema()``), so tests run in parallel and again and
/// again on one database.
public enum PostgresTestEnvironment {
    public static let url: String? = {
        guard let value = ProcessInfo.processInfo.environment["FERRY_TEST_POSTGRES_URL"], !value.isEmpty else { return nil }
        return value
    }()

    public static let isRequired = ProcessInfo.processInfo.environment["FERRY_REQUIRE_POSTGRES"] == "1"

    /// Whether the PostgreSQL tests run: a URL is given, or they are required (and then fail without one).
    public static let runs = url != nil || isRequired

    /// Why the PostgreSQL tests are skipped, for `.enabled(if:_:)`.
    public static let skipReason = "FERRY_TEST_POSTGRES_URL is not set: the PostgreSQL tests are skipped (CI sets it, with FERRY_REQUIRE_POSTGRES=1)"

    /// The URL, or an error that fails the test when none is set.
    public static func requireURL() throws -> String {
        guard let url else {
            throw MissingPostgres(description: "FERRY_REQUIRE_POSTGRES=1 but FERRY_TEST_POSTGRES_URL is not set")
        }
        return url
    }

    /// A schema name no other test uses: `ferry_test_` and 16 random hex digits.
    public static func freshSchema() -> String {
        "ferry_test_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// `url` with `?schema=NAME` (or `&schema=NAME`) added.
    public static func url(_ url: String, schema: String) -> String {
        url + (url.contains("?") ? "&" : "?") + "schema=" + schema
    }

    public struct MissingPostgres: Error, CustomStringConvertible {
        public var description: String
    }
}

import Foundation

/// Where a PostgreSQL index lives, read from a `postgres://` or `postgresql://` URL:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME&sslmode=disable|require]`.
///
/// A value, parsed without a socket, so that `ferry server --db` can tell a URL from an SQLite path and
/// say what is wrong with a bad one before it starts.
public struct PostgresLocation: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    /// The schema the tracker's tables live in (`search_path`); `nil`: the user's default (`public`).
    public var schema: String?
    /// `true` with `sslmode=require`: TLS, with the server's certificate checked against the system's roots.
    public var requiresTLS: Bool

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String,
                schema: String? = nil, requiresTLS: Bool = false) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.schema = schema
        self.requiresTLS = requiresTLS
    }

    /// Whether `value` names a PostgreSQL database (by its scheme) rather than an SQLite file.
    public static func isURL(_ value: String) -> Bool {
        let lower = value.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Why a URL was refused, in a sentence.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Parses `url`; throws a ``ParseError`` that says which part is wrong.
    public init(url: String) throws {
        guard Self.isURL(url), let components = URLComponents(string: url) else {
            throw ParseError(description: "not a postgres:// URL: expected postgres://USER@HOST[:PORT]/DATABASE")
        }
        guard var host = components.host, !host.isEmpty else { throw ParseError(description: "the URL names no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let user = components.user, !user.isEmpty else { throw ParseError(description: "the URL names no user (postgres://USER@HOST/DATABASE)") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw ParseError(description: "the URL names no database (postgres://USER@HOST/DATABASE)")
        }
        var schema: String?
        var requiresTLS = false
        for item in components.queryItems ?? [] {
            switch (item.name, item.value ?? "") {
            case ("schema", let value):
                guard Self.isPlainIdentifier(value) else {
                    throw ParseError(description: "schema must be letters, digits and _ (not starting with a digit)")
                }
                schema = value
            case ("sslmode", "disable"): requiresTLS = false
            case ("sslmode", "require"): requiresTLS = true
            case ("sslmode", let value): throw ParseError(description: "sslmode \(value) is not supported: use disable or require")
            case (let name, _): throw ParseError(description: "unknown URL parameter \(name): only schema and sslmode")
            }
        }
        self.init(
            host: host, port: components.port ?? 5432,
            username: components.percentEncodedUser.flatMap { $0.removingPercentEncoding } ?? user,
            password: components.percentEncodedPassword.flatMap { $0.removingPercentEncoding },
            database: database.removingPercentEncoding ?? database, schema: schema, requiresTLS: requiresTLS)
    }

    /// ASCII letters, digits and `_`, not starting with a digit, at most 63 bytes: safe to write unquoted in SQL.
    public static func isPlainIdentifier(_ value: String) -> Bool {
        guard let first = value.unicodeScalars.first, value.utf8.count <= 63 else { return false }
        let letters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_".unicodeScalars)
        let digits = Set("0123456789".unicodeScalars)
        return letters.contains(first) && value.unicodeScalars.allSatisfy { letters.contains($0) || digits.contains($0) }
    }

    /// The URL without its password, for logs.
    public var redacted: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(shownHost):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }
}

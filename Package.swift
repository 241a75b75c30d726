// swift-tools-version:6.2
import PackageDescription

/// Our own targets build with every warning as an error; dependencies are left alone.
let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
]

/// The UDP state machines are generic over a clock and used from other modules; letting the
/// optimizer specialize them across modules removes runtime generic metadata lookups from the
/// per-datagram path.
let hotPath: [SwiftSetting] = strict + [
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "Ferry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ferry", targets: ["ferry"]),
        .library(name: "FerryWire", targets: ["FerryWire"]),
        .library(name: "FerryTracker", targets: ["FerryTracker"]),
        .library(name: "FerryPeer", targets: ["FerryPeer"]),
        .library(name: "FerryUDP", targets: ["FerryUDP"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Wire formats, limits and the name rule: NIOCore only, no sockets.
        .target(
            name: "FerryWire",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Ferry's reliable UDP protocol as pure state machines generic over a clock (FerryPeer drives
        // them on the event loop).
        .target(
            name: "FerryUDP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: hotPath
        ),
        // The operator's HTTP side of a tracker or peer (`--http`): /metrics in the Prometheus text
        // format, a self-refreshing status page, /healthz. NIOHTTP1 only, bounded and GET-only.
        .target(
            name: "FerryHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // The tracker: index storage (SQLite through GRDB, or PostgreSQL through PostgresNIO for
        // several trackers sharing one index) and the line-protocol server.
        .target(
            name: "FerryTracker",
            dependencies: [
                "FerryWire",
                "FerryHTTP",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        // The peer: share scanning, file server, tracker session, downloader.
        .target(
            name: "FerryPeer",
            dependencies: [
                "FerryWire",
                "FerryHTTP",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "FerryUDP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // libedit, for line editing and history at the `ferry>` prompt (Debian: libedit-dev).
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        // The command-line tool: one subcommand per file, parsing and wiring only.
        .executableTarget(
            name: "ferry",
            dependencies: [
                "CEditLine",
                "FerryWire",
                "FerryHTTP",
                "FerryTracker",
                "FerryPeer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict,
            plugins: ["BuildInfo"]
        ),
        // Writes the checkout's commit into the `ferry` target at build time (`ferry --version`).
        .plugin(name: "BuildInfo", capability: .buildTool(), path: "Plugins/BuildInfo"),
        // The tracker's load generator (bench/tracker.sh runs it beside opentracker and wrk), and the
        // epoll(7) header it drives its sockets with.
        .target(name: "CEpoll", path: "Benchmarks/CEpoll"),
        .executableTarget(
            name: "ferry-tracker-load",
            dependencies: [
                "CEpoll",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Benchmarks/TrackerLoad",
            swiftSettings: strict
        ),
        // SwiftNIO answering a fixed reply, nothing else: the ceiling bench/tracker.sh measures Ferry against.
        .executableTarget(
            name: "ferry-nio-floor",
            dependencies: [
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/NIOFloor",
            swiftSettings: strict
        ),
        // Times one UPDATE's phases without sockets (decoder, parser, index, database record).
        .executableTarget(
            name: "ferry-tracker-update",
            dependencies: [
                "FerryTracker",
                "FerryWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/TrackerUpdate",
            swiftSettings: strict
        ),
        // What every test target shares: seeded randomness, temporary folders, sizes under sanitizers.
        .target(
            name: "FerryTestSupport",
            path: "Tests/FerryTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "FerryWireTests",
            dependencies: [
                "FerryTestSupport",
                "FerryWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FerryUDPTests",
            dependencies: [
                "FerryTestSupport","FerryUDP", "FerryWire"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FerryTrackerTests",
            dependencies: [
                "FerryTestSupport","FerryTracker", "FerryWire",
                .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FerryPeerTests",
            dependencies: [
                "FerryTestSupport","FerryPeer", "FerryWire",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FerryHTTPTests",
            dependencies: [
                "FerryTestSupport", "FerryHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FerryEndToEndTests",
            dependencies: [
                "FerryTestSupport",
                "FerryHTTP",
                "FerryTracker",
                "FerryPeer",
                "FerryWire",
                "FerryUDP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)

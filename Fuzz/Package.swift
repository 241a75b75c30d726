// swift-tools-version:6.2
import PackageDescription

/// libFuzzer targets for every parser that reads bytes from the network. A package of its own, so the
/// `ferry` product never links libFuzzer (which brings its own `main`). Build and run with `./run.sh`.
///
/// Each executable exports `LLVMFuzzerTestOneInput` and must be built with
/// `swift build --sanitize=fuzzer --sanitize=address`.
let fuzzer: [SwiftSetting] = [
    .unsafeFlags(["-parse-as-library"]),
    .treatAllWarnings(as: .error),
]

/// gold, the default linker on Linux, leaves the Swift objects' coverage counters out of the
/// `__sancov_cntrs` table that libFuzzer reads (it then sees only the C code); lld keeps them.
let fuzzerLinking: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld"]),
]

let package = Package(
    name: "FerryFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Ferry", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "FerryWire", package: "Ferry"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.treatAllWarnings(as: .error)]
        ),
        .executableTarget(
            name: "FuzzTrackerRequest",
            dependencies: ["FuzzSupport", .product(name: "FerryWire", package: "Ferry")],
            swiftSettings: fuzzer,
            linkerSettings: fuzzerLinking
        ),
        .executableTarget(
            name: "FuzzTrackerConversation",
            dependencies: [
                "FuzzSupport",
                .product(name: "FerryWire", package: "Ferry"),
                .product(name: "FerryTracker", package: "Ferry"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fuzzer,
            linkerSettings: fuzzerLinking
        ),
        .executableTarget(
            name: "FuzzFileRequest",
            dependencies: ["FuzzSupport", .product(name: "FerryWire", package: "Ferry")],
            swiftSettings: fuzzer,
            linkerSettings: fuzzerLinking
        ),
        .executableTarget(
            name: "FuzzTrackerReply",
            dependencies: ["FuzzSupport", .product(name: "FerryWire", package: "Ferry")],
            swiftSettings: fuzzer,
            linkerSettings: fuzzerLinking
        ),
        .executableTarget(
            name: "FuzzUDPServer",
            dependencies: [
                .product(name: "FerryUDP", package: "Ferry"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: fuzzer,
            linkerSettings: fuzzerLinking
        ),
    ]
)

// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let hummingbirdTesting = Target.Dependency.product(name: "HummingbirdTesting", package: "hummingbird")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let metricsTestKit = Target.Dependency.product(name: "MetricsTestKit", package: "swift-metrics")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let jwt = Target.Dependency.product(name: "JWTKit", package: "jwt-kit")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let mustache = Target.Dependency.product(name: "Mustache", package: "swift-mustache")
let httpClient = Target.Dependency.product(name: "AsyncHTTPClient", package: "async-http-client")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let openAPIRuntime = Target.Dependency.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")
let openAPIHTTPClient = Target.Dependency.product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client")

/// The generated client of each service's API (Shared/Contracts/OpenAPI/generate.sh).
let apiClients = ["Intake", "Matching", "Notification", "Evaluation"].map { name in
    Target.target(name: "\(name)API", dependencies: [openAPIRuntime], path: "Shared/APIClients/\(name)API")
}

/// One service = a library (everything, testable in-process) + a thin executable.
func service(_ name: String, product: String, extra: [Target.Dependency] = []) -> [Target] {
    [
        .target(
            name: "\(name)Service",
            dependencies: [
                "Domain", "Contracts", "Messaging", "ServiceRuntime", "PostgresClient", "KafkaClient", "WireFormats", "Backoff", hummingbird, httpTypes,
                logging, openAPIRuntime,
            ] + extra,
            path: "Services/\(name)/Library",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "Passerelle\(name)",
            dependencies: [.target(name: "\(name)Service"), "ServiceRuntime", argumentParser],
            path: "Services/\(name)/Main",
            swiftSettings: strict
        ),
        .testTarget(
            name: "\(name)Tests",
            dependencies: [.target(name: "\(name)Service"), "TestSupport", hummingbirdTesting, httpTypes],
            path: "Tests/\(name)Tests",
            exclude: ["Intake": ["check_openapi.py", "Fixtures"], "Notification": ["smtp_sink.py"], "Matching": ["Fixtures"], "Evaluation": ["bounds.py"]][name]
                ?? [],
            swiftSettings: strict
        ),
    ]
}

/// The web application for people: no domain data, no broker; it calls the services with the
/// signed-in user's token through their generated clients.
let console: [Target] = [
    .target(
        name: "ConsoleService",
        dependencies: [
            "ServiceRuntime", "PostgresClient", "Domain", "Backoff", "IntakeAPI", "MatchingAPI", "NotificationAPI", "EvaluationAPI", hummingbird, httpTypes,
            mustache, crypto, httpClient, openAPIRuntime, openAPIHTTPClient, nioCore, nioHTTP1, logging, lifecycle, unixSignals, argumentParser,
        ],
        path: "Services/Console/Library", swiftSettings: strict),
    .executableTarget(name: "PasserelleConsole", dependencies: ["ConsoleService", "ServiceRuntime"], path: "Services/Console/Main", swiftSettings: strict),
    .testTarget(
        name: "ConsoleTests", dependencies: ["ConsoleService", "TestSupport", "PostgresClient", "Domain", "IntakeAPI"], path: "Tests/ConsoleTests",
        swiftSettings: strict),
]

let package = Package(
    name: "passerelle",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "passerelle-intake", targets: ["PasserelleIntake"]),
        .executable(name: "passerelle-matching", targets: ["PasserelleMatching"]),
        .executable(name: "passerelle-notification", targets: ["PasserelleNotification"]),
        .executable(name: "passerelle-evaluation", targets: ["PasserelleEvaluation"]),
        .executable(name: "passerelle-console", targets: ["PasserelleConsole"]),
        .executable(name: "passerelle-wrapper-bench", targets: ["WrapperBenchmark"]),
        .executable(name: "passerelle-bench", targets: ["BenchmarkCommands"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        // Already resolved through jwt-kit; HMAC for pseudonyms and webhook signatures.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // The services' API clients, generated from their OpenAPI documents, and their transport.
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.0"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client.git", from: "1.5.0"),
        // Zipped HSDS data packages.
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
    ],
    targets: [
        // C libraries, each wrapped exactly once below.
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CRdKafka", path: "Shared/CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),

        .target(name: "WireFormats", path: "Shared/WireFormats", swiftSettings: strict),
        // How long to wait before trying again; the one backoff every retry loop uses.
        .target(name: "Backoff", path: "Shared/Backoff", swiftSettings: strict),
        .target(
            name: "PostgresClient", dependencies: ["CLibPQ", "WireFormats", "Backoff", logging, metrics, lifecycle], path: "Shared/PostgresClient",
            swiftSettings: strict),
        .target(name: "KafkaClient", dependencies: ["CRdKafka", logging, metrics, lifecycle], path: "Shared/KafkaClient", swiftSettings: strict),
        .target(name: "Domain", dependencies: ["WireFormats"], path: "Shared/Domain", swiftSettings: strict),
        .target(name: "Contracts", dependencies: ["Domain", "WireFormats"], path: "Shared/Contracts", exclude: ["Schemas", "OpenAPI"], swiftSettings: strict),
        .target(
            name: "Messaging", dependencies: ["Domain", "Contracts", "PostgresClient", "KafkaClient", "WireFormats", "Backoff", logging, metrics, lifecycle],
            path: "Shared/Messaging", swiftSettings: strict),
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "Contracts", "Messaging", "WireFormats", "PostgresClient", "KafkaClient", "Backoff", hummingbird, httpTypes, nioCore, logging, metrics,
                prometheus, lifecycle, unixSignals, argumentParser, jwt, httpClient, nioHTTP1, openAPIRuntime,
            ],
            path: "Shared/ServiceRuntime",
            swiftSettings: strict
        ),
        // What intake's FHIR subscriptions and notification's webhooks share: signing, where a
        // target may point, and the POST with its retry classification.
        .target(name: "Webhooks", dependencies: [crypto, httpClient, nioCore, nioHTTP1, nioPosix], path: "Shared/Webhooks", swiftSettings: strict),

        // Throughput of the two wrappers on their own, beside the C programs they wrap
        // (deploy/bench/suites/wrappers.sh); not part of any service.
        .executableTarget(
            name: "WrapperBenchmark",
            dependencies: ["KafkaClient", "PostgresClient", logging],
            path: "deploy/bench/WrapperBenchmark",
            swiftSettings: strict
        ),

        // Synthetic data and in-memory timings for the benchmark suites; not part of any service.
        .executableTarget(
            name: "BenchmarkCommands",
            dependencies: [
                "MatchingService", "EvaluationService", "ServiceRuntime", "Contracts", "Domain", "KafkaClient", "PostgresClient", "WireFormats", argumentParser,
            ],
            path: "deploy/bench/Commands",
            swiftSettings: strict
        ),

        .target(
            name: "TestSupport", dependencies: ["PostgresClient", "KafkaClient", "Contracts", "ServiceRuntime", logging], path: "Tests/TestSupport",
            exclude: ["webhook_receiver.py"], swiftSettings: strict),
        .testTarget(name: "DomainTests", dependencies: ["Domain"], path: "Tests/DomainTests", swiftSettings: strict),
        .testTarget(name: "BackoffTests", dependencies: ["Backoff"], path: "Tests/BackoffTests", swiftSettings: strict),
        .testTarget(name: "WireFormatsTests", dependencies: ["WireFormats"], path: "Tests/WireFormatsTests", swiftSettings: strict),
        .testTarget(
            name: "ContractsTests", dependencies: ["Contracts", "Domain", "WireFormats", "TestSupport"], path: "Tests/ContractsTests",
            exclude: ["validate_schemas.py"],
            swiftSettings: strict),
        .testTarget(name: "PostgresClientTests", dependencies: ["PostgresClient", "TestSupport"], path: "Tests/PostgresClientTests", swiftSettings: strict),
        .testTarget(
            name: "KafkaClientTests", dependencies: ["KafkaClient", "TestSupport", metricsTestKit], path: "Tests/KafkaClientTests", swiftSettings: strict),
        .testTarget(
            name: "MessagingTests", dependencies: ["Messaging", "Backoff", "TestSupport", lifecycle, metricsTestKit], path: "Tests/MessagingTests",
            swiftSettings: strict),
        .testTarget(
            name: "ServiceRuntimeTests",
            dependencies: ["ServiceRuntime", "Contracts", "PostgresClient", "KafkaClient", "Messaging", "TestSupport", logging, hummingbirdTesting, jwt],
            path: "Tests/ServiceRuntimeTests", swiftSettings: strict),
        .testTarget(name: "WebhooksTests", dependencies: ["Webhooks", "TestSupport"], path: "Tests/WebhooksTests", swiftSettings: strict),
        .testTarget(
            name: "DeploymentTests", dependencies: ["TestSupport"], path: "Tests/DeploymentTests", exclude: ["check_deployment.py", "README.md"],
            swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "IntakeService", "MatchingService", "NotificationService", "EvaluationService", "TestSupport", hummingbirdTesting,
                "IntakeAPI", "MatchingAPI", "NotificationAPI", "EvaluationAPI", openAPIRuntime, openAPIHTTPClient,
            ],
            path: "Tests/EndToEndTests",
            swiftSettings: strict
        ),
    ]
        + apiClients
        + service("Intake", product: "passerelle-intake", extra: ["Webhooks", nioCore, lifecycle])
        + service("Matching", product: "passerelle-matching", extra: [.product(name: "ZIPFoundation", package: "ZIPFoundation"), nioPosix])
        + service("Notification", product: "passerelle-notification", extra: ["Webhooks", crypto, mustache, nioCore, nioPosix, nioSSL, lifecycle, metrics])
        + service("Evaluation", product: "passerelle-evaluation", extra: [crypto]),
    swiftLanguageModes: [.v6]
)
package.targets += console

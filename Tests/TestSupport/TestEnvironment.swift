import Foundation
import KafkaClient
import Logging
import PostgresClient

/// Where the integration tests find PostgreSQL and the broker: the local stack
/// (`deploy/local/stack.sh start`) unless the environment says otherwise.
///
/// With `REQUIRE_INTEGRATION=1` (set by `.ci/run`) the tests always run, so a missing server
/// fails them instead of skipping them.
public enum TestEnvironment {
    static let environment = ProcessInfo.processInfo.environment

    public static var postgresURL: URL {
        URL(string: environment["PASSERELLE_TEST_DB_URL"] ?? "postgresql://postgres:postgres@127.0.0.1:55432/passerelle_test")!
    }

    public static var kafkaBootstrap: String { environment["PASSERELLE_TEST_KAFKA"] ?? "127.0.0.1:59092" }

    public static var integrationRequired: Bool { environment["REQUIRE_INTEGRATION"] == "1" }

    /// True when both servers answer on their ports, or when CI requires them regardless.
    public static let integrationEnabled: Bool = {
        if integrationRequired { return true }
        let url = postgresURL
        let kafka = kafkaBootstrap.split(separator: ":")
        return portIsOpen(host: url.host ?? "127.0.0.1", port: url.port ?? 5432)
            && portIsOpen(host: String(kafka[0]), port: Int(kafka.last ?? "9092") ?? 9092)
    }()

    public static func postgresConfiguration(schema: String? = nil, poolSize: Int = 4) -> PostgresConfiguration {
        let url = postgresURL
        return PostgresConfiguration(
            host: url.host ?? "127.0.0.1", port: url.port ?? 5432,
            database: String(url.path.dropFirst()), user: url.user ?? "postgres", password: url.password,
            schema: schema, applicationName: "passerelle-tests", sslMode: "disable", poolSize: poolSize)
    }

    public static var kafkaConfiguration: KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: kafkaBootstrap, clientID: "passerelle-tests")
    }

    /// A name no other test uses: tests share one database and one broker and run in parallel.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    public static var logger: Logger {
        var logger = Logger(label: "passerelle.tests")
        logger.logLevel = environment["PASSERELLE_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }

    /// Creates a topic with a unique name and returns it.
    public static func makeTopic(_ prefix: String = "test", partitions: Int = 3) async throws -> String {
        let name = "\(prefix).\(UUID().uuidString.lowercased())"
        try await KafkaTopicAdmin.createTopics([KafkaTopicSpecification(name: name, partitions: partitions)], configuration: kafkaConfiguration, logger: logger)
        return name
    }

    /// Consumer settings tests use: short intervals so rebalances finish quickly (the local
    /// broker holds JoinGroup for the rebalance timeout).
    public static func consumerConfiguration(group: String, bufferCapacity: Int = 256, pauseAfterMilliseconds: Int? = nil) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            kafka: kafkaConfiguration, groupID: group, bufferCapacity: bufferCapacity,
            maxPollIntervalMilliseconds: 10_000, sessionTimeoutMilliseconds: 6_000, autoCommitIntervalMilliseconds: 200,
            pauseAfterMilliseconds: pauseAfterMilliseconds)
    }

    public static func portIsOpen(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A free loopback TCP port.
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: bound.sin_port))
    }

    /// The repository root (tests read files such as JSON Schemas and deploy/ from it).
    public static var repositoryRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }
}

/// Polls `condition` until it holds or `timeout` passes.
public func eventually(timeout: Duration = .seconds(20), interval: Duration = .milliseconds(100), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}

import Contracts
import Foundation
import KafkaClient
import Logging
import PostgresClient
import ServiceRuntime

/// A service built in-process on a schema and topic prefix of its own, migrated, with its
/// HTTP router ready for `application.test(.router)`; nothing is running yet.
public struct ServiceTestHost: Sendable {
    public let host: ServiceHost
    public let schema: String
    public let secret: String

    public var pool: PostgresConnectionPool { host.components.pool }

    /// `environment` holds service-specific variables (read through `settings.environment`).
    public static func make<S: PasserelleService>(
        _ service: S.Type, secret: String = "service-tests-secret-0123456789-abcdef", environment: [String: String] = [:]
    ) async throws -> ServiceTestHost {
        let id = UUID().uuidString.prefix(8).lowercased()
        var database = TestEnvironment.postgresConfiguration()
        database.schema = "\(S.name)_\(id)"
        let settings = ServiceSettings(
            serviceName: S.name, httpPort: 0, postgres: database, kafka: TestEnvironment.kafkaConfiguration,
            topics: TopicNames(prefix: "\(S.name)-\(id)."), auth: AuthSettings(hmacSecret: secret), logLevel: .warning,
            environment: Environment(environment))
        let host = try await ServiceHost.build(S.self, settings: settings, logger: TestEnvironment.logger)
        try await SchemaMigrator(schema: database.schema!, migrations: S.migrations).migrate(host.components.pool, logger: TestEnvironment.logger)
        return ServiceTestHost(host: host, schema: database.schema!, secret: secret)
    }

    /// The site the fixtures refer to, and the one a token names unless told otherwise.
    public static let fixtureSite = "ottawa-west-chc"

    /// A bearer token the host accepts. Every role but a network-wide one is bounded by sites:
    /// `site` (the fixtures' unless told; nil for none) or `sites` (several, or an empty array).
    /// A network-wide role names none (a token that does is refused: test that with `AccessClaims`).
    public func token(_ role: Role, subject: String = "tester", site: String? = fixtureSite, sites: [String]? = nil) async throws -> String {
        try await TokenVerifier(settings: AuthSettings(hmacSecret: secret))
            .sign(
                AccessClaims(
                    subject: subject, roles: [role], site: role.isNetworkWide || sites != nil ? nil : site, sites: role.isNetworkWide ? nil : sites,
                    expires: Date().addingTimeInterval(600)))
    }

    /// Drops the schema and closes what the host opened.
    public func tearDown() async {
        _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: schema) CASCADE") }
        await host.components.producer.close()
        await pool.close()
    }
}

import ArgumentParser
import Backoff
import Foundation
import Hummingbird
import Logging
import PostgresClient
import ServiceLifecycle
import ServiceRuntime
import UnixSignals

/// The console: the web application for people. It owns no domain data; it signs people in at
/// the identity provider and calls the services with their own token. Its schema holds sessions.
public struct ConsoleService: Sendable {
    public static let name = "console"
    public let settings: ConsoleSettings
    public let application: Application<RouterResponder<BasicRequestContext>>
    public let group: ServiceGroup

    public static func build(settings: ConsoleSettings, logger: Logger) async throws -> ConsoleService {
        var logger = logger
        logger[metadataKey: "service"] = "\(name)"
        let pool = PostgresConnectionPool(configuration: settings.postgres, logger: logger)
        guard let provider = settings.auth.openIDProvider else {
            throw ConfigurationError(variable: "PASSERELLE_OIDC_DISCOVERY_URL", problem: "the console needs an identity provider")
        }
        let routes = ConsoleRoutes(
            settings: settings,
            sessions: SessionStore(pool: pool, idleTimeout: settings.idleTimeout, absoluteTimeout: settings.absoluteTimeout),
            signIn: OpenIDSignIn(
                discoveryURL: provider.discoveryURL, clientID: settings.clientID, clientSecret: settings.clientSecret, redirectURI: settings.redirectURI),
            verifier: try await TokenVerifier(settings: settings.auth), pages: try Pages(), logger: logger)
        let router = Router(context: BasicRequestContext.self)
        routes.add(to: router)
        let application = Application(
            router: router, configuration: .init(address: .hostname(settings.httpHost, port: settings.httpPort), serverName: "passerelle-console"),
            logger: logger)
        let migration = ConsoleMigration(pool: pool, schema: settings.postgres.schema ?? name, apply: settings.migrateOnStart, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: pool), .init(service: migration, successTerminationBehavior: .ignore), .init(service: application)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        return ConsoleService(settings: settings, application: application, group: group)
    }

    public func run() async throws {
        try await group.run()
    }
}

/// Applies the sessions schema at start, retrying while PostgreSQL is unreachable.
struct ConsoleMigration: Service {
    let pool: PostgresConnectionPool
    let schema: String
    let apply: Bool
    let logger: Logger

    func run() async throws {
        guard apply else { return }
        var backoff = ExponentialBackoff(initial: .milliseconds(200), maximum: .seconds(5))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await SchemaMigrator(schema: schema, migrations: ConsoleMigrations.all).migrate(pool, logger: logger)
                return
            } catch let error as PostgresError where error.kind == .migrationHistoryMismatch {
                throw error
            } catch {
                logger.warning("schema not ready; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: backoff.next())
        }
    }
}

/// `passerelle-console [serve]` and `passerelle-console migrate`.
public struct ConsoleCommand: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "passerelle-console",
            abstract: "The Passerelle console, the web application for people. Configured by PASSERELLE_* environment variables (see .env.example).",
            subcommands: [Serve.self, Migrate.self], defaultSubcommand: Serve.self)
    }

    public init() {}

    public static func runMain() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static func logger(_ settings: ConsoleSettings) -> Logger {
        Observability.bootstrap(logLevel: settings.logLevel)
        var logger = Logger(label: "passerelle.console")
        logger.logLevel = settings.logLevel
        return logger
    }

    public struct Serve: AsyncParsableCommand {
        public static var configuration: CommandConfiguration { CommandConfiguration(abstract: "Run the console until SIGTERM or SIGINT.") }
        public init() {}

        public func run() async throws {
            let settings = try ConsoleSettings.fromEnvironment()
            let logger = ConsoleCommand.logger(settings)
            logger.info("starting", metadata: ["http": "\(settings.httpHost):\(settings.httpPort)", "public": "\(settings.publicURL)"])
            try await ConsoleService.build(settings: settings, logger: logger).run()
        }
    }

    public struct Migrate: AsyncParsableCommand {
        public static var configuration: CommandConfiguration { CommandConfiguration(abstract: "Apply the sessions schema's migrations and exit.") }
        public init() {}

        public func run() async throws {
            let settings = try ConsoleSettings.fromEnvironment()
            let logger = ConsoleCommand.logger(settings)
            let pool = PostgresConnectionPool(configuration: settings.postgres, logger: logger)
            let applied = try await SchemaMigrator(schema: settings.postgres.schema ?? ConsoleService.name, migrations: ConsoleMigrations.all).migrate(
                pool, logger: logger)
            await pool.close()
            print(applied.isEmpty ? "schema already up to date" : "applied migrations \(applied)")
        }
    }
}

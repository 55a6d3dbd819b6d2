import ArgumentParser
import Contracts
import Foundation
import KafkaClient
import Logging
import PostgresClient

/// The command line every service executable shares:
///
///     passerelle-<service> [serve]        run the service (default)
///     passerelle-<service> migrate        apply this service's migrations and exit
///     passerelle-<service> create-topics  create every Passerelle topic that is missing
///
/// No subcommand signs tokens: an executable that can mint them turns anyone who can run it
/// where the secret is mounted into any role. Local runs sign with deploy/local/dev-token.py.
public struct ServiceCommand<S: PasserelleService>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "passerelle-\(S.name)",
            abstract: "The Passerelle \(S.name) service. Configured by PASSERELLE_* environment variables (see .env.example).",
            subcommands: [Serve.self, Migrate.self, CreateTopics.self] + S.commands,
            defaultSubcommand: Serve.self)
    }

    public init() {}

    /// Parses the command line and runs the chosen subcommand (top-level code cannot pick
    /// `AsyncParsableCommand.main()` reliably, so dispatch explicitly).
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

    /// The service's settings from the PASSERELLE_* environment (also for `S.commands`).
    public static func settings() throws -> ServiceSettings {
        try ServiceSettings.fromEnvironment(service: S.name, defaultPort: S.defaultPort)
    }

    /// Bootstraps JSON logging once and returns the service's logger.
    public static func logger(_ settings: ServiceSettings) -> Logger {
        Observability.bootstrap(logLevel: settings.logLevel)
        var logger = Logger(label: "passerelle.\(S.name)")
        logger.logLevel = settings.logLevel
        return logger
    }

    public struct Serve: AsyncParsableCommand {
        public static var configuration: CommandConfiguration { CommandConfiguration(abstract: "Run the service until SIGTERM or SIGINT.") }
        public init() {}

        public func run() async throws {
            let settings = try ServiceCommand.settings()
            let logger = ServiceCommand.logger(settings)
            try KafkaLibrary.verify(logger: logger)
            logger.info("starting", metadata: ["http": "\(settings.httpHost):\(settings.httpPort)", "kafka": "\(settings.kafka.bootstrapServers)"])
            try await ServiceHost.build(S.self, settings: settings, logger: logger).run()
        }
    }

    public struct Migrate: AsyncParsableCommand {
        public static var configuration: CommandConfiguration { CommandConfiguration(abstract: "Apply the schema's migrations and exit.") }
        public init() {}

        public func run() async throws {
            let settings = try ServiceCommand.settings()
            let logger = ServiceCommand.logger(settings)
            let pool = PostgresConnectionPool(configuration: settings.postgres, logger: logger)
            let applied = try await SchemaMigrator(schema: settings.postgres.schema ?? S.name, migrations: S.migrations).migrate(pool, logger: logger)
            await pool.close()
            print(applied.isEmpty ? "schema already up to date" : "applied migrations \(applied)")
        }
    }

    public struct CreateTopics: AsyncParsableCommand {
        public static var configuration: CommandConfiguration {
            CommandConfiguration(commandName: "create-topics", abstract: "Create every Passerelle topic that does not exist yet.")
        }
        public init() {}

        public func run() async throws {
            let settings = try ServiceCommand.settings()
            let logger = ServiceCommand.logger(settings)
            let specifications = settings.topics.provisioning.map {
                KafkaTopicSpecification(name: $0.name, partitions: $0.partitions, configs: $0.configs)
            }
            let created = try await KafkaTopicAdmin.createTopics(specifications, configuration: settings.kafka, logger: logger)
            print(created.isEmpty ? "all topics exist" : "created \(created.joined(separator: ", "))")
        }
    }
}

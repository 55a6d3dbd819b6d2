import ArgumentParser
import Backoff
import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import KafkaClient
import Logging
import Messaging
import PostgresClient
import ServiceLifecycle
import UnixSignals

/// What a Passerelle service is: a name, a schema's migrations, an OpenAPI contract, and one
/// `build` that reads the service's own settings once and returns everything it runs.
/// `ServiceHost` turns it into a running process; tests build the same host in-process.
public protocol PasserelleService {
    static var name: String { get }
    static var defaultPort: Int { get }
    /// The schema's migrations, in order.
    static var migrations: [Migration] { get }
    /// The OpenAPI document served at `/openapi.json`, embedded from `Shared/Contracts/OpenAPI`
    /// (`Shared/Contracts/OpenAPI/embed.py`); the host checks its routes against it.
    static var openAPIDocument: String { get }
    /// Subcommands of this service's executable beyond serve/migrate/create-topics/token
    /// (imports, rebuilds); each reads the same PASSERELLE_* settings via `ServiceCommand`.
    static var commands: [any ParsableCommand.Type] { get }
    /// Reads the service's settings (a bad one throws and stops the start) and makes its routes,
    /// consumers and background work, sharing whatever they share.
    static func build(_ components: ServiceComponents) async throws -> ServiceParts
}

extension PasserelleService {
    public static var commands: [any ParsableCommand.Type] { [] }
}

/// Routes of one area of a service (referrals, the catalogue, FHIR…), added to the router once.
public protocol ServiceRoutes {
    func add(to router: Router<PasserelleRequestContext>) throws
}

/// What a service's `build` returns.
public struct ServiceParts {
    public var routes: [any ServiceRoutes]
    public var consumers: [IdempotentConsumer]
    /// Long-running work of the service's own (e.g. notification's delivery loop); started
    /// after the relay and stopped before it.
    public var background: [any Service]
    /// Whether `/health/ready` waits until the consumers have joined their groups. A service
    /// whose HTTP door does not depend on what it consumes says no, so that a rebalance or a
    /// topic not created yet does not take it out of service.
    public var readinessAwaitsConsumers: Bool
    /// Error formats of route families whose clients expect something else than problem+json.
    public var problemDialects: [ProblemDialect]

    public init(
        routes: [any ServiceRoutes], consumers: [IdempotentConsumer] = [], background: [any Service] = [],
        readinessAwaitsConsumers: Bool = true, problemDialects: [ProblemDialect] = []
    ) {
        self.routes = routes
        self.consumers = consumers
        self.background = background
        self.readinessAwaitsConsumers = readinessAwaitsConsumers
        self.problemDialects = problemDialects
    }
}

/// The shared parts every service works with.
public struct ServiceComponents: Sendable {
    public let settings: ServiceSettings
    public let pool: PostgresConnectionPool
    public let producer: KafkaProducer
    public let outbox: Outbox
    public let gate: ReadinessGate
    public let verifier: TokenVerifier
    public let logger: Logger

    /// Consumer settings for this service's group.
    public var consumerConfiguration: KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(kafka: settings.kafka, groupID: settings.consumerGroup)
    }

    /// An idempotent consumer of `topics` in this service's group, recorded under its group name
    /// (see `IdempotentConsumer` for `batchesTransactions`).
    public func consumer(topics: [TopicName], batchesTransactions: Bool = true, handlers: EventHandlers) -> IdempotentConsumer {
        IdempotentConsumer(
            name: settings.consumerGroup, topics: topics.map(settings.topics.name), configuration: consumerConfiguration,
            pool: pool, producer: producer, gate: gate, concurrency: settings.consumerConcurrency, batchesTransactions: batchesTransactions,
            personalDataTopics: [settings.topics.name(.clients)], logger: logger, handler: handlers.handler)
    }
}

/// A built service: its components, router and the service group that runs it all.
public struct ServiceHost: Sendable {
    public let components: ServiceComponents
    public let application: Application<RouterResponder<PasserelleRequestContext>>
    public let group: ServiceGroup

    /// Builds everything without connecting anywhere yet: a service starts (and reports not
    /// ready) even while PostgreSQL or the broker is down, and recovers when they return.
    public static func build<S: PasserelleService>(_ service: S.Type, settings: ServiceSettings, logger: Logger) async throws -> ServiceHost {
        var logger = logger
        logger[metadataKey: "service"] = "\(S.name)"
        let pool = PostgresConnectionPool(configuration: settings.postgres, logger: logger)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: settings.kafka), logger: logger)
        let gate = ReadinessGate()
        let components = ServiceComponents(
            settings: settings, pool: pool, producer: producer,
            outbox: Outbox(
                topics: settings.topics, source: "/passerelle/\(S.name)",
                wakeUpChannel: MessagingSchema.channel(schema: settings.postgres.schema ?? S.name)), gate: gate,
            verifier: try await TokenVerifier(settings: settings.auth), logger: logger)

        let contract = try ServiceContract(document: S.openAPIDocument)
        let parts = try await S.build(components)

        // Outermost first: every request gets an id, is counted, and ends as a response
        // (problems rendered) before authentication and the contract's role check run.
        let router = Router(context: PasserelleRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: OperationMetricsMiddleware(contract: contract))
        router.add(middleware: ProblemMiddleware(dialects: parts.problemDialects))
        router.add(middleware: AuthenticationMiddleware(verifier: components.verifier))
        router.add(middleware: OperationAuthorizationMiddleware(contract: contract))
        HealthRoutes(pool: pool, producer: producer, gate: gate, consumers: parts.readinessAwaitsConsumers ? parts.consumers : []).add(to: router)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: contract.document)))
        }
        for routes in parts.routes { try routes.add(to: router) }
        let declared = router.routes.map { (method: $0.method, path: $0.path.description) }
        let disagreements = contract.mismatches(routes: declared)
        guard disagreements.isEmpty else { throw ServiceContractError.disagreesWithRoutes(service: S.name, disagreements) }
        Self.answerUndeclaredMethods(router, declared: declared)
        let consumers = parts.consumers

        let application = Application(
            router: router,
            configuration: .init(address: .hostname(settings.httpHost, port: settings.httpPort), serverName: "passerelle-\(S.name)"),
            logger: logger)
        let schema = settings.postgres.schema ?? S.name
        let migration = SchemaMigrationService(
            migrator: SchemaMigrator(schema: schema, migrations: S.migrations), pool: pool, gate: gate,
            apply: settings.migrateOnStart, logger: logger)
        let relay = OutboxRelay(
            pool: pool, producer: producer, schema: schema, gate: gate, retention: try outboxRetention(settings.environment), logger: logger)
        // Shutdown runs in reverse: HTTP stops first, then consumers, the service's own background
        // work, relay, producer (flush), pool.
        let services: [any Service] = [pool, producer, migration, relay] + parts.background + consumers + [application]
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        return ServiceHost(components: components, application: application, group: group)
    }

    public func run() async throws {
        try await group.run()
    }

    /// A method the contract does not declare on a path it does is 405 with `Allow` (not the
    /// router's 404, which would say the path does not exist).
    static func answerUndeclaredMethods(_ router: Router<PasserelleRequestContext>, declared: [(method: HTTPRequest.Method, path: String)]) {
        // QUERY (the safe method with a body, RFC draft) too: clients and fuzzers send it.
        let all: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options, .trace, HTTPRequest.Method("QUERY")!]
        for (path, routes) in Dictionary(grouping: declared, by: \.path) {
            let allowed = all.filter { method in routes.contains { $0.method == method } }
            for method in all where !allowed.contains(method) {
                router.on(RouterPath(path), method: method) { request, _ -> Response in
                    throw ProblemDetails.methodNotAllowed(request.method, allow: allowed)
                }
            }
        }
    }

    /// What SIGTERM does: stop taking work, finish in-flight, commit, close.
    public func shutdown() async {
        await group.triggerGracefulShutdown()
    }
}

/// Brings the schema up to date at start (retrying while PostgreSQL is unreachable), or
/// waits until someone else did, then opens the gate the relay and consumers wait on.
struct SchemaMigrationService: Service {
    let migrator: SchemaMigrator
    let pool: PostgresConnectionPool
    let gate: ReadinessGate
    let apply: Bool
    let logger: Logger

    func run() async throws {
        var backoff = ExponentialBackoff(initial: .milliseconds(200), maximum: .seconds(5))
        // A group that stops because another service failed cancels rather than shuts down:
        // either ends the retries (a cancelled sleep returns at once and would spin).
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if apply {
                    try await migrator.migrate(pool, logger: logger)
                    gate.open()
                    break
                }
                let pending = try await migrator.pending(pool)
                if pending.isEmpty {
                    gate.open()
                    break
                }
                logger.notice("waiting for migrations to be applied", metadata: ["pending": "\(pending)"])
            } catch let error as PostgresError where error.kind == .migrationHistoryMismatch {
                throw error  // a different build migrated this schema: do not run against it
            } catch {
                logger.warning("schema not ready; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: backoff.next())
        }
        try? await gracefulShutdown()
    }
}

/// `PASSERELLE_OUTBOX_RETENTION_HOURS` (168) and `PASSERELLE_PROCESSED_EVENTS_RETENTION_HOURS`
/// (0: kept; see `OutboxRetention.processedEvents` before setting it).
func outboxRetention(_ environment: Environment) throws(ConfigurationError) -> OutboxRetention {
    let published = try environment.int("PASSERELLE_OUTBOX_RETENTION_HOURS", default: 168)
    guard published >= 1 else {
        throw ConfigurationError(variable: "PASSERELLE_OUTBOX_RETENTION_HOURS", problem: "must be at least 1, not \(published)")
    }
    let processed = try environment.int("PASSERELLE_PROCESSED_EVENTS_RETENTION_HOURS", default: 0)
    guard processed >= 0 else {
        throw ConfigurationError(variable: "PASSERELLE_PROCESSED_EVENTS_RETENTION_HOURS", problem: "must be 0 (kept) or more, not \(processed)")
    }
    return OutboxRetention(published: .seconds(published * 3600), processedEvents: processed == 0 ? nil : .seconds(processed * 3600))
}

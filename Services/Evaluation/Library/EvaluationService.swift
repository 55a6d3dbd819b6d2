import ArgumentParser
import Contracts
import Domain
import Hummingbird
import Logging
import Messaging
import PostgresClient
import ServiceRuntime

/// Evaluation: one projection row per referral pathway, outcome measures, reports, and the
/// de-identified analyst stream.
public enum EvaluationService: PasserelleService {
    public static let name = "evaluation"
    public static let defaultPort = 8084

    public static let migrations: [Migration] = [
        MessagingSchema.migration,
        Migration(2, "pathway", """
            CREATE TABLE pathway (
                referral_id uuid PRIMARY KEY,
                pathway_version integer NOT NULL,
                client_id uuid NOT NULL,
                site text NOT NULL,
                referrer_role text NOT NULL,
                needs text[] NOT NULL,
                support_level text NOT NULL,
                priority text NOT NULL,
                status text NOT NULL,
                age_band text NOT NULL,
                area text,
                consent_evaluation_use boolean NOT NULL,
                received_at timestamptz NOT NULL
            );
            """),
        EvaluationMigrations.pathwayDetail,
        EvaluationMigrations.serviceUse,
        EvaluationMigrations.pathwayRecord,
        EvaluationMigrations.sociodemographics,
        MessagingSchema.wakeUpsAfterCommit(version: 7),
    ]

    public static func addRoutes(to router: Router<PasserelleRequestContext>, components: ServiceComponents) async throws {
        // Checked here, before the consumers are built: a key that is too short stops the service.
        if try AnalystStream.configured(components) == nil {
            components.logger.warning("no \(PseudonymKey.variable) is configured: nothing is published to the analyst stream")
        }
        OutcomeRoutes(pool: components.pool, stream: projectionStream(components)).add(to: router)
        ServiceUseRoutes(pool: components.pool).add(to: router)
        ReportRoutes(pool: components.pool).add(to: router)
    }

    public static var commands: [any ParsableCommand.Type] { [RebuildCommand.self, SeedEventsCommand.self] }

    public static func consumers(components: ServiceComponents) -> [IdempotentConsumer] {
        [components.consumer(topics: [.referrals, .matching, .notifications], handlers: projectionHandlers(components: components))]
    }

    /// What the live consumer runs for each event (tests feed events through the same).
    public static func projectionHandlers(components: ServiceComponents) -> EventHandlers {
        PathwayProjection.handlers(stream: projectionStream(components))
    }

    /// The analyst stream, or nil when no key is configured. `addRoutes` has already refused a
    /// bad key by the time consumers are built, so a failure here is only logged.
    static func projectionStream(_ components: ServiceComponents) -> AnalystStream? {
        do {
            return try AnalystStream.configured(components)
        } catch {
            components.logger.critical("analyst stream off: \(error)")
            return nil
        }
    }
}

import Contracts
import Domain
import Hummingbird
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
    ]

    public static func addRoutes(to router: Router<PasserelleRequestContext>, components: ServiceComponents) async throws {
        OutcomeRoutes(pool: components.pool).add(to: router)
    }

    public static func consumers(components: ServiceComponents) -> [IdempotentConsumer] {
        [components.consumer(topics: [.referrals, .matching, .notifications], handlers: PathwayProjection.handlers())]
    }
}

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
    ]

    public static func addRoutes(to router: Router<PasserelleRequestContext>, components: ServiceComponents) async throws {}

    public static func consumers(components: ServiceComponents) -> [IdempotentConsumer] {
        var handlers = EventHandlers()
        handlers.on(ReferralReceivedV1.self) { referral, _, connection in
            try await connection.query("""
                INSERT INTO pathway (referral_id, pathway_version, client_id, site, referrer_role, needs, support_level, priority,
                    status, age_band, area, consent_evaluation_use, received_at)
                VALUES (\(referral.referralID)::uuid, \(referral.referralVersion), \(referral.clientID)::uuid, \(referral.site),
                    \(referral.referrerRole), \(referral.needs)::text[], \(referral.supportLevel), \(referral.priority), 'received',
                    \(referral.ageBand), \(referral.postalArea), \(referral.consent.evaluationUse), \(referral.receivedAt)::timestamptz)
                ON CONFLICT (referral_id) DO NOTHING
                """)
        }
        handlers.on(ClientErasedV1.self) { erased, _, connection in
            try await connection.query("DELETE FROM pathway WHERE referral_id = \(erased.referralID)::uuid")
        }
        return [components.consumer(topics: [.referrals, .matching, .notifications], handlers: handlers)]
    }
}

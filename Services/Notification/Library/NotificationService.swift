import Contracts
import Domain
import Hummingbird
import Messaging
import PostgresClient
import ServiceRuntime

/// Notification: tells link workers, clients, referrers and partners what they need to know,
/// in their language, only with consent.
public enum NotificationService: PasserelleService {
    public static let name = "notification"
    public static let defaultPort = 8083

    public static let migrations: [Migration] = [
        MessagingSchema.migration,
        Migration(2, "referral_audience", """
            -- Who may be told about each referral, and how: flags only, no contact details.
            CREATE TABLE referral_audience (
                referral_id uuid PRIMARY KEY,
                referral_version integer NOT NULL,
                client_id uuid NOT NULL,
                site text NOT NULL,
                referrer_id text NOT NULL,
                priority text NOT NULL,
                preferred_language text NOT NULL,
                preferred_channel text NOT NULL,
                consent_contact boolean NOT NULL,
                consent_share_with_partners boolean NOT NULL,
                received_at timestamptz NOT NULL
            );
            """),
    ]

    public static func addRoutes(to router: Router<PasserelleRequestContext>, components: ServiceComponents) async throws {}

    public static func consumers(components: ServiceComponents) -> [IdempotentConsumer] {
        var handlers = EventHandlers()
        handlers.on(ReferralReceivedV1.self) { referral, _, connection in
            try await connection.query("""
                INSERT INTO referral_audience (referral_id, referral_version, client_id, site, referrer_id, priority, preferred_language,
                    preferred_channel, consent_contact, consent_share_with_partners, received_at)
                VALUES (\(referral.referralID)::uuid, \(referral.referralVersion), \(referral.clientID)::uuid, \(referral.site),
                    \(referral.referrerID), \(referral.priority), \(referral.preferredLanguage), \(referral.preferredChannel),
                    \(referral.consent.contact), \(referral.consent.shareWithPartners), \(referral.receivedAt)::timestamptz)
                ON CONFLICT (referral_id) DO UPDATE SET referral_version = EXCLUDED.referral_version,
                    consent_contact = EXCLUDED.consent_contact, consent_share_with_partners = EXCLUDED.consent_share_with_partners
                WHERE referral_audience.referral_version < EXCLUDED.referral_version
                """)
        }
        handlers.on(ClientErasedV1.self) { erased, _, connection in
            try await connection.query("DELETE FROM referral_audience WHERE referral_id = \(erased.referralID)::uuid")
        }
        return [components.consumer(topics: [.referrals], handlers: handlers)]
    }
}

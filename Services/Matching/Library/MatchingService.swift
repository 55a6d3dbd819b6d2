import Contracts
import Domain
import Hummingbird
import Messaging
import PostgresClient
import ServiceRuntime

/// Matching: the community resource catalogue, ranked matches and link-worker assignment.
/// Scales out by adding replicas to its consumer group.
public enum MatchingService: PasserelleService {
    public static let name = "matching"
    public static let defaultPort = 8082

    public static let migrations: [Migration] = [
        MessagingSchema.migration,
        Migration(2, "referral_intake", """
            -- What matching knows of each referral: the thin received event, latest version wins.
            CREATE TABLE referral_intake (
                referral_id uuid PRIMARY KEY,
                referral_version integer NOT NULL,
                site text NOT NULL,
                needs text[] NOT NULL,
                interests text[] NOT NULL,
                support_level text NOT NULL,
                priority text NOT NULL,
                preferred_language text NOT NULL,
                postal_area text,
                latitude double precision,
                longitude double precision,
                age_band text NOT NULL,
                received_at timestamptz NOT NULL
            );
            """),
        MatchingMigrations.catalogue,
        MatchingMigrations.connections,
        MatchingMigrations.assignmentRelease,
        MatchingMigrations.catalogueVersion,
        MessagingSchema.wakeUpsAfterCommit(version: 7),
        MatchingMigrations.catalogueReview,
        MatchingMigrations.rematchCaller,
    ]

    /// Path of the taxonomy mapping file HSDS imports use (default: the built-in mapping).
    public static let mappingVariable = "PASSERELLE_HSDS_TAXONOMY_MAPPING"

    public static func build(_ components: ServiceComponents) async throws -> ServiceParts {
        let settings = try MatchingSettings.read(components.settings.environment)
        let mapping = try TaxonomyMapping.load(path: settings.taxonomyMappingPath)
        // One catalogue in memory, shared by the API's rematches and the consumer's matches.
        let matchmaker = matchmaker(components, settings)
        return ServiceParts(
            routes: [
                CatalogueRoutes(store: CatalogueStore(pool: components.pool)),
                CatalogueTransferRoutes(transfer: CatalogueTransfer(pool: components.pool, mapping: mapping)),
                ConnectionRoutes(pool: components.pool, outbox: components.outbox),
                RematchRoutes(pool: components.pool, matchmaker: matchmaker),
            ],
            // An assignment locks its link worker's row until commit; sharing one transaction among
            // many referrals would hold a site's few workers from every other lane (and replica).
            consumers: [components.consumer(topics: [.referrals], batchesTransactions: false, handlers: handlers(matchmaker))])
    }

    static func matchmaker(_ components: ServiceComponents, _ settings: MatchingSettings) -> Matchmaker {
        Matchmaker(
            store: CatalogueStore(pool: components.pool), outbox: components.outbox, weights: settings.weights,
            postalAreas: settings.postalAreas, catalogue: CatalogueCache(pool: components.pool, logger: components.logger))
    }

    static func handlers(_ matchmaker: Matchmaker) -> EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReferralReceivedV1.self) { referral, _, connection in
            try await matchmaker.receive(referral, on: connection)
        }
        handlers.on(ReferralStatusChangedV1.self) { change, _, connection in
            try await matchmaker.statusChanged(change, on: connection)
        }
        handlers.on(ClientErasedV1.self) { erased, _, connection in
            try await connection.query("DELETE FROM referral_match WHERE referral_id = \(erased.referralID)::uuid")
            try await connection.query("DELETE FROM referral_intake WHERE referral_id = \(erased.referralID)::uuid")
        }
        return handlers
    }
}

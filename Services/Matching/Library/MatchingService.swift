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

    public static var migrations: [Migration] { MatchingMigrations.all }

    /// Path of the taxonomy mapping file HSDS imports use (default: the built-in mapping).
    public static let mappingVariable = "PASSERELLE_HSDS_TAXONOMY_MAPPING"

    public static func build(_ components: ServiceComponents) async throws -> ServiceParts {
        let settings = try MatchingSettings.read(components.settings.environment)
        let mapping = try TaxonomyMapping.load(path: settings.taxonomyMappingPath)
        // One catalogue in memory, shared by the API's rematches and the consumer's matches.
        let matchmaker = matchmaker(components, settings)
        return ServiceParts(
            routes: [
                MatchingAPI(
                    catalogue: CatalogueRoutes(store: CatalogueStore(pool: components.pool)),
                    transfer: CatalogueTransferRoutes(transfer: CatalogueTransfer(pool: components.pool, mapping: mapping)),
                    rematches: RematchRoutes(pool: components.pool, matchmaker: matchmaker),
                    connections: ConnectionRoutes(pool: components.pool, outbox: components.outbox))
            ],
            // An assignment locks its link worker's row until commit; sharing one transaction among
            // many referrals would hold a site's few workers from every other lane (and replica).
            consumers: [components.consumer(topics: [.referrals], batchesTransactions: false, handlers: eventHandlers(matchmaker))])
    }

    static func matchmaker(_ components: ServiceComponents, _ settings: MatchingSettings) -> Matchmaker {
        Matchmaker(
            store: CatalogueStore(pool: components.pool), outbox: components.outbox, weights: settings.weights,
            postalAreas: settings.postalAreas, catalogue: CatalogueCache(pool: components.pool, logger: components.logger))
    }
}

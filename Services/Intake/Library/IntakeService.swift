import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Messaging
import PostgresClient
import ServiceLifecycle
import ServiceRuntime
import WireFormats

/// Intake: the system of record for referrals and clients, and the only way in for referrers
/// and EHRs. It publishes `referrals` and `clients`; of `matching` it reads only the connection
/// events, to show EHRs the connections made in their referrals' FHIR Tasks.
public enum IntakeService: PasserelleService {
    public static let name = "intake"
    public static let defaultPort = 8081
    public static var migrations: [Migration] { IntakeMigrations.all }

    public static func build(_ components: ServiceComponents) async throws -> ServiceParts {
        let fhir = try FHIRSettings.fromEnvironment(components.settings.environment)
        let followUpInterval = try components.settings.environment.int("PASSERELLE_FOLLOW_UP_INTERVAL_SECONDS", default: 60)
        let store = ReferralStore(pool: components.pool, outbox: components.outbox, submissions: PostgresCommitGroup(pool: components.pool))
        return ServiceParts(
            routes: [
                IntakeAPI(
                    referrals: ReferralRoutes(store: store), casework: CaseworkRoutes(store: CaseworkStore(referrals: store)),
                    followUp: FollowUpRoutes(pool: components.pool)),
                FHIRRoutes(store: store, settings: fhir),
            ],
            // Matching's connection events, for the FHIR Tasks' output (connections made). One event
            // per transaction: a handler locks a Task that the referral's transitions lock too.
            consumers: [components.consumer(topics: [.matching], batchesTransactions: false, handlers: eventHandlers())],
            background: [
                SubscriptionDelivery(pool: components.pool, gate: components.gate, settings: fhir, logger: components.logger),
                FollowUpClock(
                    pool: components.pool, outbox: components.outbox, gate: components.gate, logger: components.logger,
                    interval: .seconds(max(1, followUpInterval))),
            ],
            // Referrals keep coming in while the connection consumer joins its group or waits for
            // the matching topic: the Tasks' connection outputs only lag behind.
            readinessAwaitsConsumers: false,
            problemDialects: [ProblemDialect(pathPrefix: "/fhir/") { problem, _ in try OperationOutcome(problem).response() }])
    }
}

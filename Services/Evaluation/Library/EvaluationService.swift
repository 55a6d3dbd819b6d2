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

    public static var migrations: [Migration] { EvaluationMigrations.all }

    public static var commands: [any ParsableCommand.Type] { [RebuildCommand.self] }

    public static func build(_ components: ServiceComponents) async throws -> ServiceParts {
        // A key that is too short stops the start; no key at all only turns the stream off.
        let stream = try AnalystStream.configured(components)
        if stream == nil {
            components.logger.warning("no \(PseudonymKey.variable) is configured: nothing is published to the analyst stream")
        }
        return ServiceParts(
            routes: [
                EvaluationAPI(
                    outcomes: OutcomeRoutes(pool: components.pool, stream: stream), serviceUse: ServiceUseRoutes(pool: components.pool),
                    reports: ReportRoutes(pool: components.pool, zone: try ReportWindow.zone(in: components.settings.environment)))
            ],
            consumers: [components.consumer(topics: [.referrals, .matching, .notifications], handlers: eventHandlers(stream: stream))])
    }
}

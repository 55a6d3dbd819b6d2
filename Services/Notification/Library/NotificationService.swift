import Contracts
import Domain
import Foundation
import Hummingbird
import Messaging
import PostgresClient
import ServiceLifecycle
import ServiceRuntime

/// Notification: tells link workers, clients, referrers and partners what they need to know,
/// in their language, only with consent, over SMTP, SMS or webhooks.
public enum NotificationService: PasserelleService {
    public static let name = "notification"
    public static let defaultPort = 8083

    public static var migrations: [Migration] { NotificationMigrations.all }

    public static func build(_ components: ServiceComponents) async throws -> ServiceParts {
        let settings = try NotificationSettings.fromEnvironment(components.settings.environment)
        let channels = try DeliveryChannels(settings: settings)
        let schema = components.settings.postgres.schema ?? name
        let planner = NotificationPlanner(settings: settings, deliveryWakeUp: DeliveryLoop.wakeUpChannel(schema: schema))
        return ServiceParts(
            routes: [
                NotificationAPI(
                    configuration: NotificationRoutes(pool: components.pool, targets: settings.webhookTargets),
                    coordinators: SiteCoordinatorRoutes(pool: components.pool))
            ],
            consumers: [components.consumer(topics: [.referrals, .clients, .matching], handlers: eventHandlers(planner: planner))],
            background: [
                DeliveryLoop(
                    pool: components.pool, outbox: components.outbox, topics: components.settings.topics, gate: components.gate, settings: settings,
                    channels: channels, schema: schema, logger: components.logger, lease: settings.lease)
            ])
    }
}

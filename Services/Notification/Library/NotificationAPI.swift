import Foundation
import Hummingbird
import OpenAPIRuntime
import ServiceRuntime

/// Notification's HTTP API as its contract (`Shared/Contracts/OpenAPI/notification.json`)
/// declares it: every operation of the generated `APIProtocol`, each handed to the area that
/// owns it.
struct NotificationAPI: APIProtocol, ServiceRoutes {
    let configuration: NotificationRoutes
    let coordinators: SiteCoordinatorRoutes

    func add(to router: Router<PasserelleRequestContext>) throws {
        try registerHandlers(on: GeneratedRouteTransport(router: router), configuration: .passerelle)
    }

    func listNotifications(_ input: Operations.ListNotifications.Input) async throws -> Operations.ListNotifications.Output {
        try await configuration.log(input)
    }

    func listTemplates(_ input: Operations.ListTemplates.Input) async throws -> Operations.ListTemplates.Output {
        try await configuration.templates(input)
    }

    func saveTemplate(_ input: Operations.SaveTemplate.Input) async throws -> Operations.SaveTemplate.Output {
        try await configuration.saveTemplate(input)
    }

    func saveRecipient(_ input: Operations.SaveRecipient.Input) async throws -> Operations.SaveRecipient.Output {
        try await configuration.saveRecipient(input)
    }

    func saveWebhookTarget(_ input: Operations.SaveWebhookTarget.Input) async throws -> Operations.SaveWebhookTarget.Output {
        try await configuration.saveTarget(input)
    }

    func saveSitePolicy(_ input: Operations.SaveSitePolicy.Input) async throws -> Operations.SaveSitePolicy.Output {
        try await configuration.savePolicy(input)
    }

    func listSiteCoordinators(_ input: Operations.ListSiteCoordinators.Input) async throws -> Operations.ListSiteCoordinators.Output {
        try await coordinators.list(input)
    }

    func saveSiteCoordinator(_ input: Operations.SaveSiteCoordinator.Input) async throws -> Operations.SaveSiteCoordinator.Output {
        try await coordinators.save(input)
    }

    func removeSiteCoordinator(_ input: Operations.RemoveSiteCoordinator.Input) async throws -> Operations.RemoveSiteCoordinator.Output {
        try await coordinators.remove(input)
    }
}

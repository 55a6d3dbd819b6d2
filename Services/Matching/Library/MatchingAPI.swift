import Foundation
import Hummingbird
import OpenAPIRuntime
import ServiceRuntime

/// Matching's HTTP API as its contract (`Shared/Contracts/OpenAPI/matching.json`) declares it:
/// every operation of the generated `APIProtocol`, each handed to the area that owns it.
struct MatchingAPI: APIProtocol, ServiceRoutes {
    let catalogue: CatalogueRoutes
    let transfer: CatalogueTransferRoutes
    let rematches: RematchRoutes
    let connections: ConnectionRoutes

    func add(to router: Router<PasserelleRequestContext>) throws {
        try registerHandlers(
            on: GeneratedRouteTransport(router: router, uploadLimits: ["/v1/catalogue/imports": CatalogueTransferRoutes.maximumImportBytes]),
            configuration: .passerelle)
    }

    func searchResources(_ input: Operations.SearchResources.Input) async throws -> Operations.SearchResources.Output {
        try await catalogue.search(input)
    }

    func createResource(_ input: Operations.CreateResource.Input) async throws -> Operations.CreateResource.Output {
        try await catalogue.create(input)
    }

    func getResource(_ input: Operations.GetResource.Input) async throws -> Operations.GetResource.Output {
        try await catalogue.read(input)
    }

    func replaceResource(_ input: Operations.ReplaceResource.Input) async throws -> Operations.ReplaceResource.Output {
        try await catalogue.replace(input)
    }

    func deactivateResource(_ input: Operations.DeactivateResource.Input) async throws -> Operations.DeactivateResource.Output {
        try await catalogue.deactivate(input)
    }

    func saveLinkWorker(_ input: Operations.SaveLinkWorker.Input) async throws -> Operations.SaveLinkWorker.Output {
        try await catalogue.saveLinkWorker(input)
    }

    func importCatalogue(_ input: Operations.ImportCatalogue.Input) async throws -> Operations.ImportCatalogue.Output {
        try await transfer.importTables(input)
    }

    func exportCatalogue(_ input: Operations.ExportCatalogue.Input) async throws -> Operations.ExportCatalogue.Output {
        try await transfer.exportTables(input)
    }

    func reviewCatalogue(_ input: Operations.ReviewCatalogue.Input) async throws -> Operations.ReviewCatalogue.Output {
        try await transfer.needsReview(input)
    }

    func getMatches(_ input: Operations.GetMatches.Input) async throws -> Operations.GetMatches.Output {
        try await catalogue.matches(input)
    }

    func rematchReferral(_ input: Operations.RematchReferral.Input) async throws -> Operations.RematchReferral.Output {
        try await rematches.rematch(input)
    }

    func listConnections(_ input: Operations.ListConnections.Input) async throws -> Operations.ListConnections.Output {
        try await connections.list(input)
    }

    func proposeConnection(_ input: Operations.ProposeConnection.Input) async throws -> Operations.ProposeConnection.Output {
        try await connections.propose(input)
    }

    func changeConnection(_ input: Operations.ChangeConnection.Input) async throws -> Operations.ChangeConnection.Output {
        try await connections.change(input)
    }
}

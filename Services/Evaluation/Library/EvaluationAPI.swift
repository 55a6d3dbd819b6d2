import Foundation
import Hummingbird
import OpenAPIRuntime
import ServiceRuntime

/// Evaluation's HTTP API as its contract (`Shared/Contracts/OpenAPI/evaluation.json`) declares
/// it: every operation of the generated `APIProtocol`, each handed to the area that owns it.
struct EvaluationAPI: APIProtocol, ServiceRoutes {
    let outcomes: OutcomeRoutes
    let serviceUse: ServiceUseRoutes
    let reports: ReportRoutes

    func add(to router: Router<PasserelleRequestContext>) throws {
        try registerHandlers(on: GeneratedRouteTransport(router: router), configuration: .passerelle)
    }

    func recordOutcome(_ input: Operations.RecordOutcome.Input) async throws -> Operations.RecordOutcome.Output {
        try await outcomes.record(input)
    }

    func listOutcomes(_ input: Operations.ListOutcomes.Input) async throws -> Operations.ListOutcomes.Output {
        try await outcomes.list(input)
    }

    func getServiceUse(_ input: Operations.GetServiceUse.Input) async throws -> Operations.GetServiceUse.Output {
        try await serviceUse.read(input)
    }

    func recordServiceUse(_ input: Operations.RecordServiceUse.Input) async throws -> Operations.RecordServiceUse.Output {
        try await serviceUse.record(input)
    }

    func listReports(_ input: Operations.ListReports.Input) async throws -> Operations.ListReports.Output {
        reports.list()
    }

    func runReport(_ input: Operations.RunReport.Input) async throws -> Operations.RunReport.Output {
        try await reports.run(input)
    }
}

import Foundation
import Hummingbird
import OpenAPIRuntime
import ServiceRuntime

/// Intake's HTTP API as its contract (`Shared/Contracts/OpenAPI/intake.json`) declares it:
/// every operation of the generated `APIProtocol`, each handed to the area that owns it. FHIR
/// keeps its own hand-written routes beside it.
struct IntakeAPI: APIProtocol, ServiceRoutes {
    let referrals: ReferralRoutes
    let casework: CaseworkRoutes
    let followUp: FollowUpRoutes

    func add(to router: Router<PasserelleRequestContext>) throws {
        try registerHandlers(on: GeneratedRouteTransport(router: router), configuration: .passerelle)
    }

    func listReferrals(_ input: Operations.ListReferrals.Input) async throws -> Operations.ListReferrals.Output {
        try await referrals.list(input)
    }

    func submitReferral(_ input: Operations.SubmitReferral.Input) async throws -> Operations.SubmitReferral.Output {
        try await referrals.submit(input)
    }

    func getReferral(_ input: Operations.GetReferral.Input) async throws -> Operations.GetReferral.Output {
        try await referrals.read(input)
    }

    func transitionReferral(_ input: Operations.TransitionReferral.Input) async throws -> Operations.TransitionReferral.Output {
        try await referrals.transition(input)
    }

    func listStatusHistory(_ input: Operations.ListStatusHistory.Input) async throws -> Operations.ListStatusHistory.Output {
        try await referrals.statusHistory(input)
    }

    func getReferralAudit(_ input: Operations.GetReferralAudit.Input) async throws -> Operations.GetReferralAudit.Output {
        try await referrals.auditTrail(input)
    }

    func readClient(_ input: Operations.ReadClient.Input) async throws -> Operations.ReadClient.Output {
        try await referrals.readClient(input)
    }

    func changeClientConsent(_ input: Operations.ChangeClientConsent.Input) async throws -> Operations.ChangeClientConsent.Output {
        try await referrals.changeConsent(input)
    }

    func eraseClient(_ input: Operations.EraseClient.Input) async throws -> Operations.EraseClient.Output {
        try await referrals.erase(input)
    }

    func listContacts(_ input: Operations.ListContacts.Input) async throws -> Operations.ListContacts.Output {
        try await casework.contacts(input)
    }

    func logContact(_ input: Operations.LogContact.Input) async throws -> Operations.LogContact.Output {
        try await casework.logContact(input)
    }

    func getPlan(_ input: Operations.GetPlan.Input) async throws -> Operations.GetPlan.Output {
        try await casework.plan(input)
    }

    func writePlan(_ input: Operations.WritePlan.Input) async throws -> Operations.WritePlan.Output {
        try await casework.writePlan(input)
    }

    func reviseSupportLevel(_ input: Operations.ReviseSupportLevel.Input) async throws -> Operations.ReviseSupportLevel.Output {
        try await casework.reviseSupportLevel(input)
    }

    func setGoal(_ input: Operations.SetGoal.Input) async throws -> Operations.SetGoal.Output {
        try await casework.setGoal(input)
    }

    func reviewGoal(_ input: Operations.ReviewGoal.Input) async throws -> Operations.ReviewGoal.Output {
        try await casework.reviewGoal(input)
    }

    func listNotes(_ input: Operations.ListNotes.Input) async throws -> Operations.ListNotes.Output {
        try await casework.notes(input)
    }

    func writeNote(_ input: Operations.WriteNote.Input) async throws -> Operations.WriteNote.Output {
        try await casework.writeNote(input)
    }

    func getFollowUpPolicy(_ input: Operations.GetFollowUpPolicy.Input) async throws -> Operations.GetFollowUpPolicy.Output {
        try await followUp.read(input)
    }

    func setFollowUpPolicy(_ input: Operations.SetFollowUpPolicy.Input) async throws -> Operations.SetFollowUpPolicy.Output {
        try await followUp.save(input)
    }
}

import Foundation
import HTTPTypes
import OpenAPIRuntime
import ServiceRuntime

/// The casework API: a referral's contacts, plan and goals, and private notes. Only the link
/// workers and coordinators of the referral's site reach it (the contract's roles, then
/// `CaseworkStore`'s site rule); anyone else's referral is an unknown one. Each body is read as
/// its request type and checked there, with a 422 at each pointer at fault.
struct CaseworkRoutes: Sendable {
    let store: CaseworkStore

    func logContact(_ input: Operations.LogContact.Input) async throws -> Operations.LogContact.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let key = try IdempotencyKey.validated(input.headers.idempotencyKey)
        // Read from the bytes sent: `"occurredAt": null` is refused, left out means now, and the
        // generated type cannot tell the two apart.
        let request = try OperationRequest.body(as: ContactRequest.self)
        let contact = try request.validated(now: Date())
        let location = Self.location(id, "contacts")
        switch try await store.logContact(contact, referral: id, idempotencyKey: key, actor: actor, requestID: OperationRequest.requestID) {
        case .created(let view): return .created(.init(headers: .init(location: location), body: .json(view.answer)))
        case .existing(let view): return .ok(.init(headers: .init(location: location), body: .json(view.answer)))
        }
    }

    func contacts(_ input: Operations.ListContacts.Input) async throws -> Operations.ListContacts.Output {
        let actor = try OperationRequest.caller()
        let contacts = try await store.contacts(referral: try OperationRequest.id(input.path.id), actor: actor)
        return .ok(.init(body: .json(contacts.map(\.answer))))
    }

    func plan(_ input: Operations.GetPlan.Input) async throws -> Operations.GetPlan.Output {
        let actor = try OperationRequest.caller()
        let plan = try await store.plan(referral: try OperationRequest.id(input.path.id), actor: actor)
        return .ok(.init(body: .json(plan.answer)))
    }

    func writePlan(_ input: Operations.WritePlan.Input) async throws -> Operations.WritePlan.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let request: PlanRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: PlanRequest.self)
        }
        let plan = try await store.writePlan(whatMatters: try request.validated(), referral: id, actor: actor, requestID: OperationRequest.requestID)
        return .ok(.init(body: .json(plan.answer)))
    }

    func setGoal(_ input: Operations.SetGoal.Input) async throws -> Operations.SetGoal.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let key = try IdempotencyKey.validated(input.headers.idempotencyKey)
        let request: GoalRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: GoalRequest.self)
        }
        let goal = try request.validated()
        let location = Self.location(id, "plan")
        switch try await store.setGoal(goal, referral: id, idempotencyKey: key, actor: actor, requestID: OperationRequest.requestID) {
        case .created(let view): return .created(.init(headers: .init(location: location), body: .json(view.answer)))
        case .existing(let view): return .ok(.init(headers: .init(location: location), body: .json(view.answer)))
        }
    }

    func reviewGoal(_ input: Operations.ReviewGoal.Input) async throws -> Operations.ReviewGoal.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let goalID = try OperationRequest.id(input.path.goalId)
        let request: GoalReviewRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: GoalReviewRequest.self)
        }
        let review = try request.validated()
        let goal = try await store.reviewGoal(
            goalID, referral: id, progress: review.progress, note: review.note, actor: actor, requestID: OperationRequest.requestID)
        return .ok(.init(body: .json(goal.answer)))
    }

    func writeNote(_ input: Operations.WriteNote.Input) async throws -> Operations.WriteNote.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let key = try IdempotencyKey.validated(input.headers.idempotencyKey)
        let request: NoteRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: NoteRequest.self)
        }
        let note = try request.validated()
        let location = Self.location(id, "notes")
        switch try await store.writeNote(note, referral: id, idempotencyKey: key, actor: actor, requestID: OperationRequest.requestID) {
        case .created(let view): return .created(.init(headers: .init(location: location), body: .json(view.answer)))
        case .existing(let view): return .ok(.init(headers: .init(location: location), body: .json(view.answer)))
        }
    }

    func notes(_ input: Operations.ListNotes.Input) async throws -> Operations.ListNotes.Output {
        let actor = try OperationRequest.caller()
        let notes = try await store.notes(referral: try OperationRequest.id(input.path.id), actor: actor, requestID: OperationRequest.requestID)
        return .ok(.init(body: .json(notes.map(\.answer))))
    }

    func reviseSupportLevel(_ input: Operations.ReviseSupportLevel.Input) async throws -> Operations.ReviseSupportLevel.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let request: SupportLevelRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: SupportLevelRequest.self)
        }
        let revision = try request.validated()
        let view = try await store.reviseSupportLevel(
            revision.level, reason: revision.reason, referral: id, actor: actor, requestID: OperationRequest.requestID)
        return .ok(.init(body: .json(try convertJSON(view))))
    }

    static func location(_ referral: UUID, _ collection: String) -> String {
        "/v1/referrals/\(referral.uuidString.lowercased())/\(collection)"
    }
}

// The casework views as the contract's types.
extension ContactView {
    var answer: Components.Schemas.ContactView {
        .init(
            id: id.uuidString, referralId: referralId.uuidString, occurredAt: occurredAt, mode: mode, party: party, reached: reached, minutes: minutes,
            note: note, authorId: authorId, loggedAt: loggedAt)
    }
}

extension GoalView {
    var answer: Components.Schemas.GoalView {
        .init(
            id: id.uuidString, referralId: referralId.uuidString, lifeDomain: lifeDomain, description: description, progress: progress, setBy: setBy,
            setAt: setAt, reviewedAt: reviewedAt)
    }
}

extension PlanView {
    var answer: Components.Schemas.PlanView {
        .init(referralId: referralId.uuidString, whatMatters: whatMatters, updatedBy: updatedBy, updatedAt: updatedAt, goals: goals.map(\.answer))
    }
}

extension NoteView {
    var answer: Components.Schemas.NoteView {
        .init(id: id.uuidString, referralId: referralId.uuidString, body: body, authorId: authorId, writtenAt: writtenAt)
    }
}

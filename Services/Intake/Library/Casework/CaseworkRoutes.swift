import Foundation
import HTTPTypes
import Hummingbird
import ServiceRuntime

/// The casework API: a referral's contacts, plan and goals, and private notes. Only the link
/// workers and coordinators of the referral's site reach it (the contract's roles, then
/// `CaseworkStore`'s site rule); anyone else's referral is an unknown one.
struct CaseworkRoutes: ServiceRoutes, Sendable {
    let store: CaseworkStore

    func add(to router: Router<PasserelleRequestContext>) {
        router.post("/v1/referrals/{id}/contacts") { request, context in try await logContact(request, context) }
        router.get("/v1/referrals/{id}/contacts") { _, context in
            try Response.json(try await store.contacts(referral: try context.pathID(), actor: try context.caller()), status: .ok)
        }
        router.get("/v1/referrals/{id}/plan") { _, context in
            try Response.json(try await store.plan(referral: try context.pathID(), actor: try context.caller()), status: .ok)
        }
        router.put("/v1/referrals/{id}/plan") { request, context in try await writePlan(request, context) }
        router.post("/v1/referrals/{id}/goals") { request, context in try await setGoal(request, context) }
        router.post("/v1/referrals/{id}/goals/{goalId}/reviews") { request, context in try await reviewGoal(request, context) }
        router.post("/v1/referrals/{id}/notes") { request, context in try await writeNote(request, context) }
        router.put("/v1/referrals/{id}/support-level") { request, context in
            let revision = try await request.decodeJSON(as: SupportLevelRequest.self, context: context).validated()
            let view = try await store.reviseSupportLevel(
                revision.level, reason: revision.reason, referral: try context.pathID(), actor: try context.caller(), requestID: context.requestID)
            return try Response.json(view, status: .ok)
        }
        router.get("/v1/referrals/{id}/notes") { _, context in
            try Response.json(try await store.notes(referral: try context.pathID(), actor: try context.caller(), requestID: context.requestID), status: .ok)
        }
    }

    private func logContact(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let key = try request.idempotencyKey()
        let contact = try await request.decodeJSON(as: ContactRequest.self, context: context).validated(now: Date())
        let recorded = try await store.logContact(contact, referral: id, idempotencyKey: key, actor: actor, requestID: context.requestID)
        return try Self.response(recorded, location: Self.location(id, "contacts"))
    }

    private func writePlan(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let whatMatters = try await request.decodeJSON(as: PlanRequest.self, context: context).validated()
        return try Response.json(try await store.writePlan(whatMatters: whatMatters, referral: id, actor: actor, requestID: context.requestID), status: .ok)
    }

    private func setGoal(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let key = try request.idempotencyKey()
        let goal = try await request.decodeJSON(as: GoalRequest.self, context: context).validated()
        let recorded = try await store.setGoal(goal, referral: id, idempotencyKey: key, actor: actor, requestID: context.requestID)
        return try Self.response(recorded, location: Self.location(id, "plan"))
    }

    private func reviewGoal(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let goalID = try context.pathID("goalId")
        let review = try await request.decodeJSON(as: GoalReviewRequest.self, context: context).validated()
        let goal = try await store.reviewGoal(goalID, referral: id, progress: review.progress, note: review.note, actor: actor, requestID: context.requestID)
        return try Response.json(goal, status: .ok)
    }

    private func writeNote(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let key = try request.idempotencyKey()
        let body = try await request.decodeJSON(as: NoteRequest.self, context: context).validated()
        let recorded = try await store.writeNote(body, referral: id, idempotencyKey: key, actor: actor, requestID: context.requestID)
        return try Self.response(recorded, location: Self.location(id, "notes"))
    }

    /// 201 for a new record, 200 for the first result of a retried request.
    static func response<View: Encodable & Sendable>(_ recorded: CaseworkStore.Recorded<View>, location: String) throws -> Response {
        switch recorded {
        case .created(let view): return try Response.json(view, status: .created, headers: [.location: location])
        case .existing(let view): return try Response.json(view, status: .ok, headers: [.location: location])
        }
    }

    static func location(_ referral: UUID, _ collection: String) -> String {
        "/v1/referrals/\(referral.uuidString.lowercased())/\(collection)"
    }
}

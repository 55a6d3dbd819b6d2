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

/// The referral API: submission, the inbox, reads, transitions, audit, the client's read, consent and erasure.
struct ReferralRoutes: ServiceRoutes, Sendable {
    let store: ReferralStore

    func add(to router: Router<PasserelleRequestContext>) {
        router.post("/v1/referrals") { request, context in try await submit(request, context) }
        router.get("/v1/referrals") { request, context in try await list(request, context) }
        router.get("/v1/referrals/{id}") { request, context in try await read(request, context) }
        router.post("/v1/referrals/{id}/transitions") { request, context in try await transition(request, context) }
        router.get("/v1/referrals/{id}/audit") { request, context in try await auditTrail(request, context) }
        router.get("/v1/clients/{id}") { request, context in try await readClient(request, context) }
        router.put("/v1/clients/{id}/consent") { request, context in try await changeConsent(request, context) }
        router.delete("/v1/clients/{id}") { request, context in try await erase(request, context) }
    }

    private func submit(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let key = try request.idempotencyKey()
        let submission = try await request.decodeJSON(as: ReferralSubmission.self, context: context)
        let valid = try submission.validated(referralID: UUID.random(), clientID: UUID.random(), now: Date())
        switch try await store.submit(valid, idempotencyKey: key, actor: actor, requestID: context.requestID) {
        case .created(let view):
            return try Response.json(view, status: .created, headers: [.location: "/v1/referrals/\(view.id.uuidString.lowercased())"])
        case .existing(let view):
            return try Response.json(view, status: .ok, headers: [.location: "/v1/referrals/\(view.id.uuidString.lowercased())"])
        }
    }

    private func read(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let store = store
        let view = try await store.pool.withConnection { connection -> ReferralView? in
            guard let view = try await store.referral(id: id, on: connection), ReferralStore.mayRead(view, actor: actor) else { return nil }
            try await store.audit("read", referral: id, actor: actor, requestID: context.requestID, on: connection)
            return view
        }
        guard let view else { throw ProblemDetails.noSuchResource }
        return try Response.json(view, status: .ok)
    }

    private func list(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let parameters = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { first, _ in first })
        return try Response.json(try await store.inbox(InboxQuery.parse(parameters, actor: actor), actor: actor), status: .ok)
    }

    private func transition(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let body = try await request.decodeJSON(as: TransitionRequest.self, context: context)
        return try Response.json(try await store.transition(id: id, request: body, actor: actor, requestID: context.requestID), status: .ok)
    }

    private func auditTrail(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        // Another site's referral answers as an unknown one.
        let site = try await store.pool.withConnection { try await store.referral(id: id, on: $0)?.site }
        guard let site, actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        return try Response.json(try await store.auditTrail(referral: id), status: .ok)
    }

    private func readClient(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let clientID = try context.pathID()
        return try Response.json(try await store.client(id: clientID, actor: actor, requestID: context.requestID), status: .ok)
    }

    private func changeConsent(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let clientID = try context.pathID()
        let consent = try await request.decodeJSON(as: ConsentRequest.self, context: context).validated()
        return try Response.json(try await store.changeConsent(clientID: clientID, to: consent, actor: actor, requestID: context.requestID), status: .ok)
    }

    private func erase(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let clientID = try context.pathID()
        try await store.erase(clientID: clientID, actor: actor, requestID: context.requestID)
        return Response(status: .noContent)
    }
}

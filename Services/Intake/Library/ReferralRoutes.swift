import Contracts
import Domain
import Foundation
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime
import WireFormats

/// The referral API: submission, the inbox, reads (with the status history), transitions, audit, the client's read, consent and erasure.
struct ReferralRoutes: Sendable {
    let store: ReferralStore

    func submit(_ input: Operations.SubmitReferral.Input) async throws -> Operations.SubmitReferral.Output {
        let actor = try OperationRequest.caller()
        let key = try IdempotencyKey.validated(input.headers.idempotencyKey)
        // Checked here, member by member, with a 422 at each pointer at fault.
        let submission: ReferralSubmission
        switch input.body {
        case .json(let body): submission = ReferralSubmission(try OperationRequest.storable(body))
        }
        let valid = try submission.validated(referralID: UUID.random(), clientID: UUID.random(), now: Date())
        switch try await store.submit(valid, idempotencyKey: key, actor: actor, requestID: OperationRequest.requestID) {
        case .created(let view):
            return .created(.init(headers: .init(location: Self.location(view)), body: .json(.init(view))))
        case .existing(let view):
            return .ok(.init(headers: .init(location: Self.location(view)), body: .json(.init(view))))
        }
    }

    static func location(_ view: ReferralView) -> String {
        "/v1/referrals/\(view.id.uuidString.lowercased())"
    }

    func read(_ input: Operations.GetReferral.Input) async throws -> Operations.GetReferral.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let store = store
        let requestID = OperationRequest.requestID
        let view = try await store.pool.withConnection { connection -> ReferralView? in
            guard var view = try await store.referral(id: id, on: connection), ReferralStore.mayRead(view, actor: actor) else { return nil }
            try await store.audit("read", referral: id, actor: actor, requestID: requestID, on: connection)
            // Only this read carries the screening answers (free text about the person).
            view.screeningAnswers = try await store.screeningAnswers(referral: id, on: connection)
            return view
        }
        guard let view else { throw ProblemDetails.noSuchResource }
        return .ok(.init(body: .json(.init(view))))
    }

    /// Who may read the referral may read its status history; the read is audited.
    func statusHistory(_ input: Operations.ListStatusHistory.Input) async throws -> Operations.ListStatusHistory.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let store = store
        let requestID = OperationRequest.requestID
        let steps = try await store.pool.withConnection { connection -> [StatusStep]? in
            guard let view = try await store.referral(id: id, on: connection), ReferralStore.mayRead(view, actor: actor) else { return nil }
            try await store.audit("read:history", referral: id, actor: actor, requestID: requestID, on: connection)
            return try await store.statusHistory(referral: id, on: connection)
        }
        // Another site's referral, or another referrer's, answers as an unknown one.
        guard let steps else { throw ProblemDetails.noSuchResource }
        return .ok(.init(body: .json(try convertJSON(steps))))
    }

    func list(_ input: Operations.ListReferrals.Input) async throws -> Operations.ListReferrals.Output {
        let actor = try OperationRequest.caller()
        let page = try await store.inbox(InboxQuery.parse(input.query, actor: actor), actor: actor)
        return .ok(.init(body: .json(.init(items: page.items.map(Components.Schemas.ReferralView.init), nextCursor: page.nextCursor))))
    }

    func transition(_ input: Operations.TransitionReferral.Input) async throws -> Operations.TransitionReferral.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let request: TransitionRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: TransitionRequest.self)
        }
        let view = try await store.transition(id: id, request: request, actor: actor, requestID: OperationRequest.requestID)
        return .ok(.init(body: .json(.init(view))))
    }

    func auditTrail(_ input: Operations.GetReferralAudit.Input) async throws -> Operations.GetReferralAudit.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        // Another site's referral answers as an unknown one.
        let site = try await store.pool.withConnection { try await store.referral(id: id, on: $0)?.site }
        guard let site, actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        return .ok(.init(body: .json(try convertJSON(try await store.auditTrail(referral: id)))))
    }

    func readClient(_ input: Operations.ReadClient.Input) async throws -> Operations.ReadClient.Output {
        let actor = try OperationRequest.caller()
        let clientID = try OperationRequest.id(input.path.id)
        let client = try await store.client(id: clientID, actor: actor, requestID: OperationRequest.requestID)
        return .ok(.init(body: .json(try convertJSON(client))))
    }

    func changeConsent(_ input: Operations.ChangeClientConsent.Input) async throws -> Operations.ChangeClientConsent.Output {
        let actor = try OperationRequest.caller()
        let clientID = try OperationRequest.id(input.path.id)
        let request: ConsentRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: ConsentRequest.self)
        }
        let consent = try await store.changeConsent(clientID: clientID, to: try request.validated(), actor: actor, requestID: OperationRequest.requestID)
        return .ok(
            .init(body: .json(.init(contact: consent.contact, shareWithPartners: consent.shareWithPartners, evaluationUse: consent.evaluationUse))))
    }

    func erase(_ input: Operations.EraseClient.Input) async throws -> Operations.EraseClient.Output {
        let actor = try OperationRequest.caller()
        let clientID = try OperationRequest.id(input.path.id)
        try await store.erase(clientID: clientID, actor: actor, requestID: OperationRequest.requestID)
        return .noContent(.init())
    }
}

extension Components.Schemas.ReferralView {
    /// The contract's referral, member by member: referrals are intake's most frequent answer
    /// (every submission, read, transition and inbox page), and a round trip through JSON cost a
    /// tenth of intake's time per submission.
    init(_ view: ReferralView) {
        self.init(
            id: view.id.uuidString, externalId: view.externalId, clientId: view.clientId.uuidString, site: view.site,
            referrer: .init(id: view.referrer.id, role: view.referrer.role.rawValue, organisation: view.referrer.organisation),
            needs: view.needs, interests: view.interests, supportLevel: view.supportLevel, priority: view.priority, status: view.status,
            version: view.version, receivedAt: view.receivedAt, updatedAt: view.updatedAt, ownerId: view.ownerId,
            nextStep: view.nextStep.map { .init(step: $0.step, dueAt: $0.dueAt, overdue: $0.overdue) },
            screeningAnswers: view.screeningAnswers.map { .init(additionalProperties: $0) })
    }
}

import Contracts
import Domain
import Foundation
import HTTPTypes
import Messaging
import PostgresClient
import ServiceRuntime
import WireFormats

/// `POST /v1/referrals/{id}/transitions`: one step of the closed loop.
struct TransitionRequest: Decodable, Sendable {
    var action: String?
    var reason: String?
    var outcome: String?
}

extension ReferralStore {
    /// Applies `action` under a row lock, so two concurrent transitions cannot both win: the
    /// second sees the first's result and is judged against it.
    func transition(id: UUID, request: TransitionRequest, actor: Identity, requestID: String) async throws -> ReferralView {
        var checks = FieldChecks()
        let action = checks.choice(request.action, ReferralAction.self, at: "/action")
        let reason = checks.text(request.reason, at: "/reason", max: 1000, required: false)
        let outcome = checks.text(request.outcome, at: "/outcome", max: 1000, required: false)
        if let action, action.requiresReason, reason == nil, request.reason?.unicodeScalars.count ?? 0 <= 1000 {
            checks.fail("/reason", "is required to \(action.rawValue) a referral")
        }
        if let action, action.requiresOutcome, outcome == nil, request.outcome?.unicodeScalars.count ?? 0 <= 1000 {
            checks.fail("/outcome", "is required to complete a referral")
        }
        try checks.check()
        guard let action else { throw ProblemDetails.validation(checks.errors) }

        return try await pool.transaction { connection in
            guard
                let row = try await connection.query(
                    """
                    SELECT status, status_before_hold, version, site, referrer_id FROM referral WHERE id = \(id)::uuid FOR UPDATE
                    """
                ).first
            else { throw ProblemDetails.noSuchResource }
            let site: String = try row.decode("site")
            let referrerID: String = try row.decode("referrer_id")
            try Self.authorise(action, actor: actor, site: site, referrerID: referrerID)
            guard let current = ReferralStatus(rawValue: try row.decode("status")) else {
                throw PostgresError(kind: .protocolViolation, message: "referral \(id) has an unknown status")
            }
            let heldFrom = try row.decode("status_before_hold", as: String?.self).flatMap(ReferralStatus.init(rawValue:))
            let next: ReferralStatus
            do {
                next = try current.applying(action, resumeTo: heldFrom)
            } catch {
                throw ProblemDetails(
                    status: .conflict, title: "Transition not allowed", detail: "\(error)",
                    extensions: ["allowedActions": current.allowedActions.map(\.rawValue)])
            }
            let version = try row.decode("version", as: Int.self) + 1
            let now = Date()
            try await connection.execute(
                """
                UPDATE referral SET status = \(next.rawValue), version = \(version), updated_at = \(now)::timestamptz,
                    status_before_hold = \(action == .hold ? current.rawValue : nil),
                    -- Whoever accepts a referral owns it: it is on their caseload from then on.
                    owner_id = CASE WHEN \(action == .accept) THEN \(actor.subject) ELSE owner_id END
                WHERE id = \(id)::uuid
                """)
            try await connection.withSession { try FollowUpSteps.follow(action, to: next, referral: id, site: site, at: now, on: $0) }
            let roles = actor.roles.map(\.rawValue).sorted().joined(separator: ",")
            try await connection.execute(
                """
                INSERT INTO referral_status_history (referral_id, version, from_status, to_status, action, actor_id, actor_role, reason, outcome, request_id, changed_at)
                VALUES (\(id)::uuid, \(version), \(current.rawValue), \(next.rawValue), \(action.rawValue), \(actor.subject), \(roles), \(reason), \(outcome), \(requestID), \(now)::timestamptz)
                """)
            // The referral's FHIR Task moves with it, in this transaction.
            try await connection.withSession { try ReferralTasks.follow(referral: id, to: next, reason: reason, outcome: outcome, at: now, on: $0) }
            try await outbox.append(
                ReferralStatusChangedV1(
                    referralID: id, referralVersion: version, site: site, from: current.rawValue, to: next.rawValue, action: action.rawValue,
                    actorRole: Self.primaryRole(actor).rawValue, actorID: actor.subject, reason: reason, outcome: outcome, changedAt: now), on: connection)
            try await audit("transition:\(action.rawValue)", referral: id, actor: actor, requestID: requestID, on: connection)
            return try await referral(id: id, on: connection)!
        }
    }

    /// Nobody reaches another site's referral; within their sites link workers, coordinators
    /// and services act on any, referrers may only cancel their own.
    static func authorise(_ action: ReferralAction, actor: Identity, site: String, referrerID: String) throws(ProblemDetails) {
        guard actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        if actor.hasAny(.coordinator, .networkCoordinator, .service, .linkWorker) { return }
        if actor.has(.referrer) && actor.subject == referrerID {
            if action == .cancel { return }
            throw ProblemDetails(status: .forbidden, title: "Forbidden", detail: "a referrer can only cancel a referral")
        }
        throw ProblemDetails.noSuchResource
    }

    static func primaryRole(_ actor: Identity) -> Role {
        [Role.coordinator, .networkCoordinator, .linkWorker, .referrer, .ehrIntegration, .service, .analyst].first(where: actor.has) ?? .service
    }

    func audit(_ action: String, referral: UUID?, client: UUID? = nil, actor: Identity, requestID: String, on session: borrowing PostgresSession) throws {
        try session.execute(
            """
            INSERT INTO audit_log (actor_id, actor_roles, action, referral_id, client_id, request_id)
            VALUES (\(actor.subject), \(actor.roles.map(\.rawValue).sorted().joined(separator: ",")), \(action), \(referral), \(client), \(requestID))
            """)
    }

    func audit(_ action: String, referral: UUID?, client: UUID? = nil, actor: Identity, requestID: String, on connection: PostgresConnection) async throws {
        try await connection.withSession { try self.audit(action, referral: referral, client: client, actor: actor, requestID: requestID, on: $0) }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

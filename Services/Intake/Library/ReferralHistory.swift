import Foundation
import PostgresClient
import ServiceRuntime
import WireFormats

/// One step of `GET /v1/referrals/{id}/history`: the submission (no `from`, no `action`) or a
/// transition, who took it (a staff subject, never client data) and the reason or outcome given.
struct StatusStep: Encodable, Sendable, Equatable {
    var version: Int
    var from: String?
    var to: String
    var action: String?
    var reason: String?
    var outcome: String?
    var at: Date
    var actorId: String
    var actorRoles: String
}

extension ReferralStore {
    /// The screening answers of a referral the caller may already read.
    func screeningAnswers(referral id: UUID, on connection: PostgresConnection) async throws -> [String: String] {
        guard let row = try await connection.query("SELECT screening_answers::text AS answers FROM referral WHERE id = \(id)::uuid").first else {
            throw ProblemDetails.noSuchResource
        }
        return try JSONCoding.stored.decode([String: String].self, from: try row.decode("answers", as: String.self))
    }

    /// Every status step of a referral, oldest first.
    func statusHistory(referral id: UUID, on connection: PostgresConnection) async throws -> [StatusStep] {
        try await connection.query(
            """
            SELECT version, from_status, to_status, action, reason, outcome, changed_at, actor_id, actor_role
            FROM referral_status_history WHERE referral_id = \(id)::uuid ORDER BY version
            """
        ).map { row in
            StatusStep(
                version: try row.decode("version"), from: try row.decode("from_status", as: String?.self), to: try row.decode("to_status"),
                action: try row.decode("action", as: String?.self), reason: try row.decode("reason", as: String?.self),
                outcome: try row.decode("outcome", as: String?.self), at: try row.decode("changed_at"), actorId: try row.decode("actor_id"),
                actorRoles: try row.decode("actor_role"))
        }
    }
}

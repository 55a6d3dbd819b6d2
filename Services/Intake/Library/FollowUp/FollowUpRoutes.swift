import Domain
import Foundation
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime

/// A site's follow-up policy: its link workers and coordinators read it, its coordinators set
/// it. A change applies to steps opened from then on; steps already open keep their times.
struct FollowUpRoutes: Sendable {
    let pool: PostgresConnectionPool

    struct PolicyView: Codable, Sendable, Equatable {
        var site: String
        var policy: FollowUpPolicy
        /// False while the site uses the standard policy.
        var custom: Bool
    }

    func read(_ input: Operations.GetFollowUpPolicy.Input) async throws -> Operations.GetFollowUpPolicy.Output {
        let site = try Self.site(input.path.site)
        let view = try await pool.withConnection { connection in
            try await connection.withSession { session in
                let custom = try !session.query("SELECT 1 FROM follow_up_policy WHERE site = \(site)").isEmpty
                return PolicyView(site: site, policy: try FollowUpPolicy.read(site: site, on: session), custom: custom)
            }
        }
        return .ok(.init(body: .json(try convertJSON(view))))
    }

    func save(_ input: Operations.SetFollowUpPolicy.Input) async throws -> Operations.SetFollowUpPolicy.Output {
        let site = try Self.site(input.path.site)
        let actor = try OperationRequest.caller()
        // Checked here: the holiday rule, the time zone and each number's range, with a 422 at each pointer.
        let request: FollowUpPolicyRequest
        switch input.body {
        case .json(let body): request = try convertJSON(body, to: FollowUpPolicyRequest.self)
        }
        let policy = try request.validated()
        try await pool.withConnection { connection in
            try await connection.execute(
                """
                INSERT INTO follow_up_policy (site, first_contact_working_days, follow_up_weeks, max_hold_days, escalate_after_working_days,
                    holidays, time_zone, updated_by, updated_at)
                VALUES (\(site), \(policy.firstContactWorkingDays), \(policy.followUpWeeks)::integer[], \(policy.maxHoldDays),
                    \(policy.escalateAfterWorkingDays), \(policy.holidays.rawValue), \(policy.timeZone), \(actor.subject), now())
                ON CONFLICT (site) DO UPDATE SET first_contact_working_days = excluded.first_contact_working_days,
                    follow_up_weeks = excluded.follow_up_weeks, max_hold_days = excluded.max_hold_days,
                    escalate_after_working_days = excluded.escalate_after_working_days, holidays = excluded.holidays,
                    time_zone = excluded.time_zone, updated_by = excluded.updated_by, updated_at = excluded.updated_at
                """)
        }
        return .ok(.init(body: .json(try convertJSON(PolicyView(site: site, policy: policy, custom: true)))))
    }

    /// The site in the path, if the caller works there; any other is an unknown one.
    static func site(_ site: String) throws(ProblemDetails) -> String {
        let actor = try OperationRequest.caller()
        guard Site.isValid(site), actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        return site
    }
}

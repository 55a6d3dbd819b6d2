import Domain
import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime

/// A site's follow-up policy: its link workers and coordinators read it, its coordinators set
/// it. A change applies to steps opened from then on; steps already open keep their times.
struct FollowUpRoutes: ServiceRoutes, Sendable {
    let pool: PostgresConnectionPool

    struct PolicyView: Codable, Sendable, Equatable {
        var site: String
        var policy: FollowUpPolicy
        /// False while the site uses the standard policy.
        var custom: Bool
    }

    func add(to router: Router<PasserelleRequestContext>) {
        router.get("/v1/sites/{site}/follow-up-policy") { _, context in
            let site = try Self.site(context)
            let view = try await pool.withConnection { connection in
                try await connection.withSession { session in
                    let custom = try !session.query("SELECT 1 FROM follow_up_policy WHERE site = \(site)").isEmpty
                    return PolicyView(site: site, policy: try FollowUpPolicy.read(site: site, on: session), custom: custom)
                }
            }
            return try Response.json(view, status: .ok)
        }
        router.put("/v1/sites/{site}/follow-up-policy") { request, context in
            let site = try Self.site(context)
            let actor = try context.caller()
            let policy = try await request.decodeJSON(as: FollowUpPolicyRequest.self, context: context).validated()
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
            return try Response.json(PolicyView(site: site, policy: policy, custom: true), status: .ok)
        }
    }

    /// The site in the path, if the caller works there; any other is an unknown one.
    static func site(_ context: PasserelleRequestContext) throws(ProblemDetails) -> String {
        let actor = try context.caller()
        guard let site = context.parameters.get("site"), Site.isValid(site), actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        return site
    }
}

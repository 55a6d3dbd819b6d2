import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime

/// A site's coordinators as recipients: who is told when a follow-up passes its escalation
/// time. Each site's coordinators keep their own list (another site's is unknown to them, 404);
/// a network coordinator keeps every site's. A registration belongs to its site: the stored
/// recipient id is `<site>/<id>`, so the same person at two sites is registered twice, and
/// nothing done at one site changes where another site's messages go.
struct SiteCoordinatorRoutes: Sendable {
    let pool: PostgresConnectionPool

    struct CoordinatorBody: Codable {
        var displayName: String
        var email: String?
        var phone: String?
        var language: String
        var channel: String
    }

    /// The site named by the path, if the caller may act on it; another site is 404 (as unknown).
    private func site(_ site: String) throws(ProblemDetails) -> String {
        let actor = try OperationRequest.caller()
        guard ConfigurationRules.isSiteCode(site) else {
            throw ProblemDetails.validation([.init(pointer: "/path/site", detail: "a site code: 2 to 64 lowercase letters, digits and dashes")])
        }
        guard actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        return site
    }

    func list(_ input: Operations.ListSiteCoordinators.Input) async throws -> Operations.ListSiteCoordinators.Output {
        let site = try site(input.path.site)
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT id, display_name, email, phone, language, channel FROM recipient WHERE kind = 'coordinator' AND site = \(site) ORDER BY id")
        }
        let coordinators = try rows.map { row in
            Components.Schemas.Coordinator(
                id: String(try row.decode("id", as: String.self).dropFirst(site.count + 1)), site: site, displayName: try row.decode("display_name"),
                email: try row.decode("email", as: String?.self), phone: try row.decode("phone", as: String?.self), language: try row.decode("language"),
                channel: try row.decode("channel"))
        }
        return .ok(.init(body: .json(.init(coordinators: coordinators))))
    }

    func save(_ input: Operations.SaveSiteCoordinator.Input) async throws -> Operations.SaveSiteCoordinator.Output {
        let site = try site(input.path.site)
        let id = try ConfigurationRules.id(input.path.id, at: "/path/id")
        // Checked here: the channel decides which address is required.
        let body: CoordinatorBody
        switch input.body {
        case .json(let submission): body = try convertJSON(submission, to: CoordinatorBody.self)
        }
        // A person, reached in person: e-mail or SMS (webhook targets are partners' systems).
        let errors = ConfigurationRules.contactErrors(
            displayName: body.displayName, language: body.language, email: body.email, phone: body.phone, channel: body.channel, webhookTarget: nil,
            channels: [.email, .sms])
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let stored = "\(site)/\(id)"
        try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO recipient (kind, id, site, display_name, email, phone, language, channel)
                VALUES ('coordinator', \(stored), \(site), \(body.displayName), \(body.email), \(body.phone), \(body.language), \(body.channel))
                ON CONFLICT (kind, id) DO UPDATE SET display_name = EXCLUDED.display_name, email = EXCLUDED.email, phone = EXCLUDED.phone,
                    language = EXCLUDED.language, channel = EXCLUDED.channel
                """)
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        id: id, site: site, displayName: body.displayName, email: body.email, phone: body.phone, language: body.language,
                        channel: body.channel))))
    }

    /// No longer told; messages already planned for them fail for want of an address.
    func remove(_ input: Operations.RemoveSiteCoordinator.Input) async throws -> Operations.RemoveSiteCoordinator.Output {
        let site = try site(input.path.site)
        let id = try ConfigurationRules.id(input.path.id, at: "/path/id")
        let removed = try await pool.withConnection { connection in
            try await connection.query("DELETE FROM recipient WHERE kind = 'coordinator' AND site = \(site) AND id = \("\(site)/\(id)") RETURNING id")
        }
        guard removed.first != nil else { throw ProblemDetails.noSuchResource }
        return .noContent(.init())
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime

/// A site's coordinators as recipients: who is told when a follow-up passes its escalation
/// time. Each site's coordinators keep their own list (another site's is unknown to them, 404);
/// a network coordinator keeps every site's. A registration belongs to its site: the stored
/// recipient id is `<site>/<id>`, so the same person at two sites is registered twice, and
/// nothing done at one site changes where another site's messages go.
struct SiteCoordinatorRoutes: ServiceRoutes, Sendable {
    let pool: PostgresConnectionPool

    func add(to router: Router<PasserelleRequestContext>) {
        router.get("/v1/sites/{site}/coordinators") { request, context in try await list(request, context) }
        router.put("/v1/sites/{site}/coordinators/{id}") { request, context in try await save(request, context) }
        router.delete("/v1/sites/{site}/coordinators/{id}") { request, context in try await remove(request, context) }
    }

    struct CoordinatorBody: Codable {
        var displayName: String
        var email: String?
        var phone: String?
        var language: String
        var channel: String
    }

    struct CoordinatorView: Codable {
        var id: String
        var site: String
        var displayName: String
        var email: String?
        var phone: String?
        var language: String
        var channel: String
    }

    /// The site named by the path, if the caller may act on it; another site is 404 (as unknown).
    private func site(_ context: PasserelleRequestContext) throws(ProblemDetails) -> String {
        let actor = try context.caller()
        let site = context.parameters.get("site") ?? ""
        guard ConfigurationRules.isSiteCode(site) else {
            throw ProblemDetails.validation([.init(pointer: "/path/site", detail: "a site code: 2 to 64 lowercase letters, digits and dashes")])
        }
        guard actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        return site
    }

    private func list(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let site = try site(context)
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT id, display_name, email, phone, language, channel FROM recipient WHERE kind = 'coordinator' AND site = \(site) ORDER BY id")
        }
        let coordinators = try rows.map { row in
            CoordinatorView(
                id: String(try row.decode("id", as: String.self).dropFirst(site.count + 1)), site: site, displayName: try row.decode("display_name"),
                email: try row.decode("email", as: String?.self), phone: try row.decode("phone", as: String?.self), language: try row.decode("language"),
                channel: try row.decode("channel"))
        }
        return try Response.json(["coordinators": coordinators])
    }

    private func save(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let site = try site(context)
        let id = try ConfigurationRules.id(context.parameters.get("id") ?? "", at: "/path/id")
        let body = try await request.decodeJSON(as: CoordinatorBody.self, context: context)
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
        return try Response.json(
            CoordinatorView(
                id: id, site: site, displayName: body.displayName, email: body.email, phone: body.phone, language: body.language, channel: body.channel))
    }

    /// No longer told; messages already planned for them fail for want of an address.
    private func remove(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let site = try site(context)
        let id = try ConfigurationRules.id(context.parameters.get("id") ?? "", at: "/path/id")
        let removed = try await pool.withConnection { connection in
            try await connection.query("DELETE FROM recipient WHERE kind = 'coordinator' AND site = \(site) AND id = \("\(site)/\(id)") RETURNING id")
        }
        guard removed.first != nil else { throw ProblemDetails.noSuchResource }
        return Response(status: .noContent)
    }
}

import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Messaging
import PostgresClient
import ServiceRuntime
import WireFormats

/// Connecting a client to a resource: `POST /v1/referrals/{id}/connections` reserves a seat,
/// `PATCH /v1/connections/{id}` moves the connection on and frees the seat when it ends,
/// `GET /v1/referrals/{id}/connections` lists them for the referral's casework.
struct ConnectionRoutes: ServiceRoutes, Sendable {
    let pool: PostgresConnectionPool
    let outbox: Outbox

    struct ConnectionView: Encodable, Sendable {
        var id: UUID
        var referralId: UUID
        var resourceId: UUID
        var status: String
        var reason: String?
    }

    func add(to router: Router<PasserelleRequestContext>) {
        router.get("/v1/referrals/{id}/connections") { request, context in try await list(request, context) }
        router.post("/v1/referrals/{id}/connections") { request, context in try await propose(request, context) }
        router.patch("/v1/connections/{id}") { request, context in try await change(request, context) }
    }

    /// A referral's connections, oldest first, each with what its status may become next; the
    /// same site rule as its matches (another site's referral is no referral).
    private func list(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let referral = try context.pathID()
        struct Listed: Encodable {
            var id: UUID
            var resourceId: UUID
            var resourceName: String
            var status: String
            var reason: String?
            var allowedNext: [String]
            var proposedAt: Date
            var updatedAt: Date
        }
        struct Body: Encodable {
            var referralId: UUID
            var connections: [Listed]
        }
        let body = try await pool.withConnection { connection -> Body? in
            guard
                let site = try await connection.query("SELECT site FROM referral_intake WHERE referral_id = \(referral)::uuid").first?.decode(
                    "site", as: String.self),
                actor.mayWork(at: site)
            else { return nil }
            let listed = try await connection.query(
                """
                SELECT c.id, c.resource_id, r.name, c.status, c.reason, c.created_at, c.updated_at FROM connection c
                JOIN community_resource r ON r.id = c.resource_id WHERE c.referral_id = \(referral)::uuid ORDER BY c.created_at, c.id
                """
            ).map { row -> Listed in
                let status: String = try row.decode("status")
                return Listed(
                    id: try row.decode("id"), resourceId: try row.decode("resource_id"), resourceName: try row.decode("name"), status: status,
                    reason: try row.decode("reason", as: String?.self),
                    allowedNext: (ConnectionStatus(rawValue: status)?.allowedNext ?? []).map(\.rawValue),
                    proposedAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
            }
            return Body(referralId: referral, connections: listed)
        }
        guard let body else { throw ProblemDetails.noSuchResource }
        return try Response.json(body)
    }

    private func propose(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let referral = try context.pathID()
        struct Body: Codable { var resourceId: UUID }
        let resource = try await request.decodeJSON(as: Body.self, context: context).resourceId
        let outbox = outbox
        let view = try await pool.sessionTransaction { session -> ConnectionView in
            guard let intake = try session.query("SELECT site, referral_version FROM referral_intake WHERE referral_id = \(referral)::uuid").first,
                try actor.mayWork(at: intake.decode("site", as: String.self))
            else { throw ProblemDetails.noSuchResource }
            // One conditional UPDATE: the row lock serialises concurrent requests, so seats
            // taken never exceed seats, across replicas (the CHECK constraint backs it up).
            guard
                let seat = try session.query(
                    """
                    UPDATE community_resource SET seats_taken = seats_taken + 1
                    WHERE id = \(resource)::uuid AND active AND (seats IS NULL OR seats_taken < seats)
                    RETURNING kind, categories, name, address, schedule
                    """
                ).first
            else {
                let exists = try !session.query("SELECT 1 FROM community_resource WHERE id = \(resource)::uuid AND active").isEmpty
                throw exists
                    ? ProblemDetails(status: .conflict, title: "No seat left", detail: "the resource is full")
                    : ProblemDetails(status: .notFound, title: "Not found", detail: "no active resource with that id")
            }
            let id = UUID.random()
            try session.query(
                "INSERT INTO connection (id, referral_id, resource_id, status) VALUES (\(id)::uuid, \(referral)::uuid, \(resource)::uuid, 'proposed')")
            try outbox.append(
                ConnectionProposedV1(
                    connectionID: id, referralID: referral, referralVersion: try intake.decode("referral_version"), resourceID: resource,
                    resourceKind: try seat.decode("kind"), categories: try seat.decode("categories"), resourceName: try seat.decode("name"),
                    address: try seat.decode("address", as: String?.self), schedule: try seat.decode("schedule", as: String?.self), proposedAt: Date()),
                on: session)
            return ConnectionView(id: id, referralId: referral, resourceId: resource, status: ConnectionStatus.proposed.rawValue, reason: nil)
        }
        return try Response.json(view, status: .created, headers: [.location: "/v1/connections/\(view.id.uuidString.lowercased())"])
    }

    private func change(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        struct Body: Codable {
            var status: String
            var reason: String?
        }
        let body = try await request.decodeJSON(as: Body.self, context: context)
        guard let next = ConnectionStatus(rawValue: body.status), next != .proposed else {
            throw ProblemDetails.validation([.init(pointer: "/status", detail: "must be one of accepted, enrolled, attended, dropped, declined")])
        }
        if (next == .dropped || next == .declined) && (body.reason ?? "").isEmpty {
            throw ProblemDetails.validation([.init(pointer: "/reason", detail: "is required when a connection ends")])
        }
        let outbox = outbox
        let view = try await pool.sessionTransaction { session -> ConnectionView in
            guard
                let row = try session.query(
                    """
                    SELECT c.referral_id, c.resource_id, c.status, i.site, i.referral_version, r.name AS resource_name, r.kind AS resource_kind,
                           r.categories AS resource_categories FROM connection c
                    JOIN referral_intake i ON i.referral_id = c.referral_id JOIN community_resource r ON r.id = c.resource_id
                    WHERE c.id = \(id)::uuid FOR UPDATE OF c
                    """
                ).first,
                try actor.mayWork(at: row.decode("site", as: String.self))
            else { throw ProblemDetails.noSuchResource }
            let current = ConnectionStatus(rawValue: try row.decode("status")) ?? .dropped
            guard current.allowedNext.contains(next) else {
                throw ProblemDetails(
                    status: .conflict, title: "Change not allowed", detail: "a \(current.rawValue) connection cannot become \(next.rawValue)",
                    extensions: ["allowedActions": current.allowedNext.map(\.rawValue)])
            }
            let resource: UUID = try row.decode("resource_id")
            let referral: UUID = try row.decode("referral_id")
            try session.query("UPDATE connection SET status = \(next.rawValue), reason = \(body.reason), updated_at = now() WHERE id = \(id)::uuid")
            if current.isOpen && !next.isOpen {
                try session.query("UPDATE community_resource SET seats_taken = greatest(seats_taken - 1, 0) WHERE id = \(resource)::uuid")
            }
            try outbox.append(
                ConnectionChangedV1(
                    connectionID: id, referralID: referral, referralVersion: try row.decode("referral_version"), resourceID: resource,
                    from: current.rawValue, to: next.rawValue, reason: body.reason, resourceName: try row.decode("resource_name"),
                    resourceKind: try row.decode("resource_kind"), categories: try row.decode("resource_categories"), changedAt: Date()), on: session)
            return ConnectionView(id: id, referralId: referral, resourceId: resource, status: next.rawValue, reason: body.reason)
        }
        return try Response.json(view, status: .ok)
    }
}

import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Messaging
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime
import WireFormats

/// Connecting a client to a resource: `POST /v1/referrals/{id}/connections` reserves a seat,
/// `PATCH /v1/connections/{id}` moves the connection on and frees the seat when it ends,
/// `GET /v1/referrals/{id}/connections` lists them for the referral's casework.
struct ConnectionRoutes: Sendable {
    let pool: PostgresConnectionPool
    let outbox: Outbox

    typealias ConnectionView = Components.Schemas.Connection

    /// A referral's connections, oldest first, each with what its status may become next; the
    /// same site rule as its matches (another site's referral is no referral).
    func list(_ input: Operations.ListConnections.Input) async throws -> Operations.ListConnections.Output {
        let actor = try OperationRequest.caller()
        let referral = try OperationRequest.id(input.path.id)
        typealias Listed = Components.Schemas.ListedConnection
        typealias Body = Components.Schemas.ConnectionList
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
                    id: try row.decode("id", as: UUID.self).uuidString, resourceId: try row.decode("resource_id", as: UUID.self).uuidString,
                    resourceName: try row.decode("name"), status: status,
                    reason: try row.decode("reason", as: String?.self),
                    allowedNext: (ConnectionStatus(rawValue: status)?.allowedNext ?? []).map(\.rawValue),
                    proposedAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
            }
            return Body(referralId: referral.uuidString, connections: listed)
        }
        guard let body else { throw ProblemDetails.noSuchResource }
        return .ok(.init(body: .json(body)))
    }

    func propose(_ input: Operations.ProposeConnection.Input) async throws -> Operations.ProposeConnection.Output {
        let actor = try OperationRequest.caller()
        let referral = try OperationRequest.id(input.path.id)
        let resource: UUID
        switch input.body {
        case .json(let proposal):
            guard let id = UUID(uuidString: proposal.resourceId) else {
                throw ProblemDetails.validation([.init(pointer: "/resourceId", detail: "must be a resource id (a UUID)")])
            }
            resource = id
        }
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
            return ConnectionView(
                id: id.uuidString, referralId: referral.uuidString, resourceId: resource.uuidString, status: ConnectionStatus.proposed.rawValue, reason: nil)
        }
        return .created(.init(headers: .init(location: "/v1/connections/\(view.id.lowercased())"), body: .json(view)))
    }

    func change(_ input: Operations.ChangeConnection.Input) async throws -> Operations.ChangeConnection.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let body: Components.Schemas.ConnectionChange
        switch input.body {
        case .json(let change): body = try OperationRequest.storable(change)
        }
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
            return ConnectionView(
                id: id.uuidString, referralId: referral.uuidString, resourceId: resource.uuidString, status: next.rawValue, reason: body.reason)
        }
        return .ok(.init(body: .json(view)))
    }
}

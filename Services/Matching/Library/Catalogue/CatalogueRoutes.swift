import Domain
import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime
import WireFormats

/// The catalogue API: coordinators keep resources and link workers up to date; link workers
/// search and read matches.
struct CatalogueRoutes: ServiceRoutes, Sendable {
    let store: CatalogueStore

    func add(to router: Router<PasserelleRequestContext>) {
        router.post("/v1/resources") { request, context in try await create(request, context) }
        router.put("/v1/resources/{id}") { request, context in try await replace(request, context) }
        router.post("/v1/resources/{id}/deactivate") { request, context in try await deactivate(request, context) }
        router.get("/v1/resources") { request, context in try await search(request, context) }
        router.get("/v1/resources/{id}") { request, context in try await read(request, context) }
        router.put("/v1/link-workers/{id}") { request, context in try await saveLinkWorker(request, context) }
        router.get("/v1/referrals/{id}/matches") { request, context in try await matches(request, context) }
    }

    private func id(_ context: PasserelleRequestContext) throws(ProblemDetails) -> UUID {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw ProblemDetails(status: .notFound, title: "Not found", detail: "no such id")
        }
        return id
    }

    /// Decodes a resource, taking the id from the path (or a new one), and checks the domain rules.
    private func resource(_ request: Request, _ context: PasserelleRequestContext, id: UUID) async throws -> CommunityResource {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        guard var object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] else {
            throw ProblemDetails(status: .badRequest, title: "Malformed JSON", detail: "expected a JSON object")
        }
        object["id"] = id.uuidString
        let data = try JSONSerialization.data(withJSONObject: object)
        let resource: CommunityResource
        do {
            resource = try JSONDecoder().decode(CommunityResource.self, from: data).validated()
        } catch let error as DomainError {
            throw ProblemDetails.validation([.init(pointer: "", detail: error.description)])
        }
        // Only a directory import leaves a resource uncategorised (and flags it for review).
        guard !resource.categories.isEmpty else {
            throw ProblemDetails.validation([.init(pointer: "/categories", detail: "must list at least one need category")])
        }
        return resource
    }

    private func create(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.coordinator, .service)
        let resource = try await resource(request, context, id: UUID.random())
        try await store.pool.withConnection { try await store.save(resource, on: $0) }
        return try Response.json(resource, status: .created)
    }

    private func replace(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.coordinator, .service)
        let resource = try await resource(request, context, id: try id(context))
        try await store.pool.transaction { connection in
            try await store.save(resource, on: connection)
            // A coordinator's edit settles what an import left to review (it has a category and
            // a named organisation now); the next import of a directory still lacking them flags it again.
            try await connection.query("""
                UPDATE catalogue_source SET review = '{}', placeholder_organisation = false WHERE resource_id = \(resource.id)::uuid
                """)
        }
        return try Response.json(resource)
    }

    private func deactivate(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.coordinator, .service)
        let id = try id(context)
        let updated = try await store.pool.withConnection {
            try await $0.query("UPDATE community_resource SET active = false, updated_at = now() WHERE id = \(id)::uuid").affectedRows
        }
        guard updated == 1 else { throw ProblemDetails(status: .notFound, title: "Not found", detail: "no resource with that id") }
        return Response(status: .noContent)
    }

    private func read(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.linkWorker, .coordinator, .service)
        let id = try id(context)
        guard let resource = try await store.pool.withConnection({ try await store.resource(id: id, on: $0) }) else {
            throw ProblemDetails(status: .notFound, title: "Not found", detail: "no resource with that id")
        }
        return try Response.json(resource)
    }

    private func search(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.linkWorker, .coordinator, .service)
        let query = request.uri.queryParameters
        var errors: [ProblemDetails.FieldError] = []
        let category = query.get("category")
        if let category, (try? NeedCategory(code: category)) == nil { errors.append(.init(pointer: "?category", detail: "is not a need category")) }
        var near: Coordinates?
        if let text = query.get("near") {
            let parts = text.split(separator: ",").compactMap { Double($0) }
            if parts.count == 2, let point = try? Coordinates(latitude: parts[0], longitude: parts[1]) { near = point } else {
                errors.append(.init(pointer: "?near", detail: "must be latitude,longitude"))
            }
        }
        let radius = query.get("radius_km").flatMap(Double.init)
        if query.get("radius_km") != nil && (radius == nil || radius! <= 0) { errors.append(.init(pointer: "?radius_km", detail: "must be a positive number")) }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let (point, language) = (near, query.get("language"))
        let found = try await store.pool.withConnection {
            try await store.resources(category: category, language: language, near: point, radiusKilometres: point == nil ? nil : (radius ?? 10), on: $0)
        }
        return try Response.json(found)
    }

    private func saveLinkWorker(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.coordinator, .service)
        struct Body: Decodable { var name: String; var site: String; var languages: [String]; var caseloadCapacity: Int }
        let body = try await request.decodeJSON(as: Body.self, context: context)
        let worker: LinkWorker
        do {
            worker = try LinkWorker(id: try id(context), name: body.name, site: body.site, languages: body.languages, caseloadCapacity: body.caseloadCapacity)
        } catch let error as DomainError {
            throw ProblemDetails.validation([.init(pointer: "", detail: error.description)])
        }
        try await store.pool.withConnection { try await store.save(worker, on: $0) }
        return try Response.json(worker)
    }

    private func matches(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.require(.linkWorker, .coordinator, .service)
        let id = try id(context)
        struct Listed: Encodable { var rank: Int; var resourceId: UUID; var score: Double; var reasons: [String] }
        struct Body: Encodable { var referralId: UUID; var linkWorkerId: UUID?; var matches: [Listed] }
        let body = try await store.pool.withConnection { connection -> Body? in
            guard let site = try await connection.query("SELECT site FROM referral_intake WHERE referral_id = \(id)::uuid").first?.decode("site", as: String.self),
                actor.hasAny(.coordinator, .service) || actor.site == site
            else { return nil }
            let worker = try await connection.query("SELECT link_worker_id FROM assignment WHERE referral_id = \(id)::uuid").first?.decode("link_worker_id", as: UUID.self)
            let listed = try await connection.query("SELECT rank, resource_id, score, reasons FROM referral_match WHERE referral_id = \(id)::uuid ORDER BY rank").map {
                Listed(rank: try $0.decode("rank"), resourceId: try $0.decode("resource_id"), score: try $0.decode("score"), reasons: try $0.decode("reasons"))
            }
            return Body(referralId: id, linkWorkerId: worker, matches: listed)
        }
        guard let body else { throw ProblemDetails(status: .notFound, title: "Not found", detail: "no referral with that id") }
        return try Response.json(body)
    }
}

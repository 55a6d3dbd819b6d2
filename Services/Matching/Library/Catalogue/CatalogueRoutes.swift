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

    /// Decodes a resource, taking the id from the path (or a new one), and checks the domain rules.
    /// Seats taken are the service's count, not the caller's: whatever a body says is ignored.
    private func resource(_ request: Request, _ context: PasserelleRequestContext, id: UUID) async throws -> CommunityResource {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let data = StorableText.markingUnpairedSurrogates(Data(buffer.readableBytesView))
        guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ProblemDetails(status: .badRequest, title: "Malformed JSON", detail: "expected a JSON object")
        }
        object["id"] = id.uuidString
        if var capacity = object["capacity"] as? [String: Any] {
            capacity["seatsTaken"] = 0
            object["capacity"] = capacity
        }
        // A number JSON can write but not read back (1e400) is no resource either.
        guard let rewritten = try? JSONSerialization.data(withJSONObject: object) else {
            throw ProblemDetails(status: .badRequest, title: "Malformed JSON", detail: "a number is out of range")
        }
        let resource = try StorableText.decode(CommunityResource.self, from: rewritten)
        var errors = ResourceRules.problems(resource)
        do {
            _ = try resource.validated()
        } catch {
            errors.append(.init(pointer: "", detail: error.description))
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        return resource
    }

    private func create(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.caller()
        let resource = try await resource(request, context, id: UUID.random())
        try await store.pool.withConnection { try await store.save(resource, on: $0) }
        return try Response.json(resource, status: .created, headers: [.location: "/v1/resources/\(resource.id.uuidString.lowercased())"])
    }

    /// Creates the resource under that id if there is none (201), replaces it otherwise (200).
    private func replace(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.caller()
        let resource = try await resource(request, context, id: try context.pathID())
        let (created, stored) = try await store.pool.sessionTransaction { session -> (Bool, CommunityResource?) in
            let created: Bool
            do {
                created = try CatalogueStore.save(resource, on: session)
            } catch let error as PostgresError where error.kind == .checkViolation {
                // Fewer seats than connections now hold.
                throw ProblemDetails(status: .conflict, title: "Seats in use", detail: "the resource has more seats taken than the seats given")
            }
            // A coordinator's edit settles what an import left to review (it has a category and
            // a named organisation now); the next import of a directory still lacking them flags it again.
            try session.query(
                """
                UPDATE catalogue_source SET review = '{}', placeholder_organisation = false WHERE resource_id = \(resource.id)::uuid
                """)
            return (
                created,
                try session.query(
                    PostgresQuery(
                        unsafeSQL: "SELECT \(CatalogueStore.resourceColumns) FROM community_resource WHERE id = $1::uuid",
                        parameters: [resource.id.postgresText])
                ).first.map(CatalogueStore.resource)
            )
        }
        return try Response.json(stored ?? resource, status: created ? .created : .ok)
    }

    private func deactivate(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.caller()
        let id = try context.pathID()
        let updated = try await store.pool.withConnection {
            try await $0.query("UPDATE community_resource SET active = false, updated_at = now() WHERE id = \(id)::uuid").affectedRows
        }
        guard updated == 1 else { throw ProblemDetails.noSuchResource }
        return Response(status: .noContent)
    }

    private func read(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.caller()
        let id = try context.pathID()
        guard let resource = try await store.pool.withConnection({ try await store.resource(id: id, on: $0) }) else {
            throw ProblemDetails.noSuchResource
        }
        return try Response.json(resource)
    }

    private func search(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.caller()
        let query = request.uri.queryParameters
        var errors: [ProblemDetails.FieldError] = []
        let category = query.get("category")
        if let category, (try? NeedCategory(code: category)) == nil { errors.append(.init(pointer: "?category", detail: "is not a need category")) }
        let language = query.get("language")
        if let language, !Language.isValid(language) {
            errors.append(.init(pointer: "?language", detail: "must be a language code (2 or 3 lowercase letters)"))
        }
        var near: Coordinates?
        if let text = query.get("near") {
            if let point = ResourceRules.coordinates(text) {
                near = point
            } else {
                errors.append(.init(pointer: "?near", detail: "must be latitude,longitude in decimal degrees"))
            }
        }
        let radius = query.get("radius_km").flatMap(Double.init)
        if query.get("radius_km") != nil && !(radius.map { $0.isFinite && $0 > 0 } ?? false) {
            errors.append(.init(pointer: "?radius_km", detail: "must be a positive number"))
        }
        let accessibility = query.get("accessibility")
        // Free text goes to PostgreSQL as a parameter: no control characters (NUL cannot be stored).
        if let accessibility,
            accessibility.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || accessibility.unicodeScalars.count > 100
                || accessibility.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        {
            errors.append(.init(pointer: "?accessibility", detail: "must be an accessibility feature of 1 to 100 characters, none of them control characters"))
        }
        let openOn = query.get("open_on").flatMap { Int($0) }
        if query.get("open_on") != nil && !(openOn.map { (1...7).contains($0) } ?? false) {
            errors.append(.init(pointer: "?open_on", detail: "must be a day of the week from 1 (Monday) to 7 (Sunday)"))
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let point = near
        let found = try await store.pool.withConnection {
            try await store.resources(
                category: category, language: language, accessibility: accessibility, openOn: openOn, near: point,
                radiusKilometres: point == nil ? nil : (radius ?? 10), on: $0)
        }
        return try Response.json(found)
    }

    private func saveLinkWorker(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        struct Body: Codable {
            var name: String
            var site: String
            var languages: [String]
            var caseloadCapacity: Int
        }
        let body = try await request.decodeJSON(as: Body.self, context: context)
        var errors: [ProblemDetails.FieldError] = []
        if body.name.isEmpty { errors.append(.init(pointer: "/name", detail: "must not be empty")) }
        if !ResourceRules.isSiteCode(body.site) {
            errors.append(.init(pointer: "/site", detail: "must be a site code: 2 to 64 lowercase letters, digits and dashes"))
        }
        if body.languages.isEmpty || !body.languages.allSatisfy(Language.isValid) {
            errors.append(.init(pointer: "/languages", detail: "at least one language code (2 or 3 lowercase letters)"))
        }
        if !(1...ResourceRules.largestCount).contains(body.caseloadCapacity) {
            errors.append(.init(pointer: "/caseloadCapacity", detail: "must be a whole number from 1 to \(ResourceRules.largestCount)"))
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let worker: LinkWorker
        do {
            worker = try LinkWorker(id: id, name: body.name, site: body.site, languages: body.languages, caseloadCapacity: body.caseloadCapacity)
        } catch {
            throw ProblemDetails.validation([.init(pointer: "", detail: error.description)])
        }
        // Workers are saved at the caller's own sites only; another site's worker (moved here or
        // not) answers as an unknown one.
        guard actor.mayWork(at: body.site) else {
            throw ProblemDetails(status: .forbidden, title: "Forbidden", detail: "the token does not name the site \(body.site)")
        }
        // The caseload is the service's count: the answer shows the stored one, not zero.
        let caseload = try await store.pool.transaction { connection -> Int in
            if let current = try await connection.query("SELECT site FROM link_worker WHERE id = \(id)::uuid FOR UPDATE").first?.decode(
                "site", as: String.self),
                !actor.mayWork(at: current)
            {
                throw ProblemDetails.noSuchResource
            }
            try await store.save(worker, on: connection)
            return try await connection.query("SELECT current_caseload FROM link_worker WHERE id = \(id)::uuid").first?.decode("current_caseload", as: Int.self)
                ?? 0
        }
        return try Response.json(
            try LinkWorker(
                id: id, name: worker.name, site: worker.site, languages: worker.languages, caseloadCapacity: worker.caseloadCapacity, currentCaseload: caseload)
        )
    }

    private func matches(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        struct Listed: Encodable {
            var rank: Int
            var resourceId: UUID
            var score: Double
            var reasons: [String]
        }
        struct Body: Encodable {
            var referralId: UUID
            var linkWorkerId: UUID?
            var matches: [Listed]
        }
        let body = try await store.pool.withConnection { connection -> Body? in
            guard
                let site = try await connection.query("SELECT site FROM referral_intake WHERE referral_id = \(id)::uuid").first?.decode(
                    "site", as: String.self),
                actor.mayWork(at: site)
            else { return nil }
            let worker = try await connection.query("SELECT link_worker_id FROM assignment WHERE referral_id = \(id)::uuid").first?.decode(
                "link_worker_id", as: UUID.self)
            let listed = try await connection.query(
                "SELECT rank, resource_id, score, reasons FROM referral_match WHERE referral_id = \(id)::uuid ORDER BY rank"
            ).map {
                Listed(rank: try $0.decode("rank"), resourceId: try $0.decode("resource_id"), score: try $0.decode("score"), reasons: try $0.decode("reasons"))
            }
            return Body(referralId: id, linkWorkerId: worker, matches: listed)
        }
        guard let body else { throw ProblemDetails.noSuchResource }
        return try Response.json(body)
    }
}

import Domain
import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime
import WireFormats

/// The catalogue API: coordinators keep resources and link workers up to date; link workers
/// search and read matches.
struct CatalogueRoutes: Sendable {
    let store: CatalogueStore

    /// Decodes a resource, taking the id from the path (or a new one), and checks the domain rules.
    /// Seats taken are the service's count, not the caller's: whatever a body says is ignored.
    private func resource(_ submission: Components.Schemas.ResourceSubmission, id: UUID) throws -> CommunityResource {
        // Opening hours are a list, or left out when unknown; the generated type reads an explicit
        // null as left out, so the body as sent says which it was.
        if let sent = OperationRequest.current?.body, let members = try? JSONSerialization.jsonObject(with: sent) as? [String: Any],
            members["openingHours"] is NSNull
        {
            throw ProblemDetails.validation([.init(pointer: "/openingHours", detail: "must be a list of opening hours, or left out when they are unknown")])
        }
        let data = Data(try JSONCoding.api.encode(submission))
        guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ProblemDetails(status: .badRequest, title: "Malformed JSON", detail: "expected a JSON object")
        }
        object["id"] = id.uuidString
        // Opening hours left out are unknown: none.
        if object["openingHours"] == nil { object["openingHours"] = [Any]() }
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

    func create(_ input: Operations.CreateResource.Input) async throws -> Operations.CreateResource.Output {
        _ = try OperationRequest.caller()
        let resource: CommunityResource
        switch input.body {
        case .json(let submission): resource = try self.resource(submission, id: UUID.random())
        }
        try await store.pool.withConnection { try await store.save(resource, on: $0) }
        return .created(.init(headers: .init(location: "/v1/resources/\(resource.id.uuidString.lowercased())"), body: .json(try convertJSON(resource))))
    }

    /// Creates the resource under that id if there is none (201), replaces it otherwise (200).
    func replace(_ input: Operations.ReplaceResource.Input) async throws -> Operations.ReplaceResource.Output {
        _ = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let resource: CommunityResource
        switch input.body {
        case .json(let submission): resource = try self.resource(submission, id: id)
        }
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
        let answer: Components.Schemas.Resource = try convertJSON(stored ?? resource)
        return created ? .created(.init(body: .json(answer))) : .ok(.init(body: .json(answer)))
    }

    func deactivate(_ input: Operations.DeactivateResource.Input) async throws -> Operations.DeactivateResource.Output {
        _ = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let updated = try await store.pool.withConnection {
            try await $0.query("UPDATE community_resource SET active = false, updated_at = now() WHERE id = \(id)::uuid").affectedRows
        }
        guard updated == 1 else { throw ProblemDetails.noSuchResource }
        return .noContent(.init())
    }

    func read(_ input: Operations.GetResource.Input) async throws -> Operations.GetResource.Output {
        _ = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        guard let resource = try await store.pool.withConnection({ try await store.resource(id: id, on: $0) }) else {
            throw ProblemDetails.noSuchResource
        }
        return .ok(.init(body: .json(try convertJSON(resource))))
    }

    func search(_ input: Operations.SearchResources.Input) async throws -> Operations.SearchResources.Output {
        _ = try OperationRequest.caller()
        let query = input.query
        var errors: [ProblemDetails.FieldError] = []
        let category = query.category
        if let category, (try? NeedCategory(code: category)) == nil { errors.append(.init(pointer: "?category", detail: "is not a need category")) }
        let language = query.language
        if let language, !Language.isValid(language) {
            errors.append(.init(pointer: "?language", detail: "must be a language code (2 or 3 lowercase letters)"))
        }
        var near: Coordinates?
        if let text = query.near {
            if let point = ResourceRules.coordinates(text) {
                near = point
            } else {
                errors.append(.init(pointer: "?near", detail: "must be latitude,longitude in decimal degrees"))
            }
        }
        let radius = query.radiusKm
        if radius != nil && !(radius.map { $0.isFinite && $0 > 0 } ?? false) {
            errors.append(.init(pointer: "?radius_km", detail: "must be a positive number"))
        }
        let accessibility = query.accessibility
        // Free text goes to PostgreSQL as a parameter: no control characters (NUL cannot be stored).
        if let accessibility,
            accessibility.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || accessibility.unicodeScalars.count > 100
                || accessibility.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        {
            errors.append(.init(pointer: "?accessibility", detail: "must be an accessibility feature of 1 to 100 characters, none of them control characters"))
        }
        let openOn = query.openOn
        if openOn != nil && !(openOn.map { (1...7).contains($0) } ?? false) {
            errors.append(.init(pointer: "?open_on", detail: "must be a day of the week from 1 (Monday) to 7 (Sunday)"))
        }
        var openAt: CatalogueStore.Moment?
        if let text = query.openAt {
            if let moment = Self.moment(text) {
                openAt = moment
            } else {
                errors.append(
                    .init(
                        pointer: "?open_at",
                        detail: "must be a day of the week from 1 (Monday) to 7 (Sunday), T, and a 24-hour time from 00:00 to 23:59, e.g. 2T09:30"))
            }
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let point = near
        let moment = openAt
        let found = try await store.pool.withConnection {
            try await store.resources(
                category: category, language: language, accessibility: accessibility, openOn: openOn, openAt: moment, near: point,
                radiusKilometres: point == nil ? nil : (radius ?? 10), on: $0)
        }
        return .ok(.init(body: .json(try convertJSON(found))))
    }

    /// "2T09:30": Tuesday at 9:30. Exactly that form (one digit, T, HH:MM), as the contract's pattern.
    static func moment(_ text: String) -> CatalogueStore.Moment? {
        let parts = text.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 1, let day = Int(parts[0]), (1...7).contains(day),
            CommunityResource.OpeningHours.isClock(String(parts[1]))
        else { return nil }
        return .init(weekday: day, time: String(parts[1]))
    }

    func saveLinkWorker(_ input: Operations.SaveLinkWorker.Input) async throws -> Operations.SaveLinkWorker.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        let body: Components.Schemas.LinkWorkerSubmission
        switch input.body {
        case .json(let submission): body = try OperationRequest.storable(submission)
        }
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
        return .ok(
            .init(
                body: .json(
                    .init(
                        id: id.uuidString, name: worker.name, site: worker.site, languages: worker.languages, caseloadCapacity: worker.caseloadCapacity,
                        currentCaseload: caseload))))
    }

    func matches(_ input: Operations.GetMatches.Input) async throws -> Operations.GetMatches.Output {
        let actor = try OperationRequest.caller()
        let id = try OperationRequest.id(input.path.id)
        typealias Listed = Components.Schemas.RankedMatch
        typealias Body = Components.Schemas.MatchList
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
                Listed(
                    rank: try $0.decode("rank"), resourceId: try $0.decode("resource_id", as: UUID.self).uuidString, score: try $0.decode("score"),
                    reasons: try $0.decode("reasons"))
            }
            return Body(referralId: id.uuidString, linkWorkerId: worker?.uuidString, matches: listed)
        }
        guard let body else { throw ProblemDetails.noSuchResource }
        return .ok(.init(body: .json(body)))
    }
}

import Domain
import Foundation
import PostgresClient

/// Community resources and link workers in the `matching` schema.
package struct CatalogueStore: Sendable {
    let pool: PostgresConnectionPool

    static let resourceColumns = """
        id, organisation, name, kind, categories, description, languages, interpretation_available, delivery, address,
        latitude, longitude, schedule, weekdays, minimum_age, maximum_age, areas, eligibility_notes, cost, accessibility,
        seats, seats_taken, waitlist_allowed, tags, contact, active, last_verified, opening_hours
        """

    func save(_ resource: CommunityResource, on connection: PostgresConnection) async throws {
        try await connection.query(try Self.upsert([resource]))
    }

    /// The same in a session; true when the resource is new.
    @discardableResult
    package static func save(_ resource: CommunityResource, on session: borrowing PostgresSession) throws -> Bool {
        try session.query(try Self.upsert([resource])).first?.decode("created", as: Bool.self) ?? false
    }

    /// Inserts or updates resources (never their seats taken), one statement whatever their
    /// number; returns one `created` row per resource.
    static func upsert(_ resources: [CommunityResource]) throws -> PostgresQuery {
        PostgresQuery(unsafeSQL: batchUpsertSQL, parameters: [try rowsJSON(resources.map(Row.init))])
    }

    /// Rows as the JSON array `batchUpsertSQL` reads (snake-case keys).
    static func rowsJSON(_ rows: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(rows), as: UTF8.self)
    }

    /// Inserts or updates the resources given as a JSON array of `Row` objects; returns one
    /// `created` row per resource.
    static let batchUpsertSQL = """
        INSERT INTO community_resource (id, organisation, name, kind, categories, description, languages, interpretation_available,
            delivery, address, latitude, longitude, schedule, weekdays, minimum_age, maximum_age, areas, eligibility_notes, cost,
            accessibility, seats, seats_taken, waitlist_allowed, tags, contact, active, last_verified, opening_hours, updated_at)
        SELECT x.id, x.organisation, x.name, x.kind, x.categories, x.description, x.languages, x.interpretation_available, x.delivery,
            x.address, x.latitude, x.longitude, x.schedule, x.weekdays, x.minimum_age, x.maximum_age, x.areas, x.eligibility_notes, x.cost,
            x.accessibility, x.seats, x.seats_taken, x.waitlist_allowed, x.tags, x.contact, x.active, x.last_verified,
            coalesce(x.opening_hours, '[]'), now()
        FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, organisation text, name text, kind text, categories text[], description text,
            languages text[], interpretation_available boolean, delivery text[], address text, latitude double precision,
            longitude double precision, schedule text, weekdays integer[], minimum_age integer, maximum_age integer, areas text[],
            eligibility_notes text, cost text, accessibility text[], seats integer, seats_taken integer, waitlist_allowed boolean,
            tags text[], contact text, active boolean, last_verified date, opening_hours jsonb)
        ON CONFLICT (id) DO UPDATE SET organisation = EXCLUDED.organisation, name = EXCLUDED.name, kind = EXCLUDED.kind,
            categories = EXCLUDED.categories, description = EXCLUDED.description, languages = EXCLUDED.languages,
            interpretation_available = EXCLUDED.interpretation_available, delivery = EXCLUDED.delivery, address = EXCLUDED.address,
            latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, schedule = EXCLUDED.schedule, weekdays = EXCLUDED.weekdays,
            minimum_age = EXCLUDED.minimum_age, maximum_age = EXCLUDED.maximum_age, areas = EXCLUDED.areas,
            eligibility_notes = EXCLUDED.eligibility_notes, cost = EXCLUDED.cost, accessibility = EXCLUDED.accessibility,
            seats = EXCLUDED.seats, waitlist_allowed = EXCLUDED.waitlist_allowed, tags = EXCLUDED.tags,
            contact = EXCLUDED.contact, active = EXCLUDED.active, last_verified = EXCLUDED.last_verified,
            opening_hours = EXCLUDED.opening_hours, updated_at = now()
        RETURNING (xmax = 0) AS created
        """

    /// A resource as the JSON object `batchUpsertSQL` reads (keys in snake case; nil left out,
    /// which the record reads as NULL). Encoded by JSONEncoder: much faster than JSONSerialization.
    struct Row: Encodable {
        var id: UUID, organisation: String, name: String, kind: String, categories: [String], description: String
        var languages: [String], interpretationAvailable: Bool, delivery: [String], address: String?
        var latitude: Double?, longitude: Double?, schedule: String?, weekdays: [Int], minimumAge: Int?, maximumAge: Int?
        var areas: [String], eligibilityNotes: String?, cost: String?, accessibility: [String], seats: Int?, seatsTaken: Int
        var waitlistAllowed: Bool, tags: [String], contact: String?, active: Bool, lastVerified: String?
        var openingHours: [CommunityResource.OpeningHours]

        init(_ r: CommunityResource) {
            (id, organisation, name, kind, categories, description) = (r.id, r.organisation, r.name, r.kind.rawValue, r.categories.map(\.code), r.description)
            (languages, interpretationAvailable, delivery, address) = (r.languages, r.interpretationAvailable, r.delivery.map(\.rawValue), r.address)
            (latitude, longitude, schedule, weekdays) = (r.coordinates?.latitude, r.coordinates?.longitude, r.schedule, r.weekdays)
            (minimumAge, maximumAge, areas, eligibilityNotes) = (r.eligibility.minimumAge, r.eligibility.maximumAge, r.eligibility.areas, r.eligibility.notes)
            (cost, accessibility, seats, seatsTaken, waitlistAllowed) = (
                r.cost, r.accessibility, r.capacity.seats, r.capacity.seatsTaken, r.capacity.waitlistAllowed
            )
            (tags, contact, active, lastVerified, openingHours) = (r.tags, r.contact, r.active, r.lastVerified?.description, r.openingHours)
        }
    }

    /// Active resources serving any of `needs` (the GIN index makes this a short list).
    func candidates(for needs: [String], on connection: PostgresConnection) async throws -> [CommunityResource] {
        try await connection.query(
            PostgresQuery(
                unsafeSQL: "SELECT \(Self.resourceColumns) FROM community_resource WHERE active AND categories && $1::text[]",
                parameters: [needs.postgresText]
            )
        ).map(Self.resource)
    }

    /// An accessibility feature is free text (imports, entry): compared without regard to case,
    /// as ranking does. `openAt` keeps the resources whose opening hours hold that moment, as
    /// `CommunityResource.OpeningHours.isOpen` says: on its day from the opening time until
    /// before the closing time, or past midnight when it closes at or before it opens ("HH:MM"
    /// compares as time). Resources without opening hours are not open at any moment.
    func resources(
        category: String?, language: String?, accessibility: String? = nil, openOn weekday: Int? = nil, openAt: Moment? = nil, near: Coordinates?,
        radiusKilometres: Double?, on connection: PostgresConnection
    ) async throws -> [CommunityResource] {
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT \(Self.resourceColumns) FROM community_resource
                    WHERE ($1::text IS NULL OR $1 = ANY (categories)) AND ($2::text IS NULL OR $2 = ANY (languages))
                    AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM unnest(accessibility) AS feature WHERE lower(feature) = lower($3)))
                    AND ($4::int IS NULL OR $4 = ANY (weekdays))
                    AND ($5::int IS NULL OR EXISTS (
                        SELECT 1 FROM jsonb_to_recordset(opening_hours) AS h(weekday int, opens_at text, closes_at text)
                        WHERE (h.weekday = $5 AND h.opens_at <= $6 AND ($6 < h.closes_at OR h.closes_at <= h.opens_at))
                            OR (h.weekday = ($5 + 5) % 7 + 1 AND h.closes_at <= h.opens_at AND $6 < h.closes_at)))
                    ORDER BY name, id LIMIT 500
                    """,
                parameters: [category, language, accessibility, weekday.map(String.init), openAt.map { String($0.weekday) }, openAt?.time]))
        let all = try rows.map(Self.resource)
        guard let near, let radius = radiusKilometres else { return all }
        return all.filter { $0.coordinates.map { near.distanceKilometres(to: $0) <= radius } ?? false }
    }

    /// A moment of the week in local time: 1 = Monday … 7 = Sunday, and "HH:MM".
    struct Moment: Sendable, Equatable {
        var weekday: Int
        var time: String
    }

    /// The stored opening hours (snake-case keys, as `Row` writes them).
    static func openingHours(_ json: String) throws -> [CommunityResource.OpeningHours] {
        try storedRowDecoder.decode([CommunityResource.OpeningHours].self, from: Data(json.utf8))
    }

    /// One decoder for every row a search reads (up to 500), not one per row.
    private static let storedRowDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    func resource(id: UUID, on connection: PostgresConnection) async throws -> CommunityResource? {
        try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT \(Self.resourceColumns) FROM community_resource WHERE id = $1::uuid", parameters: [id.postgresText])
        )
        .first.map(Self.resource)
    }

    static func resource(_ row: PostgresRow) throws -> CommunityResource {
        let latitude = try row.decode("latitude", as: Double?.self)
        let longitude = try row.decode("longitude", as: Double?.self)
        do {
            return try CommunityResource(
                id: try row.decode("id"), organisation: try row.decode("organisation"), name: try row.decode("name"),
                kind: CommunityResource.Kind(rawValue: try row.decode("kind")) ?? .externalPartner,
                categories: try row.decode("categories", as: [String].self).compactMap { try? NeedCategory(code: $0) },
                description: try row.decode("description"), languages: try row.decode("languages"),
                interpretationAvailable: try row.decode("interpretation_available"),
                delivery: try row.decode("delivery", as: [String].self).compactMap(CommunityResource.Delivery.init(rawValue:)),
                address: try row.decode("address", as: String?.self),
                coordinates: latitude.flatMap { lat in longitude.flatMap { try? Coordinates(latitude: lat, longitude: $0) } },
                schedule: try row.decode("schedule", as: String?.self), weekdays: try row.decode("weekdays"),
                openingHours: try openingHours(row.decode("opening_hours")),
                eligibility: .init(
                    minimumAge: try row.decode("minimum_age", as: Int?.self), maximumAge: try row.decode("maximum_age", as: Int?.self),
                    areas: try row.decode("areas"), notes: try row.decode("eligibility_notes", as: String?.self)),
                cost: try row.decode("cost", as: String?.self), accessibility: try row.decode("accessibility"),
                capacity: .init(
                    seats: try row.decode("seats", as: Int?.self), seatsTaken: try row.decode("seats_taken"),
                    waitlistAllowed: try row.decode("waitlist_allowed")),
                tags: try row.decode("tags"), contact: try row.decode("contact", as: String?.self), active: try row.decode("active"),
                lastVerified: try row.decode("last_verified", as: String?.self).flatMap { try? CalendarDate($0) })
        } catch {
            throw PostgresError(kind: .protocolViolation, message: "stored resource does not satisfy the domain rules: \(error)")
        }
    }

    func save(_ worker: LinkWorker, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            INSERT INTO link_worker (id, name, site, languages, caseload_capacity, current_caseload)
            VALUES (\(worker.id)::uuid, \(worker.name), \(worker.site), \(worker.languages)::text[], \(worker.caseloadCapacity), \(worker.currentCaseload))
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, site = EXCLUDED.site, languages = EXCLUDED.languages,
                caseload_capacity = EXCLUDED.caseload_capacity
            """)
    }

    /// Picks the link worker for a referral and records it, once: same site; someone who speaks
    /// the client's language if anyone does; then the lowest caseload relative to capacity;
    /// ties broken by id. Only the chosen worker's row is locked, and its caseload incremented
    /// under that lock, so counts stay right across replicas; an assignment whose best choice
    /// another one is recording at that moment takes the next best of the same language, instead
    /// of every assignment of a site queueing behind one lock on all its workers (which held the
    /// whole loop to one assignment at a time per site). The caller has checked, in the same
    /// transaction, that the referral has no assignment yet.
    func assign(referral: UUID, site: String, language: String, on connection: PostgresConnection) async throws -> LinkWorker? {
        let workers = try await connection.query(
            """
            SELECT id, name, site, languages, caseload_capacity, current_caseload FROM link_worker
            WHERE site = \(site) AND active
            """
        ).map { row in
            try LinkWorker(
                id: try row.decode("id"), name: try row.decode("name"), site: try row.decode("site"), languages: try row.decode("languages"),
                caseloadCapacity: try row.decode("caseload_capacity"), currentCaseload: try row.decode("current_caseload"))
        }
        let candidates = Self.candidates(from: workers, language: language)
        guard let best = candidates.first else { return nil }
        var unlocked: LinkWorker?
        for candidate in candidates where unlocked == nil {
            let free = try await connection.query("SELECT 1 FROM link_worker WHERE id = \(candidate.id)::uuid AND active FOR UPDATE SKIP LOCKED")
            if !free.isEmpty { unlocked = candidate }
        }
        if unlocked == nil {
            // All of them are being assigned to right now: wait for the best one.
            try await connection.query("SELECT 1 FROM link_worker WHERE id = \(best.id)::uuid FOR UPDATE")
        }
        let chosen = unlocked ?? best
        // Sent with the transaction's next statement; the referral's primary key refuses a second assignment.
        try await connection.execute("INSERT INTO assignment (referral_id, link_worker_id) VALUES (\(referral)::uuid, \(chosen.id)::uuid)")
        try await connection.execute("UPDATE link_worker SET current_caseload = current_caseload + 1 WHERE id = \(chosen.id)::uuid")
        return chosen
    }

    /// The workers a referral may go to, best first: those who speak the client's language (all
    /// of them if nobody does), by caseload relative to capacity, then id.
    static func candidates(from workers: [LinkWorker], language: String) -> [LinkWorker] {
        let speakers = workers.filter { $0.languages.contains(language) }
        let pool = speakers.isEmpty ? workers : speakers
        return pool.sorted { ($0.load, $0.id.uuidString) < ($1.load, $1.id.uuidString) }
    }
}

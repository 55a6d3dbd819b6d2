import Domain
import Foundation
import PostgresClient

/// What an import did: resources created and updated, every row left out with its reason
/// (`skipped`), every row imported with something to review with its reason (`needsReview`:
/// uncategorised, placeholder organisation, unread language), and for each service the
/// crosswalk rules that gave its need categories (`categorised`).
public struct ImportReport: Codable, Sendable, Equatable {
    public var created: Int
    public var updated: Int
    public var uncategorised: Int
    public var skipped: [ImportIssue]
    public var needsReview: [ImportIssue]
    public var categorised: [CategorisedService]

    public init(
        created: Int = 0, updated: Int = 0, uncategorised: Int = 0, skipped: [ImportIssue] = [], needsReview: [ImportIssue] = [],
        categorised: [CategorisedService] = []
    ) {
        (self.created, self.updated, self.uncategorised, self.skipped, self.needsReview, self.categorised) = (
            created, updated, uncategorised, skipped, needsReview, categorised
        )
    }
}

/// Which rules placed one service in its need categories.
public struct CategorisedService: Codable, Sendable, Equatable {
    public var service: String
    public var row: Int
    public var categories: [String]
    public var rules: [String]
}

/// Moves the catalogue in and out as HSDS data packages, against the database.
public struct CatalogueTransfer: Sendable {
    let pool: PostgresConnectionPool
    var mapping: TaxonomyMapping

    public init(pool: PostgresConnectionPool, mapping: TaxonomyMapping) {
        self.pool = pool
        self.mapping = mapping
    }

    /// Reads the package and saves every usable service in one transaction: a re-import updates
    /// the resources it created (keyed by HSDS service id) and keeps their seats taken.
    public func importPackage(_ package: HSDSDataPackage, parseIssues: [ImportIssue] = []) async throws -> ImportReport {
        let reading = HSDSReader(mapping: mapping).read(package)
        let resources = reading.resources
        let report = try await pool.sessionTransaction { session -> ImportReport in
            var report = ImportReport(skipped: parseIssues + reading.issues, needsReview: reading.reviewed)
            let rows = Dictionary(
                package.tables["services"].map { table in
                    table.records.enumerated().compactMap { index, record in table.value("id", in: record).map { ($0, table.rowNumber(index)) } }
                } ?? [], uniquingKeysWith: { first, _ in first })
            try Self.save(resources, rows: rows, into: &report, on: session)
            report.skipped.sort { ($0.file, $0.row) < ($1.file, $1.row) }
            report.needsReview.sort { ($0.file, $0.row) < ($1.file, $1.row) }
            return report
        }
        return report
    }

    /// Saves read resources (services.csv rows by service id in `rows`) and adds what it did to
    /// `report`: a re-import updates the resources it created and keeps their seats taken.
    static func save(_ resources: [HSDSResource], rows: [String: Int], into report: inout ImportReport, on session: borrowing PostgresSession) throws {
        // A service id already used by another resource (say, re-keyed upstream) must not move it.
        let taken = try session.query(
            PostgresQuery(
                unsafeSQL: "SELECT r.id, r.seats_taken FROM community_resource r WHERE r.id = ANY ($1::uuid[])",
                parameters: [resources.map { $0.resource.id }.postgresText]))
        var seatsTaken: [UUID: Int] = [:]
        for row in taken { seatsTaken[try row.decode("id")] = try row.decode("seats_taken") }
        var accepted: [HSDSResource] = []
        accepted.reserveCapacity(resources.count)
        for entry in resources {
            var entry = entry
            let alreadyTaken = seatsTaken[entry.resource.id] ?? 0
            if let seats = entry.resource.capacity.seats, seats < alreadyTaken {
                report.skipped.append(
                    ImportIssue(
                        file: "services.csv", row: rows[entry.serviceID] ?? 0,
                        reason: "seats \(seats) is below the \(alreadyTaken) seats already taken; the service was not updated"))
                continue
            }
            // A list that would not read back would break every read of the catalogue.
            let unreadable =
                StoredTextArray.problems(entry.resource)
                + [("/unreadLanguages", entry.unreadLanguages), ("/review", entry.review), ("/taxonomyRules", entry.taxonomyRules)]
                .flatMap { pointer, elements in StoredTextArray.unreadable(elements).map { "\(pointer)/\($0)" } }
            if let first = unreadable.first {
                report.skipped.append(
                    ImportIssue(
                        file: "services.csv", row: rows[entry.serviceID] ?? 0,
                        reason: "a value (\(first.split(separator: "/").first ?? "")) \(StoredTextArray.detail); the service was not imported"))
                continue
            }
            entry.resource.capacity.seatsTaken = alreadyTaken
            if entry.resource.categories.isEmpty {
                report.uncategorised += 1
            } else {
                report.categorised.append(
                    CategorisedService(
                        service: entry.serviceID, row: rows[entry.serviceID] ?? 0, categories: entry.resource.categories.map(\.code), rules: entry.taxonomyRules
                    ))
            }
            accepted.append(entry)
        }
        // Written in batches, one statement per table each: a directory of 10,000 services
        // is a few dozen round trips, not 20,000.
        for start in stride(from: 0, to: accepted.count, by: batchSize) {
            let batch = Array(accepted[start..<min(start + batchSize, accepted.count)])
            var created = 0
            for row in try session.query(PostgresQuery(unsafeSQL: CatalogueStore.batchUpsertSQL, parameters: [try resourcesJSON(batch)])) {
                if try row.decode("created", as: Bool.self) { created += 1 }
            }
            report.created += created
            report.updated += batch.count - created
            // A re-import replaces what the last one left to review.
            try session.query(PostgresQuery(unsafeSQL: sourcesSQL, parameters: [try sourcesJSON(batch)]))
        }
    }

    static let batchSize = 500

    static let sourcesSQL = """
        INSERT INTO catalogue_source (resource_id, service_id, organisation_id, location_id, review, placeholder_organisation,
            unread_languages, taxonomy_rules, imported_at)
        SELECT x.resource_id, x.service_id, x.organisation_id, x.location_id, x.review, x.placeholder_organisation, x.unread_languages,
            x.taxonomy_rules, now()
        FROM jsonb_to_recordset($1::jsonb) AS x(resource_id uuid, service_id text, organisation_id text, location_id text, review text[],
            placeholder_organisation boolean, unread_languages text[], taxonomy_rules text[])
        ON CONFLICT (resource_id) DO UPDATE SET service_id = EXCLUDED.service_id, organisation_id = EXCLUDED.organisation_id,
            location_id = EXCLUDED.location_id, review = EXCLUDED.review, placeholder_organisation = EXCLUDED.placeholder_organisation,
            unread_languages = EXCLUDED.unread_languages, taxonomy_rules = EXCLUDED.taxonomy_rules, imported_at = now()
        """

    struct SourceRow: Encodable {
        var resourceId: UUID, serviceId: String, organisationId: String?, locationId: String?, review: [String]
        var placeholderOrganisation: Bool, unreadLanguages: [String], taxonomyRules: [String]
    }

    static func resourcesJSON(_ batch: [HSDSResource]) throws -> String {
        try CatalogueStore.rowsJSON(batch.map { CatalogueStore.Row($0.resource) })
    }

    static func sourcesJSON(_ batch: [HSDSResource]) throws -> String {
        try CatalogueStore.rowsJSON(
            batch.map {
                SourceRow(
                    resourceId: $0.resource.id, serviceId: $0.serviceID, organisationId: $0.organisationID, locationId: $0.locationID, review: $0.review,
                    placeholderOrganisation: $0.placeholderOrganisation, unreadLanguages: $0.unreadLanguages, taxonomyRules: $0.taxonomyRules)
            })
    }

    /// The whole catalogue (active or not) as HSDS tables.
    public func exportPackage() async throws -> HSDSDataPackage {
        let resources = try await pool.withConnection { connection in
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT \(CatalogueStore.resourceColumns.split(separator: ",").map { "r." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")),
                            s.service_id, s.organisation_id, s.location_id, coalesce(s.placeholder_organisation, false) AS placeholder_organisation,
                            coalesce(s.unread_languages, '{}') AS unread_languages
                        FROM community_resource r LEFT JOIN catalogue_source s ON s.resource_id = r.id ORDER BY r.id
                        """)
            ).map { row in
                let resource = try CatalogueStore.resource(row)
                return HSDSResource(
                    resource: resource, serviceID: try row.decode("service_id", as: String?.self) ?? resource.id.uuidString.lowercased(),
                    organisationID: try row.decode("organisation_id", as: String?.self), locationID: try row.decode("location_id", as: String?.self),
                    placeholderOrganisation: try row.decode("placeholder_organisation"), unreadLanguages: try row.decode("unread_languages"))
            }
        }
        return HSDSWriter().write(resources)
    }
}

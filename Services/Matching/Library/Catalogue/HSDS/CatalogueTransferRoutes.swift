import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime
import WireFormats

/// HSDS import and export over HTTP, for coordinators:
///
///     POST /v1/catalogue/imports   {"tables": {"services.csv": "<CSV text>", "locations.csv": "…", …}}
///                                  or HSDS 3 JSON service records ([…] or {"contents": […]})
///                                  or a zip data package (Content-Type: application/zip)
///                                  → 200 {"created", "updated", "uncategorised", "skipped": [{"file", "row", "reason"}],
///                                     "needsReview": [{"file", "row", "reason"}], "categorised": [{"service", "row", "categories", "rules"}]}
///     GET  /v1/catalogue/export    → 200 {"tables": {"services.csv": "…", …}} (what the import takes)
///     GET  /v1/catalogue/export?table=services → that one table as text/csv
///     GET  /v1/catalogue/export?format=zip | hsds-json → a zip data package, or HSDS 3 records {"contents": […]}
///     GET  /v1/catalogue/review?limit=200&after=<resource id>
///                                  → 200 {"resources": [{"resourceId", "serviceId", "name", "organisation",
///                                     "uncategorised", "placeholderOrganisation", "unreadLanguages", "reasons"}],
///                                     "next": "<resource id>" | null}
///
/// The review list is what imports left to a coordinator: uncategorised resources (never
/// proposed by automatic matching until they have a category), placeholder organisations and
/// language values that name no language, oldest decision first by resource id.
///
/// Table texts are keyed by file name (`services.csv`) or table name (`services`).
struct CatalogueTransferRoutes: Sendable {
    let transfer: CatalogueTransfer
    /// Directories are larger than ordinary requests.
    static let maximumImportBytes = 64 << 20

    struct Tables: Codable, Sendable { var tables: [String: String] }

    func importTables(_ input: Operations.ImportCatalogue.Input) async throws -> Operations.ImportCatalogue.Output {
        _ = try OperationRequest.caller()
        // The body's size is bounded at the edge (`maximumImportBytes`, MatchingAPI).
        let json: OpenAPIValueContainer?
        let zip: Data?
        switch input.body {
        case .json(let value): (json, zip) = (value, nil)
        case .applicationZip(let body): (json, zip) = (nil, try await Data(collecting: body, upTo: Self.maximumImportBytes))
        }
        // Unzipping and parsing up to 64 MB takes seconds of CPU: not on the cooperative pool,
        // whose few threads serve every request.
        let (package, parseIssues) = try await NIOThreadPool.singleton.runIfActive {
            // The generated code read the JSON; written back as text for the parsers, here too.
            try Self.parseUpload(zip ?? Data(try JSONCoding.api.encode(json)), isZip: zip != nil)
        }
        // Text PostgreSQL cannot store (a NUL in a cell) is refused before anything is written.
        let unstorable = Self.unstorableCells(package)
        guard unstorable.isEmpty else { throw ProblemDetails.validation(unstorable) }
        guard package.tables["services"] != nil else {
            var errors = [ProblemDetails.FieldError(pointer: "/tables/services.csv", detail: "is required (the services table)")]
            errors += parseIssues.map { .init(pointer: "/tables/\($0.file)", detail: "row \($0.row): \($0.reason)") }
            throw ProblemDetails.validation(errors)
        }
        return .ok(.init(body: .json(try convertJSON(try await transfer.importPackage(package, parseIssues: parseIssues)))))
    }

    /// An upload as a data package: a zip, `{"tables": {file: CSV text}}`, or HSDS 3 service
    /// records (`[…]` or `{"contents": […]}`).
    private static func parseUpload(_ data: Data, isZip: Bool) throws -> (HSDSDataPackage, [ImportIssue]) {
        // A NUL or an unpaired surrogate anywhere in the JSON is a 422 at its pointer; a body that
        // is not JSON, a 400 that says where.
        let json = isZip ? data : try StorableText.checked(data)
        do {
            if isZip { return try HSDSDataPackage.read(zipData: data, source: "upload.zip") }
            let object = try? JSONSerialization.jsonObject(with: json)
            if let tables = (object as? [String: Any])?["tables"] as? [String: String] {
                return HSDSDataPackage.parse(texts: tables)
            }
            if object is [Any] || (object as? [String: Any])?["contents"] != nil {
                return try HSDSServiceRecords.package(json: data)
            }
        } catch let error as any CustomStringConvertible {
            throw ProblemDetails.validation([.init(pointer: "", detail: error.description)])
        }
        throw ProblemDetails.validation([
            .init(
                pointer: "/tables",
                detail: "must be an object mapping table file names (services.csv, …) to CSV text, HSDS 3 service records, or a zip (application/zip)")
        ])
    }

    /// Each table with a cell holding NUL, at its first such row.
    private static func unstorableCells(_ package: HSDSDataPackage) -> [ProblemDetails.FieldError] {
        package.tables.sorted { $0.key < $1.key }.compactMap { name, table in
            let hasNUL = { (text: String) in text.utf8.contains(0) }
            if table.columns.contains(where: hasNUL) { return .init(pointer: "/tables/\(name).csv", detail: "row 1: " + StorableText.detail) }
            guard let index = table.records.firstIndex(where: { $0.contains(where: hasNUL) }) else { return nil }
            let row = table.rowNumbers?[index] ?? index + 2
            return .init(pointer: "/tables/\(name).csv", detail: "row \(row): " + StorableText.detail)
        }
    }

    struct ReviewItem: Codable, Sendable {
        var resourceId: UUID
        var serviceId: String?
        var name: String
        var organisation: String
        var active: Bool
        var uncategorised: Bool
        var placeholderOrganisation: Bool
        var unreadLanguages: [String]
        var reasons: [String]
    }
    struct ReviewPage: Codable, Sendable {
        var resources: [ReviewItem]
        var next: UUID?
    }

    func needsReview(_ input: Operations.ReviewCatalogue.Input) async throws -> Operations.ReviewCatalogue.Output {
        _ = try OperationRequest.caller()
        let query = input.query
        var errors: [ProblemDetails.FieldError] = []
        let limit: Int? = query.limit ?? 200
        if limit == nil || !(1...1000).contains(limit!) { errors.append(.init(pointer: "?limit", detail: "must be a whole number from 1 to 1000")) }
        let after = query.after.map { UUID(uuidString: $0) }
        if case .some(nil) = after { errors.append(.init(pointer: "?after", detail: "must be a resource id")) }
        guard errors.isEmpty, let limit else { throw ProblemDetails.validation(errors) }
        let items = try await transfer.pool.withConnection { connection in
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT r.id, r.name, r.organisation, r.active, cardinality(r.categories) = 0 AS uncategorised, s.service_id,
                            coalesce(s.placeholder_organisation, false) AS placeholder_organisation, coalesce(s.unread_languages, '{}') AS unread_languages,
                            coalesce(s.review, '{}') AS review
                        FROM community_resource r LEFT JOIN catalogue_source s ON s.resource_id = r.id
                        WHERE (cardinality(r.categories) = 0 OR cardinality(s.review) > 0) AND ($1::uuid IS NULL OR r.id > $1::uuid)
                        ORDER BY r.id LIMIT $2::int
                        """, parameters: [after.flatMap { $0 }?.postgresText, String(limit + 1)])
            ).map { row in
                let uncategorised: Bool = try row.decode("uncategorised")
                var reasons: [String] = try row.decode("review")
                if uncategorised && !reasons.contains(where: { $0.hasPrefix("uncategorised") }) { reasons.insert("uncategorised: no need category", at: 0) }
                return ReviewItem(
                    resourceId: try row.decode("id"), serviceId: try row.decode("service_id", as: String?.self), name: try row.decode("name"),
                    organisation: try row.decode("organisation"), active: try row.decode("active"), uncategorised: uncategorised,
                    placeholderOrganisation: try row.decode("placeholder_organisation"), unreadLanguages: try row.decode("unread_languages"),
                    reasons: reasons)
            }
        }
        let page = ReviewPage(resources: Array(items.prefix(limit)), next: items.count > limit ? items[limit - 1].resourceId : nil)
        return .ok(.init(body: .json(try convertJSON(page))))
    }

    func exportTables(_ input: Operations.ExportCatalogue.Input) async throws -> Operations.ExportCatalogue.Output {
        _ = try OperationRequest.caller()
        let query = input.query
        var errors: [ProblemDetails.FieldError] = []
        let format = query.format
        if !(format == nil || format == "zip" || format == "hsds-json" || format == "tables") {
            errors.append(.init(pointer: "?format", detail: "must be tables, zip or hsds-json"))
        }
        // A table's name or its file's (services, services.csv), as the document lists them;
        // checked whatever the format, though only format=tables uses it.
        let tableName = query.table.map { $0.hasSuffix(".csv") ? String($0.dropLast(4)) : $0 }
        if let tableName, !HSDSDataPackage.tableNames.contains(tableName) {
            errors.append(
                .init(pointer: "?table", detail: "must be one of \(HSDSDataPackage.tableNames.joined(separator: ", ")), or a file name such as services.csv"))
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let package = try await transfer.exportPackage()
        switch format {
        case "zip":
            return .ok(
                .init(headers: .init(contentDisposition: "attachment; filename=\"catalogue.zip\""), body: .applicationZip(HTTPBody(try package.zipped()))))
        case "hsds-json":
            return .ok(.init(body: .json(try JSONCoding.api.decode(OpenAPIValueContainer.self, from: Data(try HSDSServiceRecords.json(package))))))
        default: break
        }
        if let tableName {
            // Every table is written, if only with its header.
            let table = package.tables[tableName] ?? CSVTable(columns: [])
            return .ok(.init(body: .csv(HTTPBody(table.text))))
        }
        return .ok(.init(body: .json(try convertJSON(Tables(tables: package.texts)))))
    }
}

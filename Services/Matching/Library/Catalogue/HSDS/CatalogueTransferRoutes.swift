import Domain
import Foundation
import HTTPTypes
import Hummingbird
import ServiceRuntime

/// HSDS import and export over HTTP, for coordinators:
///
///     POST /v1/catalogue/imports   {"tables": {"services.csv": "<CSV text>", "locations.csv": "…", …}}
///                                  → 200 {"created": n, "updated": n, "skipped": [{"file", "row", "reason"}]}
///     GET  /v1/catalogue/export    → 200 {"tables": {"services.csv": "…", …}} (what the import takes)
///     GET  /v1/catalogue/export?table=services → that one table as text/csv
///
/// Table texts are keyed by file name (`services.csv`) or table name (`services`).
struct CatalogueTransferRoutes: Sendable {
    let transfer: CatalogueTransfer
    /// Directories are larger than ordinary requests.
    static let maximumImportBytes = 64 << 20

    struct Tables: Codable, Sendable { var tables: [String: String] }

    func add(to router: Router<PasserelleRequestContext>) {
        router.post("/v1/catalogue/imports") { request, context in try await importTables(request, context) }
        router.get("/v1/catalogue/export") { request, context in try await exportTables(request, context) }
    }

    private func importTables(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.coordinator, .service)
        let buffer = try await request.body.collect(upTo: Self.maximumImportBytes)
        let body: Tables
        do {
            body = try JSONDecoder().decode(Tables.self, from: Data(buffer.readableBytesView))
        } catch {
            throw ProblemDetails.validation([.init(pointer: "/tables", detail: "must be an object mapping table file names (services.csv, …) to CSV text")])
        }
        let (package, parseIssues) = HSDSDataPackage.parse(texts: body.tables)
        guard package.tables["services"] != nil else {
            var errors = [ProblemDetails.FieldError(pointer: "/tables/services.csv", detail: "is required (the services table)")]
            errors += parseIssues.map { .init(pointer: "/tables/\($0.file)", detail: "row \($0.row): \($0.reason)") }
            throw ProblemDetails.validation(errors)
        }
        return try Response.json(try await transfer.importPackage(package, parseIssues: parseIssues))
    }

    private func exportTables(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.coordinator, .service)
        let package = try await transfer.exportPackage()
        if let name = request.uri.queryParameters.get("table") {
            guard let table = HSDSDataPackage.tableName(forFile: name).flatMap({ package.tables[$0] }) else {
                throw ProblemDetails.validation([.init(pointer: "?table", detail: "must be one of \(HSDSDataPackage.tableNames.joined(separator: ", "))")])
            }
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: table.text)))
        }
        return try Response.json(Tables(tables: package.texts))
    }
}

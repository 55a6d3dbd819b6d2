import Domain
import Foundation
import PostgresClient
import ZIPFoundation

/// Imports a directory of any size in bounded memory, with the same results as
/// `CatalogueTransfer.importPackage`: each table file is streamed into a temporary staging
/// table of the import's transaction, then services are read back a batch at a time with the
/// rows they join, read by `HSDSReader` and saved. What the report says of a batch is handed to
/// `emit` as it is done, and only the counts are kept.
public struct StreamingImport: Sendable {
    let pool: PostgresConnectionPool
    var mapping: TaxonomyMapping
    var servicesPerBatch = 2_000

    public init(pool: PostgresConnectionPool, mapping: TaxonomyMapping) {
        self.pool = pool
        self.mapping = mapping
    }

    public struct Summary: Sendable, Equatable {
        public var services = 0, created = 0, updated = 0, categorised = 0, uncategorised = 0, skipped = 0, needsReview = 0
    }

    /// Headers wider than this are refused: each column is a staging column.
    static let maximumColumns = 400
    static let rowsPerInsert = 500

    /// Imports the folder or zip at `path`. `emit` receives the report of each part in order
    /// (file issues first, then each batch of services).
    public func run(_ path: URL, emit: @escaping @Sendable (ImportReport) -> Void) async throws -> Summary {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isFolder) else {
            throw HSDSDataPackage.Unreadable(source: path.path, problem: "no such file or folder")
        }
        let mapping = mapping
        let batch = servicesPerBatch
        let folder = isFolder.boolValue
        // Zip entries are inflated here, one file per table, and read back a chunk at a time.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("hsds-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        return try await pool.sessionTransaction { session -> Summary in
            // Read inside the transaction: the archive (or files) are opened on this thread.
            let (files, issues) =
                folder
                ? try HSDSDataPackage.tableFiles(folder: path)
                : try HSDSDataPackage.tableFiles(try HSDSDataPackage.archive(path), source: path.lastPathComponent)
            var summary = Summary()
            var staged: [String: [String]] = [:]  // table → columns
            var fileReport = ImportReport(skipped: issues)
            for file in files.sorted(by: { $0.name < $1.name }) {
                guard let table = HSDSDataPackage.tableName(forFile: file.name) else {
                    if file.name.lowercased() != "datapackage.json" {
                        fileReport.skipped.append(
                            ImportIssue(
                                file: file.name, row: 0, reason: "not a table this import reads (\(HSDSDataPackage.tableNames.joined(separator: ", ")))"))
                    }
                    continue
                }
                if staged[table] != nil { try session.execute(PostgresQuery(unsafeSQL: "DROP TABLE stage_\(table)")) }
                staged[table] = nil
                do {
                    staged[table] = try Self.stage(file, as: table, scratch: scratch, on: session)
                } catch let error as CSVTable.ParseError {
                    try session.execute(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS stage_\(table)"))
                    fileReport.skipped.append(
                        ImportIssue(file: file.name, row: error.line, reason: "not valid CSV: \(error.problem); the file was not imported"))
                }
            }
            guard let serviceColumns = staged["services"] else {
                throw HSDSDataPackage.Unreadable(source: path.path, problem: "has no services table")
            }
            // Checks over the whole directory: linked rows naming no service, repeated ids.
            for table in ["services_at_location", "phones", "languages", "regular_schedules", "eligibility", "services_taxonomy", "service_area"] {
                guard let columns = staged[table], let link = Self.column("service_id", in: columns), let id = Self.column("id", in: serviceColumns) else {
                    continue
                }
                for row in try session.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT t.row_number, t.\(link) AS service FROM stage_\(table) t
                            WHERE t.\(link) <> '' AND NOT EXISTS (SELECT 1 FROM stage_services s WHERE s.\(id) = t.\(link)) ORDER BY t.row_number
                            """))
                {
                    fileReport.skipped.append(
                        ImportIssue(
                            file: "\(table).csv", row: try row.decode("row_number"),
                            reason: "service_id \"\(try row.decode("service", as: String.self))\" is not in services.csv"))
                }
            }
            let idColumn = Self.column("id", in: serviceColumns)
            if let id = idColumn {
                for row in try session.query(
                    PostgresQuery(
                        unsafeSQL: """
                            SELECT s.row_number, s.\(id) AS id, (SELECT min(f.row_number) FROM stage_services f WHERE f.\(id) = s.\(id)) AS first
                            FROM stage_services s WHERE s.\(id) <> '' AND EXISTS (SELECT 1 FROM stage_services d WHERE d.\(id) = s.\(id) AND d.row_number < s.row_number)
                            ORDER BY s.row_number
                            """))
                {
                    fileReport.skipped.append(
                        ImportIssue(
                            file: "services.csv", row: try row.decode("row_number"),
                            reason:
                                "id \"\(try row.decode("id", as: String.self))\" repeats row \(try row.decode("first", as: Int.self)); the service was not imported"
                        ))
                }
            }
            summary.services = try session.query("SELECT count(*) AS n FROM stage_services").first?.decode("n", as: Int.self) ?? 0
            summary.skipped += fileReport.skipped.count
            fileReport.skipped.sort { ($0.file, $0.row) < ($1.file, $1.row) }
            emit(fileReport)

            // Services a batch at a time, each with the rows it joins.
            let reader = HSDSReader(mapping: mapping)
            let firstOccurrence =
                idColumn.map { id in
                    "AND (s.\(id) = '' OR NOT EXISTS (SELECT 1 FROM stage_services d WHERE d.\(id) = s.\(id) AND d.row_number < s.row_number))"
                } ?? ""
            var after = 0
            while true {
                let services = try Self.select(
                    "services", columns: serviceColumns, where: "s.row_number > \(after) \(firstOccurrence) ORDER BY s.row_number LIMIT \(batch)", on: session)
                guard let last = services.rowNumbers?.last else { break }
                after = last
                var tables: [String: CSVTable] = ["services": services]
                let serviceIDs = services.records.compactMap { services.value("id", in: $0) }
                let links = try Self.fetch(staged, "services_at_location", by: "service_id", in: serviceIDs, on: session)
                let locationIDs = links.map { table in table.records.compactMap { table.value("location_id", in: $0) } } ?? []
                tables["services_at_location"] = links
                tables["locations"] = try Self.fetch(staged, "locations", by: "id", in: locationIDs, on: session)
                tables["physical_addresses"] = try Self.fetch(staged, "physical_addresses", by: "location_id", in: locationIDs, on: session)
                tables["accessibility_for_disabilities"] = try Self.fetch(
                    staged, "accessibility_for_disabilities", by: "location_id", in: locationIDs, on: session)
                for table in ["phones", "languages", "regular_schedules"] {
                    tables[table] = try Self.fetch(staged, table, by: "service_id", in: serviceIDs, orBy: "location_id", in: locationIDs, on: session)
                }
                for table in ["eligibility", "services_taxonomy", "service_area"] {
                    tables[table] = try Self.fetch(staged, table, by: "service_id", in: serviceIDs, on: session)
                }
                let termIDs =
                    tables["services_taxonomy"].map { table in table.records.compactMap { table.value(["taxonomy_id", "taxonomy_term_id"], in: $0) } } ?? []
                tables["taxonomy"] = try Self.fetch(staged, "taxonomy", by: "id", in: termIDs, on: session)
                tables["organizations"] = try Self.fetch(
                    staged, "organizations", by: "id", in: services.records.compactMap { services.value("organization_id", in: $0) }, on: session)

                let reading = reader.read(HSDSDataPackage(tables: tables.compactMapValues { $0 }), checkingLinks: false)
                var report = ImportReport(skipped: reading.issues, needsReview: reading.reviewed)
                let rows = Dictionary(
                    services.records.enumerated().compactMap { index, record in
                        services.value("id", in: record).map { ($0, services.rowNumber(index)) }
                    }, uniquingKeysWith: { first, _ in first })
                try CatalogueTransfer.save(reading.resources, rows: rows, into: &report, on: session)
                report.skipped.sort { ($0.file, $0.row) < ($1.file, $1.row) }
                report.needsReview.sort { ($0.file, $0.row) < ($1.file, $1.row) }
                summary.created += report.created
                summary.updated += report.updated
                summary.categorised += report.categorised.count
                summary.uncategorised += report.uncategorised
                summary.skipped += report.skipped.count
                summary.needsReview += report.needsReview.count
                emit(report)
            }
            return summary
        }
    }

    /// The staged rows of `table` whose `column` is one of `values` (or `other` one of `otherValues`).
    static func fetch(
        _ staged: [String: [String]], _ table: String, by column: String, in values: [String], orBy other: String? = nil, in otherValues: [String] = [],
        on session: borrowing PostgresSession
    ) throws -> CSVTable? {
        guard let columns = staged[table], let key = Self.column(column, in: columns) else { return nil }
        var condition = "(s.\(key) = ANY ($1::text[])"
        var parameters: [String?] = [values.postgresText]
        if let other, let otherKey = Self.column(other, in: columns) {
            condition += " OR s.\(otherKey) = ANY ($2::text[])"
            parameters.append(otherValues.postgresText)
        }
        return try select(table, columns: columns, where: condition + ") ORDER BY s.row_number", parameters: parameters, on: session)
    }

    /// The staging column of a CSV column, if the table has it.
    static func column(_ name: String, in columns: [String]) -> String? {
        columns.firstIndex(of: name).map { "c\($0)" }
    }

    /// Streams one file into `stage_<table>` (row_number, c0, c1, …: the header's columns, values
    /// trimmed as the reader reads them); returns the header.
    static func stage(_ file: HSDSDataPackage.TableFile, as table: String, scratch: URL, on session: borrowing PostgresSession) throws -> [String] {
        let url = try file.file(in: scratch, limit: HSDSDataPackage.maximumTableBytes)
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var parser = CSVStreamParser()
        var header: [String]?
        var pending: [[String]] = []
        var rowNumber = 1
        var created = false
        var atEnd = false
        while !atEnd {
            let data = try handle.read(upToCount: 64 << 10) ?? Data()
            atEnd = data.isEmpty
            let emit: ([String]) throws -> Void = { record in
                if let columns = header {
                    rowNumber += 1
                    pending.append(
                        [String(rowNumber)] + (0..<columns.count).map { $0 < record.count ? record[$0].trimmingCharacters(in: .whitespacesAndNewlines) : "" })
                } else {
                    let columns = record.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                    guard columns.count <= maximumColumns else {
                        throw CSVTable.ParseError(line: 1, problem: "the header has \(columns.count) columns, more than the \(maximumColumns) a table may have")
                    }
                    header = columns
                }
            }
            if atEnd { try parser.finish(emit: emit) } else { try parser.feed(data, emit: emit) }
            guard let columns = header, pending.count >= rowsPerInsert || atEnd else { continue }
            if !created {
                try createTable(table, columns, on: session)
                created = true
            }
            try insert(pending, into: table, columns: columns, on: session)
            pending.removeAll(keepingCapacity: true)
        }
        if !created { try createTable(table, header ?? [], on: session) }
        // Temporary tables have no statistics until analysed: the batch joins need them.
        try session.query(PostgresQuery(unsafeSQL: "ANALYZE stage_\(table)"))
        return header ?? []
    }

    static func insert(_ rows: [[String]], into table: String, columns: [String], on session: borrowing PostgresSession) throws {
        guard !rows.isEmpty else { return }
        // Written by hand: a flat array of string fields needs no encoder's machinery.
        var json: [UInt8] = [UInt8(ascii: "[")]
        json.reserveCapacity(rows.count * 64)
        for (number, fields) in rows.enumerated() {
            if number > 0 { json.append(UInt8(ascii: ",")) }
            json.append(contentsOf: #"{"row_number":"#.utf8)
            json.append(contentsOf: fields[0].utf8)
            for index in columns.indices {
                json.append(contentsOf: #","c"#.utf8)
                json.append(contentsOf: String(index).utf8)
                json.append(contentsOf: #"":""#.utf8)
                appendEscaped(fields[index + 1], to: &json)
                json.append(UInt8(ascii: "\""))
            }
            json.append(UInt8(ascii: "}"))
        }
        json.append(UInt8(ascii: "]"))
        // Sent now (`query`, not `execute`, which holds statements for the next round trip and
        // would keep the whole directory in memory until then).
        try session.query(
            PostgresQuery(
                unsafeSQL: "INSERT INTO stage_\(table) SELECT * FROM json_populate_recordset(NULL::stage_\(table), $1::json)",
                parameters: [String(decoding: json, as: UTF8.self)]))
    }

    /// A JSON string's content: quotes, backslashes and control characters escaped.
    static func appendEscaped(_ text: String, to json: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): json.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0: continue  // PostgreSQL text holds no NUL
            case 1..<0x20:
                json.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xf)],
                ])
            default: json.append(byte)
            }
        }
    }

    static func createTable(_ table: String, _ columns: [String], on session: borrowing PostgresSession) throws {
        let definitions = (["row_number integer PRIMARY KEY"] + columns.indices.map { "c\($0) text" }).joined(separator: ", ")
        try session.execute(PostgresQuery(unsafeSQL: "CREATE TEMP TABLE stage_\(table) (\(definitions)) ON COMMIT DROP"))
        for key in ["id", "service_id", "location_id"] {
            if let column = column(key, in: columns) {
                try session.execute(PostgresQuery(unsafeSQL: "CREATE INDEX IF NOT EXISTS stage_\(table)_\(column) ON stage_\(table) (\(column))"))
            }
        }
    }

    /// Rows of a staging table as a CSV table with their file row numbers.
    static func select(_ table: String, columns: [String], where condition: String, parameters: [String?] = [], on session: borrowing PostgresSession) throws
        -> CSVTable
    {
        let list = (["s.row_number"] + columns.indices.map { "s.c\($0)" }).joined(separator: ", ")
        let rows = try session.query(PostgresQuery(unsafeSQL: "SELECT \(list) FROM stage_\(table) s WHERE \(condition)", parameters: parameters))
        var records: [[String]] = []
        var numbers: [Int] = []
        for row in rows {
            numbers.append(try row.decode("row_number"))
            records.append(try columns.indices.map { try row.decode("c\($0)", as: String?.self) ?? "" })
        }
        return CSVTable(columns: columns, records: records, rowNumbers: numbers)
    }
}

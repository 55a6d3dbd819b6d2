import Domain
import Foundation

/// An Open Referral HSDS data package: CSV tables by name (`services`, `locations`, …), as a
/// folder of `<table>.csv` files (with an optional datapackage.json) or as texts sent to the API.
public struct HSDSDataPackage: Sendable, Equatable {
    public var tables: [String: CSVTable]

    /// The tables the import reads (HSDS 2.x names; 3.0 names are accepted as aliases).
    public static let tableNames = [
        "organizations", "services", "locations", "services_at_location", "physical_addresses", "phones", "languages",
        "regular_schedules", "eligibility", "taxonomy", "services_taxonomy", "accessibility_for_disabilities", "service_area",
    ]
    static let aliases = [
        "organization": "organizations", "service": "services", "location": "locations", "service_at_location": "services_at_location",
        "physical_address": "physical_addresses", "address": "physical_addresses", "phone": "phones", "language": "languages",
        "schedules": "regular_schedules", "schedule": "regular_schedules", "regular_schedule": "regular_schedules",
        "taxonomy_terms": "taxonomy", "taxonomy_term": "taxonomy", "service_taxonomy": "services_taxonomy",
        "service_areas": "service_area", "accessibility": "accessibility_for_disabilities",
    ]

    public init(tables: [String: CSVTable]) {
        self.tables = tables
    }

    /// The table name a file name stands for (`Services.CSV` → `services`), or nil.
    static func tableName(forFile file: String) -> String? {
        var name = (file as NSString).lastPathComponent.lowercased()
        if name.hasSuffix(".csv") { name = String(name.dropLast(4)) }
        if tableNames.contains(name) { return name }
        return aliases[name]
    }

    /// Parses CSV texts keyed by file or table name. Files that are not tables of the import or
    /// do not parse are reported, and the rest is kept.
    public static func parse(texts: [String: String]) -> (package: HSDSDataPackage, issues: [ImportIssue]) {
        var tables: [String: CSVTable] = [:]
        var issues: [ImportIssue] = []
        for (file, text) in texts.sorted(by: { $0.key < $1.key }) {
            guard let name = tableName(forFile: file) else {
                if file.lowercased() != "datapackage.json" {
                    issues.append(ImportIssue(file: file, row: 0, reason: "not a table this import reads (\(tableNames.joined(separator: ", ")))"))
                }
                continue
            }
            do {
                tables[name] = try CSVTable(parsing: text)
            } catch {
                issues.append(ImportIssue(file: file, row: error.line, reason: "not valid CSV: \(error.problem); the file was not imported"))
            }
        }
        return (HSDSDataPackage(tables: tables), issues)
    }

    /// Reads every `*.csv` of a folder. A datapackage.json, when present, names the files.
    public static func read(folder: URL) throws -> (package: HSDSDataPackage, issues: [ImportIssue]) {
        let manager = FileManager.default
        var files: [String] = []
        let descriptor = folder.appendingPathComponent("datapackage.json")
        if let data = try? Data(contentsOf: descriptor),
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let resources = object["resources"] as? [[String: Any]]
        {
            files = resources.compactMap { $0["path"] as? String }
        } else {
            files = try manager.contentsOfDirectory(atPath: folder.path).filter { $0.lowercased().hasSuffix(".csv") }
        }
        var texts: [String: String] = [:]
        for file in files {
            let url = folder.appendingPathComponent(file)
            guard let data = manager.contents(atPath: url.path) else {
                throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: url.path])
            }
            texts[file] = String(decoding: data, as: UTF8.self)
        }
        return parse(texts: texts)
    }

    /// Writes the tables as `<table>.csv` with a datapackage.json describing them.
    public func write(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var resources: [[String: Any]] = []
        for name in Self.tableNames {
            guard let table = tables[name] else { continue }
            try Data(table.text.utf8).write(to: folder.appendingPathComponent("\(name).csv"))
            resources.append([
                "name": name, "path": "\(name).csv", "profile": "tabular-data-resource", "format": "csv", "mediatype": "text/csv",
                "encoding": "utf-8", "schema": ["fields": table.columns.map { ["name": $0, "type": "string"] }],
            ])
        }
        let descriptor: [String: Any] = [
            "name": "passerelle-catalogue", "title": "Passerelle community resource catalogue", "profile": "tabular-data-package",
            "description": "Open Referral HSDS 2.0 tables, with extra service columns kind, tags, seats, waitlist_allowed, delivery and schedule.",
            "resources": resources,
        ]
        try JSONSerialization.data(withJSONObject: descriptor, options: [.prettyPrinted, .sortedKeys])
            .write(to: folder.appendingPathComponent("datapackage.json"))
    }

    /// The tables as texts keyed by file name (the API's format).
    public var texts: [String: String] {
        Dictionary(uniqueKeysWithValues: tables.map { ("\($0.key).csv", $0.value.text) })
    }
}

/// A row that could not be used, and why. `row` counts records with the header as row 1
/// (a spreadsheet's row number); 0 means the file as a whole.
public struct ImportIssue: Codable, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var row: Int
    public var reason: String

    public init(file: String, row: Int, reason: String) {
        self.file = file
        self.row = row
        self.reason = reason
    }

    public var description: String { "\(file) row \(row): \(reason)" }
}

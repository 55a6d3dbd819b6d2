import Domain
import Foundation
import ZIPFoundation

/// An Open Referral HSDS data package: CSV tables by name (`services`, `locations`, …), as a
/// folder of `<table>.csv` files (with an optional datapackage.json), a zip of one, texts sent to
/// the API, or HSDS 3 JSON service records flattened into the same tables (`HSDSServiceRecords`).
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

    /// Why a package could not be read at all (a row-level problem is an `ImportIssue` instead).
    public struct Unreadable: Error, Sendable, CustomStringConvertible {
        public var source: String
        public var problem: String
        public var description: String { "\(source): \(problem)" }
    }

    /// No table of a package is read past this size: a hostile package (a zip bomb, a runaway
    /// export) is refused with a reason instead of exhausting memory.
    public static let maximumTableBytes = 256 << 20

    /// Reads a package from a folder, a zip data package or an HSDS 3 JSON file of service
    /// records, told apart by what the path is.
    public static func read(path: URL) throws(Unreadable) -> (package: HSDSDataPackage, issues: [ImportIssue]) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isFolder) else {
            throw Unreadable(source: path.path, problem: "no such file or folder")
        }
        if isFolder.boolValue { return try read(folder: path) }
        let head =
            (try? FileHandle(forReadingFrom: path)).flatMap { handle in
                defer { try? handle.close() }
                return try? handle.read(upToCount: 4)
            } ?? Data()
        if head == Data([0x50, 0x4b, 0x03, 0x04]) || head == Data([0x50, 0x4b, 0x05, 0x06]) { return try read(zip: path) }
        if path.pathExtension.lowercased() == "json" {
            let data = try contents(of: path)
            do {
                return try HSDSServiceRecords.package(json: data)
            } catch {
                throw Unreadable(source: path.path, problem: error.problem)
            }
        }
        throw Unreadable(source: path.path, problem: "is neither a folder, a zip data package nor an HSDS JSON file (.json)")
    }

    static func contents(of file: URL) throws(Unreadable) -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maximumTableBytes else {
            throw Unreadable(source: file.path, problem: "is \(size) bytes, over the \(maximumTableBytes) bytes a table may have")
        }
        do {
            return try Data(contentsOf: file)
        } catch {
            throw Unreadable(source: file.path, problem: "cannot be read: \(error.localizedDescription)")
        }
    }

    /// The table files a datapackage.json names, relative to its folder. A path that leaves the
    /// package (absolute, "..", a URL) is reported and not read.
    static func describedFiles(_ descriptor: Data, source: String) throws(Unreadable) -> (files: [String], issues: [ImportIssue]) {
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: descriptor) as? [String: Any] else {
                throw Unreadable(source: source, problem: "is not a JSON object")
            }
            object = parsed
        } catch let error as Unreadable {
            throw error
        } catch {
            throw Unreadable(source: source, problem: "is not JSON: \(error.localizedDescription)")
        }
        guard let resources = object["resources"] as? [[String: Any]] else {
            throw Unreadable(source: source, problem: "has no \"resources\" list naming the tables")
        }
        var files: [String] = []
        var issues: [ImportIssue] = []
        for (index, resource) in resources.enumerated() {
            guard let path = resource["path"] as? String else {
                issues.append(ImportIssue(file: "datapackage.json", row: index + 1, reason: "resource \(index + 1) has no single \"path\"; not read"))
                continue
            }
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard !path.hasPrefix("/"), !path.contains(":"), !path.contains("\\"), !parts.contains(".."), !path.isEmpty else {
                issues.append(ImportIssue(file: "datapackage.json", row: index + 1, reason: "path \"\(path.prefix(200))\" leaves the package; not read"))
                continue
            }
            files.append(path)
        }
        return (files, issues)
    }

    /// One table file of a package, read a chunk at a time (never more than `limit` bytes).
    struct TableFile {
        var name: String
        var read: (_ limit: Int, _ chunk: (Data) throws -> Void) throws -> Void
        /// A file on disk holding the table: the folder's own file, or the zip entry inflated
        /// into `folder` (a streaming import reads it a chunk at a time).
        func file(in folder: URL, limit: Int) throws -> URL {
            if let local { return local }
            let url = folder.appendingPathComponent(UUID().uuidString + ".csv")
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw Unreadable(source: url.path, problem: "cannot be created")
            }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try read(limit) { try handle.write(contentsOf: $0) }
            return url
        }
        var local: URL?
    }

    /// The table files of a folder: those its datapackage.json names, else every `*.csv`.
    static func tableFiles(folder: URL) throws(Unreadable) -> (files: [TableFile], issues: [ImportIssue]) {
        let manager = FileManager.default
        var names: [String] = []
        var issues: [ImportIssue] = []
        let descriptor = folder.appendingPathComponent("datapackage.json")
        if manager.fileExists(atPath: descriptor.path) {
            (names, issues) = try describedFiles(try contents(of: descriptor), source: descriptor.path)
        } else {
            do {
                names = try manager.contentsOfDirectory(atPath: folder.path).filter { $0.lowercased().hasSuffix(".csv") }.sorted()
            } catch {
                throw Unreadable(source: folder.path, problem: "cannot be listed: \(error.localizedDescription)")
            }
        }
        let root = folder.resolvingSymlinksInPath().standardizedFileURL.path
        var files: [TableFile] = []
        for name in names {
            let url = folder.appendingPathComponent(name)
            // A symbolic link may still lead out of the folder.
            guard url.resolvingSymlinksInPath().standardizedFileURL.path.hasPrefix(root + "/") else {
                issues.append(ImportIssue(file: name, row: 0, reason: "leads outside the package folder; not read"))
                continue
            }
            guard manager.fileExists(atPath: url.path) else {
                issues.append(ImportIssue(file: name, row: 0, reason: "is named by datapackage.json but not in the folder; not read"))
                continue
            }
            files.append(
                TableFile(
                    name: name,
                    read: { limit, chunk in
                        let handle: FileHandle
                        do { handle = try FileHandle(forReadingFrom: url) } catch {
                            throw Unreadable(source: url.path, problem: "cannot be read: \(error.localizedDescription)")
                        }
                        defer { try? handle.close() }
                        var total = 0
                        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
                            total += data.count
                            guard total <= limit else { throw Unreadable(source: url.path, problem: "is over the \(limit) bytes a table may have") }
                            try chunk(data)
                        }
                    }, local: url))
        }
        return (files, issues)
    }

    /// The table files of a zip: those its datapackage.json (the shallowest one, the package
    /// being often zipped inside a folder) names, else every `*.csv` in it.
    static func tableFiles(_ archive: Archive, source: String) throws(Unreadable) -> (files: [TableFile], issues: [ImportIssue]) {
        let entries = archive.filter { $0.type == .file }
        let descriptor = entries.filter { ($0.path as NSString).lastPathComponent.lowercased() == "datapackage.json" }
            .min { $0.path.split(separator: "/").count < $1.path.split(separator: "/").count }
        var issues: [ImportIssue] = []
        var chosen: [(name: String, entry: ZIPFoundation.Entry)] = []
        if let descriptor {
            let base = (descriptor.path as NSString).deletingLastPathComponent
            let files: [String]
            (files, issues) = try describedFiles(
                try inflate(descriptor, from: archive, source: source, limit: maximumTableBytes), source: "\(source)/\(descriptor.path)")
            let byPath = Dictionary(entries.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
            for file in files {
                guard let entry = byPath[base.isEmpty ? file : base + "/" + file] else {
                    issues.append(ImportIssue(file: file, row: 0, reason: "is named by datapackage.json but not in the zip; not read"))
                    continue
                }
                chosen.append((file, entry))
            }
        } else {
            chosen = entries.filter { $0.path.lowercased().hasSuffix(".csv") && !$0.path.hasPrefix("__MACOSX/") }.map {
                (($0.path as NSString).lastPathComponent, $0)
            }
        }
        let files = chosen.map { name, entry in
            TableFile(
                name: name,
                read: { limit, chunk in
                    guard entry.uncompressedSize <= UInt64(limit) else {
                        throw Unreadable(
                            source: "\(source)/\(entry.path)", problem: "inflates to \(entry.uncompressedSize) bytes, over the \(limit) a table may have")
                    }
                    var total = 0
                    do {
                        // The size in the header may lie: count what actually comes out.
                        _ = try archive.extract(entry, skipCRC32: false) { data in
                            total += data.count
                            guard total <= limit else { throw Unreadable(source: "\(source)/\(entry.path)", problem: "inflates past \(limit) bytes") }
                            try chunk(data)
                        }
                    } catch let error as Unreadable {
                        throw error
                    } catch let error as CSVTable.ParseError {
                        throw error
                    } catch {
                        throw Unreadable(source: "\(source)/\(entry.path)", problem: "cannot be inflated: \(error)")
                    }
                }, local: nil)
        }
        return (files, issues)
    }

    /// Reads whole table files into a package (bounded by `limit` per table).
    static func read(_ files: [TableFile], issues: [ImportIssue], limit: Int) throws(Unreadable) -> (package: HSDSDataPackage, issues: [ImportIssue]) {
        var texts: [String: String] = [:]
        for file in files {
            var data = Data()
            do {
                try file.read(limit) { data.append($0) }
            } catch let error as Unreadable {
                throw error
            } catch {
                throw Unreadable(source: file.name, problem: "cannot be read: \(error)")
            }
            texts[file.name] = String(decoding: data, as: UTF8.self)
        }
        let parsed = parse(texts: texts)
        return (parsed.package, issues + parsed.issues)
    }

    /// Reads every `*.csv` of a folder. A datapackage.json, when present, names the files.
    public static func read(folder: URL) throws(Unreadable) -> (package: HSDSDataPackage, issues: [ImportIssue]) {
        let (files, issues) = try tableFiles(folder: folder)
        return try read(files, issues: issues, limit: maximumTableBytes)
    }

    /// Reads a zip data package. Nothing is written to disk; a table larger than
    /// `maximumTableBytes` once inflated is refused.
    public static func read(zip: URL) throws(Unreadable) -> (package: HSDSDataPackage, issues: [ImportIssue]) {
        let (files, issues) = try tableFiles(try archive(zip), source: zip.lastPathComponent)
        return try read(files, issues: issues, limit: maximumTableBytes)
    }

    static func archive(_ zip: URL) throws(Unreadable) -> Archive {
        do {
            return try Archive(url: zip, accessMode: .read)
        } catch {
            throw Unreadable(source: zip.path, problem: "is not a readable zip archive: \(error)")
        }
    }

    /// The same from the zip's bytes (an upload).
    public static func read(zipData: Data, source: String, limit: Int = maximumTableBytes) throws(Unreadable) -> (
        package: HSDSDataPackage, issues: [ImportIssue]
    ) {
        let archive: Archive
        do {
            archive = try Archive(data: zipData, accessMode: .read)
        } catch {
            throw Unreadable(source: source, problem: "is not a readable zip archive: \(error)")
        }
        let (files, issues) = try tableFiles(archive, source: source)
        return try read(files, issues: issues, limit: limit)
    }

    static func inflate(_ entry: ZIPFoundation.Entry, from archive: Archive, source: String, limit: Int) throws(Unreadable) -> Data {
        guard entry.uncompressedSize <= UInt64(limit) else {
            throw Unreadable(source: "\(source)/\(entry.path)", problem: "inflates to \(entry.uncompressedSize) bytes, over the \(limit) a table may have")
        }
        var data = Data()
        do {
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                guard data.count + chunk.count <= limit else { throw Unreadable(source: "\(source)/\(entry.path)", problem: "inflates past \(limit) bytes") }
                data.append(chunk)
            }
        } catch let error as Unreadable {
            throw error
        } catch {
            throw Unreadable(source: "\(source)/\(entry.path)", problem: "cannot be inflated: \(error)")
        }
        return data
    }

    /// The package as a zip data package: the files `write(folder:)` writes, at the top.
    public func zipped() throws -> Data {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (name, data) in files() {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        guard let data = archive.data else { throw Unreadable(source: "zip", problem: "the archive was not built in memory") }
        return data
    }

    /// Writes the tables as `<table>.csv` with a datapackage.json describing them.
    public func write(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, data) in files() { try data.write(to: folder.appendingPathComponent(name)) }
    }

    /// The files of the package: `<table>.csv` and datapackage.json.
    func files() -> [(name: String, data: Data)] {
        var files: [(name: String, data: Data)] = []
        var resources: [[String: Any]] = []
        for name in Self.tableNames {
            guard let table = tables[name] else { continue }
            files.append(("\(name).csv", Data(table.text.utf8)))
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
        // Sorted keys: the same catalogue gives the same bytes.
        files.append(("datapackage.json", (try? JSONSerialization.data(withJSONObject: descriptor, options: [.prettyPrinted, .sortedKeys])) ?? Data()))
        return files
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

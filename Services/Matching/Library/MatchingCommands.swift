import ArgumentParser
import Foundation
import Logging
import PostgresClient
import ServiceRuntime

/// `passerelle-matching import-hsds <path>`: loads an Open Referral HSDS data package (a folder,
/// a zip, or an HSDS 3 JSON file of service records).
struct ImportHSDSCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "import-hsds",
            abstract: "Import an Open Referral HSDS directory (a folder of CSV tables, a zip data package or HSDS 3 JSON) into the catalogue.",
            discussion: """
                Rows that cannot be used are listed (file, row, reason) and the rest is imported; services without a need
                category, under a missing organisation or with unreadable languages are imported and listed for review.
                Importing the same data again updates the resources it created. Taxonomy terms map to need categories
                through --mapping (files separated by commas), else PASSERELLE_HSDS_TAXONOMY_MAPPING, else the built-in
                crosswalks (AIRS/211, Open Eligibility).
                """)
    }
    @Argument(help: "Folder holding services.csv and the other tables, a .zip data package, or a .json file of HSDS 3 service records.") var folder: String
    @Option(help: "Taxonomy crosswalk files (JSON), separated by commas.") var mapping: String?
    @Flag(help: "Also print, for each categorised service, its need categories and the crosswalk rules that gave them.") var showRules = false
    init() {}

    func run() async throws {
        let settings = try ServiceCommand<MatchingService>.settings()
        let mapping = try TaxonomyMapping.load(path: mapping ?? settings.environment.optionalString(MatchingService.mappingVariable))
        let path = URL(fileURLWithPath: folder)
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path.path, isDirectory: &isFolder)
        if exists && (isFolder.boolValue || path.pathExtension.lowercased() == "zip") {
            // Folders and zips stream: memory stays bounded whatever the directory's size, and
            // each part's report is printed as it is done.
            let summary = try await MatchingService.withMigratedPool(settings) { pool in
                try await StreamingImport(pool: pool, mapping: mapping).run(path) { report in Self.printReport(report, rules: showRules) }
            }
            print(
                Self.summary(
                    services: summary.services, created: summary.created, updated: summary.updated, categorised: summary.categorised,
                    uncategorised: summary.uncategorised, skipped: summary.skipped, needsReview: summary.needsReview))
            return
        }
        let (package, parseIssues) = try HSDSDataPackage.read(path: path)
        guard package.tables["services"] != nil else {
            throw ValidationError("\(folder) has no services table\(parseIssues.isEmpty ? "" : ": " + parseIssues.map(\.description).joined(separator: "; "))")
        }
        let report = try await MatchingService.withMigratedPool(settings) { pool in
            try await CatalogueTransfer(pool: pool, mapping: mapping).importPackage(package, parseIssues: parseIssues)
        }
        Self.printReport(report, rules: showRules)
        print(
            Self.summary(
                services: package.tables["services"]?.records.count ?? 0, created: report.created, updated: report.updated,
                categorised: report.categorised.count, uncategorised: report.uncategorised, skipped: report.skipped.count,
                needsReview: report.needsReview.count))
    }

    static func printReport(_ report: ImportReport, rules: Bool) {
        for issue in report.skipped { print("skipped \(issue)") }
        for issue in report.needsReview { print("to review \(issue)") }
        guard rules else { return }
        for service in report.categorised {
            print(
                "categorised services.csv row \(service.row) (\(service.service)): \(service.categories.joined(separator: ", ")) by \(service.rules.joined(separator: "; "))"
            )
        }
    }

    static func summary(services: Int, created: Int, updated: Int, categorised: Int, uncategorised: Int, skipped: Int, needsReview: Int) -> String {
        """
        imported \(created + updated) resources (\(created) new, \(updated) updated) of \(services) services; \
        \(categorised) with a need category, \(uncategorised) uncategorised; \(skipped) rows skipped, \(needsReview) to review
        """
    }
}

/// `passerelle-matching export-hsds <folder>`: writes the catalogue as an HSDS data package.
struct ExportHSDSCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "export-hsds", abstract: "Export the catalogue as an Open Referral HSDS data package that import-hsds reads back.")
    }
    @Argument(help: "Folder to write the CSV tables and datapackage.json to; a path ending in .zip writes a zip data package, in .json HSDS 3 service records.")
    var folder: String
    init() {}

    func run() async throws {
        let settings = try ServiceCommand<MatchingService>.settings()
        let package = try await MatchingService.withMigratedPool(settings) { try await CatalogueTransfer(pool: $0, mapping: .standard).exportPackage() }
        let destination = URL(fileURLWithPath: folder)
        switch destination.pathExtension.lowercased() {
        case "zip": try package.zipped().write(to: destination)
        case "json": try HSDSServiceRecords.json(package).write(to: destination)
        default: try package.write(folder: destination)
        }
        print("exported \(package.tables["services"]?.records.count ?? 0) resources to \(folder)")
    }
}

extension MatchingService {
    public static var commands: [any ParsableCommand.Type] { [ImportHSDSCommand.self, ExportHSDSCommand.self] }

    /// Runs `body` with a pool on the service's schema, migrated first when the settings say so.
    package static func withMigratedPool<T: Sendable>(_ settings: ServiceSettings, _ body: @Sendable (PostgresConnectionPool) async throws -> T) async throws
        -> T
    {
        let logger = ServiceCommand<MatchingService>.logger(settings)
        let pool = PostgresConnectionPool(configuration: settings.postgres, logger: logger)
        do {
            if settings.migrateOnStart {
                try await SchemaMigrator(schema: settings.postgres.schema ?? name, migrations: migrations).migrate(pool, logger: logger)
            }
            let result = try await body(pool)
            await pool.close()
            return result
        } catch {
            await pool.close()
            throw error
        }
    }
}

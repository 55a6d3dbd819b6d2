import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresClient
import ServiceRuntime
import Synchronization
import TestSupport
import Testing

@testable import MatchingService

/// A 211 directory, imported whole: the generated package beside generate.py in
/// Fixtures/hsds-211 (AIRS codes across the taxonomy, missing organizations and taxonomy rows,
/// languages written as names and sentences, services without terms).
@Suite(
    "211 directories: crosswalk, review and the share categorised, against PostgreSQL", .enabled(if: TestEnvironment.integrationEnabled),
    .timeLimit(.minutes(3)))
struct DirectoryImportTests {
    static let fixture = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/MatchingTests/Fixtures/hsds-211")

    @Test("a 211 directory imports at least 95 % of its services with a need category, and every other row has its reason")
    func shareCategorised() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let (package, parseIssues) = try HSDSDataPackage.read(folder: Self.fixture)
        #expect(parseIssues.isEmpty, "\(parseIssues)")
        let services = try #require(package.tables["services"])
        let transfer = CatalogueTransfer(pool: test.pool, mapping: .standard)
        let report = try await transfer.importPackage(package, parseIssues: parseIssues)

        let rows = services.records.count
        let categorisedRows = Set(report.categorised.map(\.row))
        #expect(Double(categorisedRows.count) / Double(rows) >= 0.95, "\(categorisedRows.count) of \(rows) categorised")
        // Every services.csv row is categorised, or was left out or imported for review with a reason.
        let explained = Set((report.skipped + report.needsReview).filter { $0.file == "services.csv" && !$0.reason.isEmpty }.map(\.row))
        let unexplained = (2..<(rows + 2)).filter { !categorisedRows.contains($0) && !explained.contains($0) }
        #expect(unexplained.isEmpty, "rows without a category or a reason: \(unexplained.prefix(20))")
        #expect(report.created + report.updated + report.skipped.filter { $0.file == "services.csv" }.count == rows)
        #expect(report.uncategorised == report.needsReview.filter { $0.file == "services.csv" && $0.reason.hasPrefix("uncategorised") }.count)
        #expect(report.uncategorised > 0 && report.skipped.contains { $0.file == "services.csv" })

        // The most specific rule decides and is reported.
        let pantry = try #require(report.categorised.first { $0.rules.contains { $0.contains("code BD-1800.2000 (Food Pantries)") } })
        #expect(pantry.categories.contains("food-security"))
        #expect(report.categorised.contains { $0.rules.contains { $0.contains("code PN-8100 (Support Groups)") } })
        #expect(!report.categorised.contains { $0.categories.isEmpty })
        // Reasons of each kind.
        #expect(report.needsReview.contains { $0.reason.contains("only target-population terms") })
        #expect(report.needsReview.contains { $0.reason.contains("no taxonomy term") })
        #expect(report.needsReview.contains { $0.reason.contains("Information Services") && $0.reason.contains("no need category") })
        #expect(report.needsReview.contains { $0.reason.contains("org-missing-") && $0.reason.contains("placeholder") })
        #expect(report.needsReview.contains { $0.file == "services_taxonomy.csv" && $0.reason.contains("read by its id as AIRS") })
        #expect(report.needsReview.contains { $0.file == "languages.csv" && $0.reason.contains("translation services sometimes available") })

        // Languages by name and code; target populations as eligibility.
        let stored = try await CatalogueImportTests.catalogue(test.pool).joined(separator: "\n")
        for code in ["\"ht\"", "\"he\"", "\"vi\"", "\"es\"", "\"ase\""] { #expect(stored.contains(code), "language \(code)") }
        #expect(stored.contains("Populations cibles : "))

        // Re-importing updates in place.
        let again = try await transfer.importPackage(package, parseIssues: parseIssues)
        #expect(again.created == 0 && again.updated == report.created && again.categorised == report.categorised)

        // Uncategorised resources are never candidates of automatic matching.
        let snapshot = try await test.pool.withConnection { try await CatalogueCache.load(on: $0) }
        let count = try await test.pool.withConnection {
            try await $0.query("SELECT count(*) AS n FROM community_resource WHERE active AND cardinality(categories) > 0").first!.decode("n", as: Int.self)
        }
        #expect(snapshot.resources.count == count && snapshot.resources.allSatisfy { !$0.categories.isEmpty })
        await test.tearDown()
    }

    static func lines(_ issues: [ImportIssue]) -> [String] { issues.map { "\($0.file)|\($0.row)|\($0.reason)" }.sorted() }

    @Test("a streamed import (folders and zips, a batch at a time) gives what the in-memory import gives")
    func streamingMatchesInMemory() async throws {
        let memory = try await ServiceTestHost.make(MatchingService.self)
        let streamed = try await ServiceTestHost.make(MatchingService.self)
        let sample = PackageFormatTests.temporary("sample")
        defer { try? FileManager.default.removeItem(at: sample) }
        try FileManager.default.createDirectory(at: sample, withIntermediateDirectories: true)
        for (file, text) in HSDSSample.tables { try Data(text.utf8).write(to: sample.appendingPathComponent(file)) }
        var importer = StreamingImport(pool: streamed.pool, mapping: .standard)
        importer.servicesPerBatch = 97  // several batches, one of them short
        for source in [sample, Self.fixture] {
            let (package, parseIssues) = try HSDSDataPackage.read(folder: source)
            let report = try await CatalogueTransfer(pool: memory.pool, mapping: .standard).importPackage(package, parseIssues: parseIssues)
            let parts = Mutex<[ImportReport]>([])
            let summary = try await importer.run(source) { part in parts.withLock { $0.append(part) } }
            let all = parts.withLock { $0 }
            #expect(all.count > 1)
            #expect(summary.services == package.tables["services"]?.records.count)
            #expect(summary.created == report.created && summary.updated == report.updated && summary.uncategorised == report.uncategorised)
            #expect(
                summary.categorised == report.categorised.count && summary.skipped == report.skipped.count && summary.needsReview == report.needsReview.count)
            #expect(Self.lines(all.flatMap(\.skipped)) == Self.lines(report.skipped))
            #expect(Self.lines(all.flatMap(\.needsReview)) == Self.lines(report.needsReview))
            #expect(all.flatMap(\.categorised).sorted { $0.row < $1.row } == report.categorised.sorted { $0.row < $1.row })
            #expect(try await CatalogueImportTests.catalogue(streamed.pool) == CatalogueImportTests.catalogue(memory.pool))
        }
        // The fixture again, as a zip nested nowhere: every service updated in place.
        let zip = PackageFormatTests.temporary("fixture.zip")
        defer { try? FileManager.default.removeItem(at: zip) }
        try HSDSDataPackage.read(folder: Self.fixture).package.zipped().write(to: zip)
        let before = try await CatalogueImportTests.catalogue(streamed.pool)
        let again = try await importer.run(zip) { _ in }
        #expect(again.created == 0 && again.updated > 900 && again.categorised >= 950)
        #expect(try await CatalogueImportTests.catalogue(streamed.pool) == before)
        // A broken table is left out with its reason, the rest imported.
        try Data("id,name\ns1,\"unclosed\n".utf8).write(to: sample.appendingPathComponent("phones.csv"))
        let parts = Mutex<[ImportReport]>([])
        _ = try await importer.run(sample) { part in parts.withLock { $0.append(part) } }
        #expect(parts.withLock { $0 }.flatMap(\.skipped).contains { $0.file == "phones.csv" && $0.reason.contains("not valid CSV") })
        await streamed.tearDown()
        await memory.tearDown()
    }

    static func report(_ response: TestResponse) throws -> ImportReport {
        try JSONDecoder().decode(ImportReport.self, from: Data(String(buffer: response.body).utf8))
    }

    @Test("the API takes and gives zip data packages and HSDS 3 JSON; a malformed upload is refused with its reason")
    func zipAndJSONOverHTTP() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let coordinator = try await test.token(.networkCoordinator)
        let json: HTTPFields = [.authorization: "Bearer \(coordinator)", .contentType: "application/json"]
        let zip: HTTPFields = [.authorization: "Bearer \(coordinator)", .contentType: "application/zip"]
        try await test.host.application.test(.router) { client in
            let first = try await client.execute(
                uri: "/v1/catalogue/imports", method: .post, headers: json, body: try CatalogueImportTests.body(HSDSSample.tables))
            #expect(try Self.report(first).created == 6)
            let before = try await CatalogueImportTests.catalogue(test.pool)

            let zipped = try await client.execute(uri: "/v1/catalogue/export?format=zip", method: .get, headers: json)
            #expect(zipped.status == .ok && zipped.headers[.contentType] == "application/zip")
            let back = try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: zip, body: zipped.body)
            #expect(back.status == .ok)
            let fromZip = try Self.report(back)
            #expect(fromZip.updated == 6 && fromZip.created == 0 && fromZip.skipped.isEmpty, "\(fromZip.skipped)")

            let records = try await client.execute(uri: "/v1/catalogue/export?format=hsds-json", method: .get, headers: json)
            let contents = try #require(try CatalogueImportTests.json(records)["contents"] as? [[String: Any]])
            #expect(contents.count == 6 && contents.allSatisfy { $0["id"] != nil && $0["name"] != nil })
            let fromJSON = try Self.report(try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: json, body: records.body))
            #expect(fromJSON.updated == 6 && fromJSON.skipped.isEmpty, "\(fromJSON.skipped)")
            #expect(try await CatalogueImportTests.catalogue(test.pool) == before, "zip and JSON round trips change nothing")

            let malformed = try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: zip, body: ByteBuffer(string: "PK\u{3}\u{4}garbage"))
            #expect(malformed.status == .unprocessableContent && String(buffer: malformed.body).contains("zip"))
            #expect(
                try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: json, body: ByteBuffer(string: #"{"contents": "nope"}"#)).status
                    == .unprocessableContent)
            #expect(try await client.execute(uri: "/v1/catalogue/export?format=xml", method: .get, headers: json).status == .unprocessableContent)
            // Text PostgreSQL cannot store is a 422 at its place in the upload, and nothing is written.
            for upload in [#"{"tables": {"services.csv": "id,name\nnul,a\u0000b"}}"#, #"[{"id": "s1", "name": "Caf\udce9"}]"#] {
                let refused = try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: json, body: ByteBuffer(string: upload))
                #expect(refused.status == .unprocessableContent && String(buffer: refused.body).contains("\"pointer\":\"/"), "\(String(buffer: refused.body))")
            }
            #expect(try await CatalogueImportTests.catalogue(test.pool) == before)
        }
        await test.tearDown()
    }

    @Test("coordinators list what imports left to review, page by page; link workers find uncategorised resources by search only")
    func reviewList() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let coordinator = try await test.token(.networkCoordinator)
        let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
        let headers: HTTPFields = [.authorization: "Bearer \(coordinator)", .contentType: "application/json"]
        try await test.host.application.test(.router) { client in
            let imported = try await client.execute(
                uri: "/v1/catalogue/imports", method: .post, headers: headers, body: try CatalogueImportTests.body(HSDSSample.tables))
            #expect(imported.status == .ok)
            let review = try await client.execute(uri: "/v1/catalogue/review", method: .get, headers: headers)
            #expect(review.status == .ok)
            let page = try JSONDecoder().decode(CatalogueTransferRoutes.ReviewPage.self, from: Data(String(buffer: review.body).utf8))
            #expect(Set(page.resources.map(\.name)) == ["Orphan service", "Horoscopes", "Club de marche"] && page.next == nil)
            let horoscopes = try #require(page.resources.first { $0.name == "Horoscopes" })
            #expect(horoscopes.uncategorised && horoscopes.serviceId == "s6" && horoscopes.reasons.first?.hasPrefix("uncategorised") == true)
            let orphan = try #require(page.resources.first { $0.name == "Orphan service" })
            #expect(orphan.placeholderOrganisation && orphan.organisation == "Organisation à vérifier (o9)" && !orphan.uncategorised)
            #expect(page.resources.first { $0.name == "Club de marche" }?.unreadLanguages == ["some volunteers speak a little"])

            // Paging by resource id.
            var seen: [UUID] = []
            var after: UUID?
            repeat {
                let uri = "/v1/catalogue/review?limit=1" + (after.map { "&after=\($0)" } ?? "")
                let part = try JSONDecoder().decode(
                    CatalogueTransferRoutes.ReviewPage.self,
                    from: Data(String(buffer: try await client.execute(uri: uri, method: .get, headers: headers).body).utf8))
                seen += part.resources.map(\.resourceId)
                after = part.next
            } while after != nil
            #expect(seen == page.resources.map(\.resourceId))
            #expect(try await client.execute(uri: "/v1/catalogue/review?limit=0", method: .get, headers: headers).status == .unprocessableContent)
            #expect(try await client.execute(uri: "/v1/catalogue/review?after=nope", method: .get, headers: headers).status == .unprocessableContent)
            #expect(try await client.execute(uri: "/v1/catalogue/review", method: .get, headers: [.authorization: "Bearer \(worker)"]).status == .forbidden)

            // A coordinator's edit settles it.
            let settled = try await client.execute(
                uri: "/v1/resources/\(orphan.resourceId)", method: .put, headers: headers,
                body: ByteBuffer(
                    string:
                        #"{"organisation": "Réseau Ouest", "name": "Orphan service", "kind": "external-partner", "categories": ["physical-activity"], "description": "", "languages": ["en"], "interpretationAvailable": false, "delivery": ["virtual"], "weekdays": [], "eligibility": {"areas": []}, "accessibility": [], "capacity": {"seatsTaken": 0, "waitlistAllowed": false}, "tags": [], "contact": "https://example.org/orphan", "active": true}"#
                ))
            #expect(settled.status == .ok)
            let remaining = try JSONDecoder().decode(
                CatalogueTransferRoutes.ReviewPage.self,
                from: Data(String(buffer: try await client.execute(uri: "/v1/catalogue/review", method: .get, headers: headers).body).utf8))
            #expect(Set(remaining.resources.map(\.name)) == ["Horoscopes", "Club de marche"])

            // Searchable by link workers…
            let search = try await client.execute(uri: "/v1/resources", method: .get, headers: [.authorization: "Bearer \(worker)"])
            #expect(String(buffer: search.body).contains("Horoscopes"))
            // …and a resource made by hand still needs a category.
            let made = try await client.execute(
                uri: "/v1/resources", method: .post, headers: headers,
                body: ByteBuffer(
                    string:
                        #"{"organisation": "CSC", "name": "Rien", "kind": "external-partner", "categories": [], "description": "", "languages": ["fr"], "interpretationAvailable": false, "delivery": ["phone"], "weekdays": [], "eligibility": {"areas": []}, "accessibility": [], "capacity": {"seatsTaken": 0, "waitlistAllowed": false}, "tags": [], "active": true}"#
                ))
            #expect(made.status == .unprocessableContent)
        }
        // Never proposed: a referral for every need gets no uncategorised resource.
        let matchmaker = MatchingService.matchmaker(test.host.components, try MatchingSettings.read(test.host.components.settings.environment))
        let everything = MatchingServiceTests().received(needs: NeedCategory.allCodes)
        try await test.pool.transaction { try await matchmaker.receive(everything, on: $0) }
        let proposed = try await test.pool.withConnection {
            try await $0.query("SELECT resource_id FROM referral_match WHERE referral_id = \(everything.referralID)::uuid").map {
                try $0.decode("resource_id", as: UUID.self)
            }
        }
        #expect(!proposed.isEmpty && !proposed.contains(HSDSReader.resourceID(serviceID: "s6")))
        await test.tearDown()
    }
}

@Suite("HSDS packages as folders, zips and HSDS 3 JSON, and hostile ones")
struct PackageFormatTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("hsds-\(UUID())-\(name)")
    }

    /// Runs a short Python script (zips built byte by byte as hostile senders do).
    static func python(_ script: String, _ arguments: [String]) async throws {
        let (status, output) = try await ChildProcess.run(["python3", "-c", script] + arguments)
        #expect(status == 0, "\(output)")
    }

    @Test("a zip data package and HSDS 3 service records read back to the same resources")
    func zipAndJSON() throws {
        let (sample, _) = HSDSDataPackage.parse(texts: HSDSSample.tables)
        let reading = HSDSReader(mapping: .standard).read(sample)
        let exported = HSDSWriter().write(reading.resources)

        let zip = try exported.zipped()
        let (unzipped, zipIssues) = try HSDSDataPackage.read(zipData: zip, source: "test.zip")
        #expect(zipIssues.isEmpty && unzipped == exported)
        let file = Self.temporary("catalogue.zip")
        defer { try? FileManager.default.removeItem(at: file) }
        try zip.write(to: file)
        #expect(try HSDSDataPackage.read(path: file).package == exported)

        let json = try HSDSServiceRecords.json(exported)
        let (records, jsonIssues) = try HSDSServiceRecords.package(json: json)
        #expect(jsonIssues.isEmpty)
        let fromJSON = HSDSReader(mapping: .standard).read(records)
        #expect(fromJSON.issues.isEmpty, "\(fromJSON.issues)")
        #expect(fromJSON.resources.map(\.resource) == reading.resources.map(\.resource))
        #expect(fromJSON.resources.map(\.placeholderOrganisation) == reading.resources.map(\.placeholderOrganisation))
        #expect(fromJSON.resources.map(\.unreadLanguages) == reading.resources.map(\.unreadLanguages))
        let jsonFile = Self.temporary("services.json")
        defer { try? FileManager.default.removeItem(at: jsonFile) }
        try json.write(to: jsonFile)
        #expect(try HSDSDataPackage.read(path: jsonFile).package == records)
    }

    @Test("HSDS 3 records with nested organization, locations, schedules, phones, languages and taxonomy terms")
    func hsds3Records() throws {
        let json = Data(
            #"""
            {"total_items": 2, "contents": [
              {"id": "0b9c4f7e-1d2a-4a8e-9f3c-2f1b7d6e5a40", "name": "Mobile pantry", "description": "Groceries", "status": "active",
               "organization": {"id": "org-a", "name": "Food Network"},
               "service_at_locations": [{"id": "sal-1", "location": {"id": "loc-1", "name": "Depot", "latitude": 45.4155, "longitude": -75.6972,
                  "addresses": [{"address_1": "10 Main St", "city": "Ottawa", "state_province": "ON", "postal_code": "K1A 0B1", "country": "CA"}]}}],
               "schedules": [{"byday": "TU,TH", "opens_at": "09:00", "closes_at": "12:00"}],
               "phones": [{"number": "613-555-0199"}], "languages": [{"name": "Creole"}, {"code": "fr"}],
               "attributes": [{"taxonomy_term": {"id": "tt-1", "code": "BD-1800.2000", "name": "Food Pantries", "vocabulary": "AIRS"}},
                              {"taxonomy_term": {"id": "tt-2", "code": "YB-8000", "name": "Older Adults", "vocabulary": "AIRS"}}]},
              "not a record"]}
            """#.utf8)
        let (package, issues) = try HSDSServiceRecords.package(json: json)
        #expect(issues.map(\.row) == [2])
        let reading = HSDSReader(mapping: .standard).read(package)
        let pantry = try #require(reading.resources.first)
        #expect(pantry.resource.id == UUID(uuidString: "0b9c4f7e-1d2a-4a8e-9f3c-2f1b7d6e5a40"))
        #expect(pantry.resource.organisation == "Food Network" && pantry.resource.categories.map(\.code) == ["food-security"])
        #expect(pantry.resource.languages == ["ht", "fr"] && pantry.resource.weekdays == [2, 4] && pantry.resource.contact == "613-555-0199")
        #expect(
            pantry.resource.openingHours == [.init(weekday: 2, opensAt: "09:00", closesAt: "12:00"), .init(weekday: 4, opensAt: "09:00", closesAt: "12:00")])
        #expect(pantry.resource.address == "10 Main St, Ottawa, ON K1A 0B1" && pantry.resource.coordinates?.latitude == 45.4155)
        #expect(pantry.resource.eligibility.notes == "Populations cibles : Older Adults")
        #expect(pantry.taxonomyRules.contains("AIRS/211 LA County Taxonomy 1.0.0 code BD-1800.2000 (Food Pantries)"))

        #expect(throws: HSDSServiceRecords.InvalidDocument.self) { try HSDSServiceRecords.package(json: Data("{\"services\": 3}".utf8)) }
        #expect(throws: HSDSServiceRecords.InvalidDocument.self) { try HSDSServiceRecords.package(json: Data("<html>".utf8)) }
    }

    @Test("huge fields: a long description is kept whole, a long language value is kept shortened for review")
    func hugeFields() throws {
        var tables = HSDSSample.tables
        let description = String(repeating: "Très long. ", count: 200_000)
        tables["services.csv"] = "id,organization_id,name,description,url\ns1,o1,Long,\(description),https://example.org\n"
        tables["languages.csv"] = "id,service_id,language\ng1,s1,\(String(repeating: "blah ", count: 20_000))\n"
        let (package, issues) = HSDSDataPackage.parse(texts: tables)
        #expect(issues.isEmpty)
        let reading = HSDSReader(mapping: .standard).read(package)
        let long = try #require(reading.resources.first)
        #expect(long.resource.description == description.trimmingCharacters(in: .whitespaces))
        #expect(long.unreadLanguages.first?.count == HSDSReader.maximumFreeTextLanguage)
        #expect(reading.reviewed.contains { $0.file == "languages.csv" && $0.reason.count < 400 })
    }

    @Test("the streaming parser reads CSV as the whole-text parser does, a byte at a time or all at once; NUL is dropped")
    func streamingParser() throws {
        let texts =
            Array(HSDSSample.tables.values) + [
                "\u{FEFF}a,b\r\n\"x\"\"y\",\"1\r\n2\"\r\n\r\nlast,\"\"", "a\n\"open", "a\nb\"c", "a\n\"q\"tail", "a,b\nn\u{0}ul,2\n",
            ]
        for text in texts {
            let whole = Result { try CSVTable.parse(text) }
            for size in [1, 3, 1 << 16] {
                var parser = CSVStreamParser()
                var rows: [[String]] = []
                let bytes = Array(text.utf8)
                let streamed = Result { () throws -> [[String]] in
                    for start in stride(from: 0, to: bytes.count, by: size) {
                        try parser.feed(Data(bytes[start..<min(start + size, bytes.count)])) { rows.append($0) }
                    }
                    try parser.finish { rows.append($0) }
                    return rows
                }
                switch (whole, streamed) {
                case (.success(let expected), .success(let got)): #expect(got == expected, "\(text.prefix(40)) in chunks of \(size)")
                case (.failure(let expected as CSVTable.ParseError), .failure(let got as CSVTable.ParseError)): #expect(got == expected)
                default: Issue.record("\(text.prefix(40)): \(whole) against \(streamed)")
                }
            }
        }
        #expect(try CSVTable.parse("a,b\nn\u{0}ul,2\n") == [["a", "b"], ["nul", "2"]])
    }

    @Test("hostile packages: paths leaving the folder, links out of it, malformed and oversized zips")
    func hostile() async throws {
        let folder = Self.temporary("package")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try HSDSSample.tables["services.csv"]!.write(to: folder.appendingPathComponent("services.csv"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("phones.csv").path, withDestinationPath: "/etc/passwd")
        try Data(
            #"{"resources": [{"path": "services.csv"}, {"path": "../../etc/passwd"}, {"path": "/etc/passwd"}, {"path": "phones.csv"}, {"path": "https://example.org/x.csv"}, {"path": ["a.csv", "b.csv"]}, {"path": "missing.csv"}]}"#
                .utf8
        )
        .write(to: folder.appendingPathComponent("datapackage.json"))
        let (package, issues) = try HSDSDataPackage.read(path: folder)
        #expect(Set(package.tables.keys) == ["services"])
        #expect(issues.filter { $0.reason.contains("leaves the package") }.count == 3, "\(issues)")
        #expect(issues.contains { $0.file == "phones.csv" && $0.reason.contains("outside the package folder") })
        #expect(issues.contains { $0.reason.contains("no single \"path\"") } && issues.contains { $0.file == "missing.csv" })

        #expect(throws: HSDSDataPackage.Unreadable.self) { try HSDSDataPackage.read(zipData: Data("PK\u{3}\u{4}not a zip at all".utf8), source: "bad.zip") }
        #expect(throws: HSDSDataPackage.Unreadable.self) { try HSDSDataPackage.read(path: URL(fileURLWithPath: "/nonexistent/package")) }
        let text = Self.temporary("notes.txt")
        defer { try? FileManager.default.removeItem(at: text) }
        try Data("hello".utf8).write(to: text)
        #expect(throws: HSDSDataPackage.Unreadable.self) { try HSDSDataPackage.read(path: text) }

        // A zip nested in a folder, whose descriptor points outside it; then a table that inflates past the limit.
        let zip = Self.temporary("nested.zip")
        defer { try? FileManager.default.removeItem(at: zip) }
        try await Self.python(
            """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("export/datapackage.json", '{"resources": [{"path": "services.csv"}, {"path": "../secret.csv"}]}')
                z.writestr("export/services.csv", sys.argv[2])
                z.writestr("secret.csv", "id\\nx\\n")
            """, [zip.path, HSDSSample.tables["services.csv"]!])
        let nested = try HSDSDataPackage.read(zipData: try Data(contentsOf: zip), source: "nested.zip", limit: 100_000)
        #expect(nested.package.tables["services"]?.records.count == 9 && nested.issues.contains { $0.reason.contains("leaves the package") })
        try await Self.python(
            """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("services.csv", "id,name\\n" + "s,x\\n" * 100000)
            """, [zip.path])
        #expect(throws: HSDSDataPackage.Unreadable.self) { try HSDSDataPackage.read(zipData: try Data(contentsOf: zip), source: "bomb.zip", limit: 100_000) }
    }
}

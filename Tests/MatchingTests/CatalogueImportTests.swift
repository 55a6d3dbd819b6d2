import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import MatchingService

@Suite(
    "HSDS import and export, rematch and the in-memory catalogue, against PostgreSQL", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2))
)
struct CatalogueImportTests {
    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
    }

    static func body(_ tables: [String: String]) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(["tables": tables]))
    }

    /// The catalogue as rows of text, without the timestamps, for comparing two catalogues.
    static func catalogue(_ pool: PostgresConnectionPool) async throws -> [String] {
        try await pool.withConnection { connection in
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT row_to_json(r)::text AS line FROM (SELECT \(CatalogueStore.resourceColumns) FROM community_resource ORDER BY id) r
                        """)
            ).map { try $0.decode("line", as: String.self) }
        }
    }

    @Test("a messy directory imports what it can and reports every row it skips; re-importing updates; export round-trips")
    func importAndRoundTrip() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let copy = try await ServiceTestHost.make(MatchingService.self)
        let coordinator = try await test.token(.networkCoordinator)
        let headers: HTTPFields = [.authorization: "Bearer \(coordinator)", .contentType: "application/json"]
        try await test.host.application.test(.router) { client in
            let first = try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: headers, body: try Self.body(HSDSSample.tables))
            #expect(first.status == .ok)
            let report = try JSONDecoder().decode(ImportReport.self, from: Data(String(buffer: first.body).utf8))
            #expect(report.created == 6 && report.updated == 0 && report.uncategorised == 1)
            let skipped = Set(report.skipped.map { "\($0.file):\($0.row)" })
            #expect(
                skipped == [
                    "locations.csv:4", "regular_schedules.csv:4", "services.csv:5", "services.csv:8", "services.csv:9", "services_at_location.csv:5",
                    "services_taxonomy.csv:7",
                ], "\(report.skipped)")
            #expect(report.skipped.contains { $0.file == "services.csv" && $0.row == 9 && $0.reason.contains("repeats row 2") })
            // Imported, each with its reason to review: the unknown organisation, the term that
            // maps to nothing, the language written as a sentence.
            #expect(Set(report.needsReview.map { "\($0.file):\($0.row)" }) == ["languages.csv:4", "services.csv:6", "services.csv:7"], "\(report.needsReview)")
            #expect(report.needsReview.contains { $0.row == 6 && $0.reason.contains("organization_id \"o9\"") && $0.reason.contains("placeholder") })
            #expect(report.needsReview.contains { $0.row == 7 && $0.reason.hasPrefix("uncategorised") && $0.reason.contains("Astrology") })
            #expect(report.needsReview.contains { $0.file == "languages.csv" && $0.reason.contains("some volunteers speak a little") })
            let walkingRules = try #require(report.categorised.first { $0.service == "s1" })
            #expect(walkingRules.row == 2 && walkingRules.categories == ["social-isolation", "physical-activity"])
            #expect(walkingRules.rules == ["Open Eligibility and common directory terms 2.0.0 term \"Walking Groups\""])

            let stored = try await test.pool.withConnection { connection in
                try await CatalogueStore(pool: test.pool).resource(id: HSDSReader.resourceID(serviceID: "s1"), on: connection)
            }
            let walking = try #require(stored)
            #expect(walking.name == "Club de marche" && walking.organisation == "Centre de santé communautaire Ouest")
            #expect(walking.kind == .healthChampionGroup)
            #expect(walking.categories.map(\.code) == ["social-isolation", "physical-activity"])
            #expect(walking.languages == ["fr", "en"])
            #expect(walking.weekdays == [2] && walking.schedule == "Tue 10:00–11:30")
            #expect(walking.openingHours == [.init(weekday: 2, opensAt: "10:00", closesAt: "11:30")])
            #expect(walking.eligibility.minimumAge == 55 && walking.eligibility.notes == "Adultes de 55 ans et plus")
            #expect(walking.capacity.seats == 12 && walking.tags == ["walking", "nature"])
            #expect(walking.accessibility == ["step-free access"] && walking.cost == "Gratuit")
            #expect(walking.address == "1064 rue Wellington Ouest, Ottawa, ON K1Y 2Y3")
            #expect(walking.coordinates?.latitude == 45.4012)

            let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
            let grief = try await client.execute(uri: "/v1/resources?category=bereavement", method: .get, headers: [.authorization: "Bearer \(worker)"])
            let griefList = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: grief.body).utf8)) as? [[String: Any]])
            #expect(griefList.count == 1)
            #expect(griefList.first?["delivery"] as? [String] == ["virtual"])
            #expect(griefList.first?["languages"] as? [String] == ["fr"])

            // Seats taken survive a re-import, which updates instead of duplicating.
            try await test.pool.withConnection { try await $0.query("UPDATE community_resource SET seats_taken = 3 WHERE name = 'Club de marche'") }
            let before = try await Self.catalogue(test.pool)
            let again = try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: headers, body: try Self.body(HSDSSample.tables))
            let second = try JSONDecoder().decode(ImportReport.self, from: Data(String(buffer: again.body).utf8))
            #expect(second.created == 0 && second.updated == 6)
            #expect(try await Self.catalogue(test.pool) == before)

            // Export, then import the export elsewhere and here: the same catalogue.
            let exported = try await client.execute(uri: "/v1/catalogue/export", method: .get, headers: headers)
            #expect(exported.status == .ok)
            let tables = try #require(try Self.json(exported)["tables"] as? [String: String])
            #expect(Set(tables.keys).isSuperset(of: ["services.csv", "organizations.csv", "locations.csv", "taxonomy.csv", "services_taxonomy.csv"]))
            let back = try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: headers, body: try Self.body(tables))
            let third = try JSONDecoder().decode(ImportReport.self, from: Data(String(buffer: back.body).utf8))
            #expect(third.created == 0 && third.updated == 6 && third.skipped.isEmpty, "\(third.skipped)")
            #expect(third.uncategorised == 1 && third.needsReview.count == 3, "what was to review still is: \(third.needsReview)")
            #expect(try await Self.catalogue(test.pool) == before)
            let reexported = try await client.execute(uri: "/v1/catalogue/export", method: .get, headers: headers)
            #expect(try Self.json(reexported)["tables"] as? [String: String] == tables, "exporting twice gives the same files")

            let csv = try await client.execute(uri: "/v1/catalogue/export?table=services", method: .get, headers: headers)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(String(buffer: csv.body).hasPrefix("id,organization_id,program_id,name,"))
            #expect(try await client.execute(uri: "/v1/catalogue/export?table=nope", method: .get, headers: headers).status == .unprocessableContent)

            try await copy.host.application.test(.router) { other in
                let copyToken = try await copy.token(.networkCoordinator)
                let imported = try await other.execute(
                    uri: "/v1/catalogue/imports", method: .post,
                    headers: [.authorization: "Bearer \(copyToken)", .contentType: "application/json"], body: try Self.body(tables))
                #expect(try JSONDecoder().decode(ImportReport.self, from: Data(String(buffer: imported.body).utf8)).created == 6)
            }
            // Seats taken are not part of the directory: compare without them.
            let here = try await Self.catalogue(test.pool).map { $0.replacingOccurrences(of: "\"seats_taken\":3", with: "\"seats_taken\":0") }
            #expect(try await Self.catalogue(copy.pool) == here)

            // Who may, and what is refused.
            #expect(
                try await client.execute(
                    uri: "/v1/catalogue/imports", method: .post, headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"],
                    body: try Self.body(HSDSSample.tables)
                ).status == .forbidden)
            let missing = try await client.execute(
                uri: "/v1/catalogue/imports", method: .post, headers: headers, body: try Self.body(["locations.csv": "id\nl1\n"]))
            #expect(missing.status == .unprocessableContent)
            #expect(String(buffer: missing.body).contains("/tables/services.csv"))
            let broken = try await client.execute(uri: "/v1/catalogue/imports", method: .post, headers: headers, body: ByteBuffer(string: #"{"tables": 3}"#))
            #expect(broken.status == .unprocessableContent)
        }
        await copy.tearDown()
        await test.tearDown()
    }

    @Test("folders: export writes CSV files and a datapackage.json that read back to the same tables")
    func folders() async throws {
        let (package, issues) = HSDSDataPackage.parse(texts: HSDSSample.tables.merging(["notes.txt": "hello"]) { $1 })
        #expect(
            issues == [ImportIssue(file: "notes.txt", row: 0, reason: "not a table this import reads (\(HSDSDataPackage.tableNames.joined(separator: ", ")))")])
        let resources = HSDSReader(mapping: .standard).read(package).resources
        let exported = HSDSWriter().write(resources)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hsds-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try exported.write(folder: folder)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("datapackage.json").path))
        let (read, readIssues) = try HSDSDataPackage.read(folder: folder)
        #expect(readIssues.isEmpty)
        #expect(read == exported)
        #expect(HSDSReader(mapping: .standard).read(read).resources.map(\.resource) == resources.map(\.resource))
    }

    @Test("a client referred without coordinates is measured from their postal area's centroid")
    func postalAreaCentroid() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let pool = test.pool
        try await pool.withConnection {
            try await CatalogueStore(pool: pool).save(Catalogue.resource("Café-causerie", categories: ["loneliness"], at: (45.40, -75.72)), on: $0)
        }
        var settings = try MatchingSettings.read(test.host.components.settings.environment)
        settings.postalAreas = PostalAreaCentroids(["K1Y": try Coordinates(latitude: 45.41, longitude: -75.72)])
        let matchmaker = MatchingService.matchmaker(test.host.components, settings)
        var unplaced = MatchingServiceTests().received()
        unplaced.coordinates = nil
        let referral = unplaced
        try await pool.transaction { try await matchmaker.receive(referral, on: $0) }
        let reasons = try await pool.withConnection {
            try await $0.query("SELECT reasons FROM referral_match WHERE referral_id = \(referral.referralID)::uuid").first?.decode(
                "reasons", as: [String].self)
        }
        #expect(reasons?.contains("1,1 km") == true, "distance from the centroid of K1Y: \(reasons ?? [])")
        await test.tearDown()
    }

    @Test("rematch after a catalogue change publishes new matches once per idempotency key")
    func rematch() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self, environment: ["PASSERELLE_MATCHING_TOP_N": "2"])
        let pool = test.pool
        let store = CatalogueStore(pool: pool)
        try await pool.withConnection { try await store.save(Catalogue.resource("Café-causerie", categories: ["loneliness"], at: (45.45, -75.80)), on: $0) }
        let matchmaker = MatchingService.matchmaker(test.host.components, try MatchingSettings.read(test.host.components.settings.environment))
        let referral = MatchingServiceTests().received()
        try await pool.transaction { try await matchmaker.receive(referral, on: $0) }

        let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
        let coordinator = try await test.token(.networkCoordinator)
        try await test.host.application.test(.router) { client in
            // A closer walking club arrives in the catalogue through the API.
            let created = try await client.execute(
                uri: "/v1/resources", method: .post, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(
                    string:
                        #"{"organisation": "CSC", "name": "Club de marche", "kind": "health-champion-group", "categories": ["loneliness"], "description": "", "languages": ["fr"], "interpretationAvailable": false, "delivery": ["in-person"], "coordinates": {"latitude": 45.4005, "longitude": -75.7205}, "weekdays": [2], "eligibility": {"areas": []}, "accessibility": [], "capacity": {"seatsTaken": 0, "waitlistAllowed": false}, "tags": ["walking"], "active": true}"#
                ))
            #expect(created.status == .created)
            let clubID = try #require(try Self.json(created)["id"] as? String)
            let rematch = { (key: String?) in
                var headers: HTTPFields = [.authorization: "Bearer \(worker)"]
                if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
                return try await client.execute(uri: "/v1/referrals/\(referral.referralID)/rematch", method: .post, headers: headers)
            }
            let first = try await rematch("k1")
            #expect(first.status == .ok)
            let matches = try #require(try Self.json(first)["matches"] as? [[String: Any]])
            #expect(matches.count == 2, "top N from the settings")
            #expect((matches.first?["resourceId"] as? String)?.lowercased() == clubID.lowercased())
            #expect((matches.first?["reasons"] as? [String])?.contains("Club de marche correspond à l'intérêt « walking »") == true)
            let replay = try await rematch("k1")
            #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(String(buffer: replay.body) == String(buffer: first.body))
            // A key is its caller's own: another link worker's "k1" is a new request, not a replay.
            let colleague = try await test.token(.linkWorker, subject: "colleague", site: "ottawa-west-chc")
            let theirs = try await client.execute(
                uri: "/v1/referrals/\(referral.referralID)/rematch", method: .post,
                headers: [.authorization: "Bearer \(colleague)", HTTPField.Name("Idempotency-Key")!: "k1"])
            #expect(theirs.status == .ok && theirs.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            let theirReplay = try await client.execute(
                uri: "/v1/referrals/\(referral.referralID)/rematch", method: .post,
                headers: [.authorization: "Bearer \(colleague)", HTTPField.Name("Idempotency-Key")!: "k1"])
            #expect(String(buffer: theirReplay.body) == String(buffer: theirs.body))
            #expect(try await rematch("not a key").status == .unprocessableContent)
            #expect(try await rematch(nil).status == .ok)
            let listed = try await client.execute(
                uri: "/v1/referrals/\(referral.referralID)/matches", method: .get, headers: [.authorization: "Bearer \(worker)"])
            #expect((try Self.json(listed)["matches"] as? [[String: Any]])?.count == 2)
            let elsewhere = try await test.token(.linkWorker, site: "rural-east")
            #expect(
                try await client.execute(uri: "/v1/referrals/\(referral.referralID)/rematch", method: .post, headers: [.authorization: "Bearer \(elsewhere)"])
                    .status == .notFound)
            #expect(
                try await client.execute(uri: "/v1/referrals/\(UUID())/rematch", method: .post, headers: [.authorization: "Bearer \(coordinator)"]).status
                    == .notFound)
        }
        let proposed = try await pool.withConnection {
            try await $0.query("SELECT count(*) AS n FROM outbox WHERE event_type = \(MatchesProposedV1.eventType)").first!.decode("n", as: Int.self)
        }
        #expect(proposed == 4, "the first match, the keyed rematch once, the colleague's keyed one once, the unkeyed one")
        await test.tearDown()
    }

    @Test("bad matching settings stop the service from starting, with the variable named")
    func badSettings() async throws {
        await #expect(throws: MatchingSettings.Invalid.self) {
            _ = try await ServiceTestHost.make(MatchingService.self, environment: ["PASSERELLE_MATCHING_TOP_N": "lots"])
        }
    }

    @Test("a change committed through one replica is seen by another's in-memory catalogue at once, and announced")
    func otherReplicaSeesChanges() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        var configuration = TestEnvironment.postgresConfiguration(schema: test.schema)
        configuration.poolSize = 2
        let otherPool = PostgresConnectionPool(configuration: configuration, logger: TestEnvironment.logger)
        let other = CatalogueCache(pool: otherPool, logger: TestEnvironment.logger)
        let store = CatalogueStore(pool: test.pool)
        try await test.pool.withConnection { try await store.save(Catalogue.resource("Premier", categories: ["loneliness"]), on: $0) }
        let first = try await otherPool.withConnection { try await other.current(on: $0) }
        #expect(first.resources.map(\.name) == ["Premier"])

        // A change through this replica: the other sees it on its next match, without waiting.
        try await test.pool.withConnection { try await store.save(Catalogue.resource("Deuxième", categories: ["loneliness"]), on: $0) }
        let second = try await otherPool.withConnection { try await other.current(on: $0) }
        #expect(Set(second.resources.map(\.name)) == ["Premier", "Deuxième"])
        #expect(second.version > first.version)

        // Seats taken do not change the catalogue's version; deactivating does, and the
        // notification reloads the other replica by itself.
        let version = second.version
        try await test.pool.withConnection { try await $0.query("UPDATE community_resource SET seats_taken = seats_taken WHERE name = 'Premier'") }
        #expect(try await test.pool.withConnection { try await CatalogueCache.version(on: $0) } == version)
        try await test.pool.withConnection { try await $0.query("UPDATE community_resource SET active = false WHERE name = 'Premier'") }
        let reloaded = try await eventually(timeout: .seconds(10)) { other.loadedVersion.map { $0 > version } ?? false }
        #expect(reloaded)
        let third = try await otherPool.withConnection { try await other.current(on: $0) }
        #expect(third.resources.map(\.name) == ["Deuxième"])
        await otherPool.close()
        await test.tearDown()
    }
}

import Domain
import Foundation
import ServiceRuntime
import Testing
import TestSupport
@testable import MatchingService

@Suite("CSV after RFC 4180")
struct CSVTableTests {
    @Test("quotes, doubled quotes, commas and line breaks inside fields, CRLF and a byte order mark")
    func parsing() throws {
        let text = "\u{FEFF}ID, Name ,notes\r\n1,\"Café, rue Wellington\",\"two\r\nlines\"\r\n2,\"say \"\"bonjour\"\"\",\n\n3,plain\n"
        let table = try CSVTable(parsing: text)
        #expect(table.columns == ["id", "name", "notes"])
        #expect(table.records.count == 3)
        #expect(table.records[0] == ["1", "Café, rue Wellington", "two\r\nlines"])
        #expect(table.records[1] == ["2", "say \"bonjour\"", ""])
        #expect(table.records[2] == ["3", "plain", ""], "short records are padded")
        #expect(table.value("notes", in: table.records[1]) == nil)
        #expect(table.value("name", in: table.records[0]) == "Café, rue Wellington")
    }

    @Test("the last line may lack its line end; an empty text has no columns")
    func edges() throws {
        #expect(try CSVTable(parsing: "a,b\n1,2").records == [["1", "2"]])
        #expect(try CSVTable(parsing: "a\n\"\"").records == [[""]])
        #expect(try CSVTable(parsing: "").columns.isEmpty)
    }

    @Test("malformed quoting is an error with its line")
    func errors() {
        #expect(throws: CSVTable.ParseError(line: 2, problem: "a quote inside an unquoted field (quote the whole field and double the quote)")) {
            try CSVTable(parsing: "a,b\n1,x\"y\n")
        }
        #expect(throws: CSVTable.ParseError.self) { try CSVTable(parsing: "a,b\n\"open,2\n3,4\n") }
        #expect(throws: CSVTable.ParseError.self) { try CSVTable(parsing: "a\n\"closed\"junk\n") }
    }

    @Test("writing quotes what needs it, ends lines with CRLF, and reads back the same")
    func writing() throws {
        let table = CSVTable(columns: ["id", "text"], records: [["1", "a, b"], ["2", "line\nbreak"], ["3", "\"quoted\""], ["4", " padded "], ["5", "plain"]])
        let text = table.text
        #expect(text.hasPrefix("id,text\r\n1,\"a, b\"\r\n"))
        #expect(text.contains("3,\"\"\"quoted\"\"\"\r\n"))
        #expect(text.contains("5,plain\r\n"))
        #expect(try CSVTable(parsing: text).records == table.records.map { [$0[0], $0[1]] })
    }
}

@Suite("Matching settings and taxonomy mapping")
struct MatchingSettingsTests {
    @Test("weights, top N and distance are read and checked, every problem reported at once")
    func settings() throws {
        let read = try MatchingSettings.read(Environment([
            "PASSERELLE_MATCHING_WEIGHTS": "need=0.5, distance=0.3,schedule=0", "PASSERELLE_MATCHING_TOP_N": "3", "PASSERELLE_MATCHING_MAX_KM": "10",
        ]))
        #expect(read.weights == MatchWeights(need: 0.5, interests: 0.2, distance: 0.3, supportLevel: 0.1, schedule: 0, maximumKilometres: 10, topN: 3))
        #expect(try MatchingSettings.read(Environment([:])).weights == MatchWeights())
        do {
            _ = try MatchingSettings.read(Environment([
                "PASSERELLE_MATCHING_WEIGHTS": "need=-1,colour=2,distance", "PASSERELLE_MATCHING_TOP_N": "0", "PASSERELLE_MATCHING_MAX_KM": "far",
            ]))
            Issue.record("invalid settings were accepted")
        } catch {
            #expect(error.problems.count == 5)
            #expect(error.description.contains("need=-1: the weight must be a number ≥ 0"))
            #expect(error.description.contains("unknown weight \"colour\""))
            #expect(error.description.contains("\"distance\" is not name=number"))
            #expect(error.description.contains("PASSERELLE_MATCHING_TOP_N: \"0\" is not a whole number from 1 to 50"))
            #expect(error.description.contains("PASSERELLE_MATCHING_MAX_KM"))
        }
        #expect(throws: MatchingSettings.Invalid.self) { try MatchingSettings.read(Environment(["PASSERELLE_MATCHING_WEIGHTS": "need=0,interests=0,distance=0,support=0,schedule=0"])) }
    }

    @Test("postal-area centroids are read from a file; unusable rows are reported with their line")
    func postalAreas() throws {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/matching/postal-areas.csv").standardized.path
        let read = try MatchingSettings.read(Environment([PostalAreaCentroids.variable: shipped]))
        #expect(read.postalAreas["k1y"] == (try Coordinates(latitude: 45.40, longitude: -75.73)))
        #expect(read.postalAreas["ZZZ"] == nil && read.postalAreas[nil] == nil)
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("areas-\(UUID()).csv")
        try "area,latitude,longitude\nK1Y,45.4,-75.73\nK2P,north,-75.69\nK1S,95,-75.69\n".write(to: broken, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: broken) }
        do {
            _ = try MatchingSettings.read(Environment([PostalAreaCentroids.variable: broken.path]))
            Issue.record("a broken centroid file was accepted")
        } catch {
            #expect(error.problems.count == 2)
            #expect(error.description.contains("line 3") && error.description.contains("line 4"))
        }
        #expect(throws: MatchingSettings.Invalid.self) { try MatchingSettings.read(Environment([PostalAreaCentroids.variable: "/nonexistent.csv"])) }
    }

    @Test("the shipped mapping file is the built-in one, and every term maps to known categories")
    func shippedMapping() throws {
        let file = TestEnvironment.repositoryRoot.appendingPathComponent("deploy/hsds/taxonomy-mapping.json")
        let shipped = try String(contentsOf: file, encoding: .utf8)
        #expect(shipped.trimmingCharacters(in: .whitespacesAndNewlines) == TaxonomyMapping.defaultJSON.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try TaxonomyMapping.load(path: file.path) == TaxonomyMapping.standard)
        #expect(TaxonomyMapping.standard.categories(forTermKeys: ["t1", "BD-1800.2000", "Food Pantry"]) == ["food-security"])
        #expect(TaxonomyMapping.standard.categories(forTermKeys: ["passerelle:loneliness"]) == ["loneliness"])
        #expect(TaxonomyMapping.standard.categories(forTermKeys: ["Astrology"]).isEmpty)
    }

    @Test("a mapping to unknown categories is refused with each bad term named")
    func badMapping() {
        let json = Data(#"{"terms": {"Food": ["food-security", "snacks"], "Tea": []}}"#.utf8)
        #expect(throws: TaxonomyMapping.InvalidFile.self) { try TaxonomyMapping(json: json, source: "test") }
        do {
            _ = try TaxonomyMapping(json: json, source: "test")
        } catch {
            #expect(error.problems == ["\"Food\" maps to unknown need category \"snacks\"", "\"Tea\" maps to no category"])
        }
        #expect(throws: TaxonomyMapping.InvalidFile.self) { try TaxonomyMapping.load(path: "/nonexistent/mapping.json") }
    }
}

@Suite("In-memory catalogue")
struct CatalogueSnapshotTests {
    @Test("ranks exactly as the reference ranking, on a made-up catalogue")
    func sameAsReference() {
        var data = SyntheticCatalogue(seed: 7)
        let resources = data.resources(3000)
        let snapshot = CatalogueSnapshot(version: 1, resources: resources)
        for weights in [MatchWeights(), MatchWeights(need: 0.1, interests: 0.1, distance: 0.7, supportLevel: 0.05, schedule: 0.05, topN: 8)] {
            let ranker = MatchRanker(weights: weights)
            for _ in 0..<300 {
                let request = data.request()
                let reference = ranker.rank(request, candidates: resources)
                // As Matchmaker does: the best candidates apart from capacity, then capacity.
                var limit = weights.topN + 8
                var fast: [RankedResource] = []
                while true {
                    let best = snapshot.best(request, ranker: ranker, limit: limit)
                    fast = best.map { snapshot.resources[$0.position] }.filter { $0.capacity.hasRoom || $0.capacity.waitlistAllowed }
                        .prefix(weights.topN).map { ranker.explain($0, for: request) }
                    if fast.count == weights.topN || best.count < limit { break }
                    limit *= 4
                }
                #expect(fast.map(\.resource.id) == reference.map(\.resource.id))
                #expect(fast.map(\.score) == reference.map(\.score))
                #expect(fast.map(\.reasons) == reference.map(\.reasons))
            }
        }
    }

    @Test("inactive resources are left out; unknown needs find nothing")
    func inactive() {
        let active = Catalogue.resource("Actif", categories: ["loneliness"])
        let inactive = Catalogue.resource("Inactif", categories: ["loneliness"], active: false)
        let snapshot = CatalogueSnapshot(version: 3, resources: [active, inactive])
        #expect(snapshot.resources.map(\.name) == ["Actif"])
        #expect(snapshot.best(Catalogue.request(), ranker: MatchRanker(), limit: 5).count == 1)
        #expect(snapshot.best(Catalogue.request(needs: ["astrology"]), ranker: MatchRanker(), limit: 5).isEmpty)
    }
}

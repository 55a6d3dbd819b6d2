import Domain
import Foundation
import ServiceRuntime
import TestSupport
import Testing

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
        let table = CSVTable(
            columns: ["id", "text"], records: [["1", "a, b"], ["2", "line\nbreak"], ["3", "\"quoted\""], ["4", " padded "], ["5", "plain"]])
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
        let read = try MatchingSettings.read(
            Environment([
                "PASSERELLE_MATCHING_WEIGHTS": "need=0.5, distance=0.3,schedule=0", "PASSERELLE_MATCHING_TOP_N": "3", "PASSERELLE_MATCHING_MAX_KM": "10",
            ]))
        #expect(read.weights == MatchWeights(need: 0.5, interests: 0.2, distance: 0.3, supportLevel: 0.1, schedule: 0, maximumKilometres: 10, topN: 3))
        #expect(try MatchingSettings.read(Environment([:])).weights == MatchWeights())
        do {
            _ = try MatchingSettings.read(
                Environment([
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
        #expect(throws: MatchingSettings.Invalid.self) {
            try MatchingSettings.read(Environment(["PASSERELLE_MATCHING_WEIGHTS": "need=0,interests=0,distance=0,support=0,schedule=0"]))
        }
    }

    @Test("postal-area centroids are read from a file; unusable rows are reported with their line")
    func postalAreas() throws {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/matching/postal-areas.csv").standardized
            .path
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

    @Test("the shipped crosswalk files are the built-in ones, and each maps to known categories")
    func shippedMapping() throws {
        let folder = TestEnvironment.repositoryRoot.appendingPathComponent("deploy/hsds")
        for (file, embedded) in [("taxonomy-mapping.json", TaxonomyMapping.defaultJSON), ("airs-crosswalk.json", TaxonomyMapping.airsCrosswalkJSON)] {
            let shipped = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            #expect(
                shipped.trimmingCharacters(in: .whitespacesAndNewlines) == embedded.trimmingCharacters(in: .whitespacesAndNewlines), "run deploy/hsds/embed.py")
        }
        let paths = ["airs-crosswalk.json", "taxonomy-mapping.json"].map { folder.appendingPathComponent($0).path }.joined(separator: ",")
        #expect(try TaxonomyMapping.load(path: paths) == TaxonomyMapping.standard)
        #expect(TaxonomyMapping.standard.crosswalks.map(\.version) == ["1.0.0", "2.0.0"])
    }

    @Test("the AIRS crosswalk decides every top-level and second-level branch, with French labels; target populations go to eligibility")
    func airsCoverage() throws {
        let airs = TaxonomyMapping.standard.crosswalks[0]
        let codes = Dictionary(
            uniqueKeysWithValues: airs.rules.compactMap { rule -> (String, TaxonomyCrosswalk.Rule)? in
                if case .code(let code) = rule.match { return (code, rule) }
                return nil
            })
        let branches: [String: [String]] = [
            "B": ["BD", "BH", "BM", "BR", "BT", "BV"], "D": ["DD", "DF", "DM", "DT"], "F": ["FC", "FF", "FJ", "FL", "FN", "FP", "FR", "FT"],
            "H": ["HD", "HH", "HL"], "J": ["JD", "JP", "JR"], "L": ["LD", "LF", "LH", "LJ", "LL", "LN", "LR", "LT", "LV"], "N": ["ND", "NL", "NS"],
            "P": ["PB", "PD", "PH", "PL", "PN", "PS", "PV", "PX"], "R": ["RF", "RM", "RP", "RR", "RX"], "T": ["TB", "TC", "TD", "TE", "TH", "TJ", "TN", "TP"],
            "Y": ["YB", "YC", "YF", "YH", "YK", "YL"],
        ]
        for (top, seconds) in branches {
            for code in [top] + seconds {
                let rule = try #require(codes[code], "\(code) is decided")
                #expect(rule.english?.isEmpty == false && rule.french?.isEmpty == false, "\(code) has English and French labels")
                #expect(rule.eligibility == code.hasPrefix("Y"), "\(code): only target populations go to eligibility")
            }
        }
        #expect(codes["BD"]?.categories == ["food-security"] && codes["BH"]?.categories == ["housing"] && codes["NL"]?.categories == ["income"])
        #expect(codes["PN-8100"]?.categories == ["mental-wellbeing", "loneliness"] && codes["RP"]?.french?.contains("Counselling") == true)
    }

    @Test("a term takes its most specific rule, and the rule is named")
    func mostSpecificRule() throws {
        let resolver = TaxonomyMapping.standard.resolver()
        let pantry = try #require(resolver.resolve(id: "BD-1800.2000-100", code: nil, name: "Mobile Food Pantries"))
        #expect(pantry.categories == ["food-security"] && pantry.rule == "AIRS/211 LA County Taxonomy 1.0.0 code BD-1800.2000 (Food Pantries)")
        #expect(resolver.resolve(id: "x1", code: "BD-9999", name: "Something to eat")?.rule.hasSuffix("code BD (Food)") == true)
        #expect(resolver.resolve(id: "PN-8100.1000", code: nil, name: nil)?.categories == ["loneliness", "mental-wellbeing"])
        let seniors = try #require(resolver.resolve(id: "YB-8000", code: nil, name: "Older Adults"))
        #expect(seniors.targetPopulation && seniors.categories.isEmpty)
        let information = try #require(resolver.resolve(id: "TJ-3000.8000", code: nil, name: "Information and Referral"))
        #expect(information.categories.isEmpty && !information.targetPopulation && information.rule.contains("code TJ"))
        // A term rule wins over any code rule; names match without regard to case or accents.
        #expect(resolver.resolve(id: "PH-6500.2000", code: nil, name: "telephone reassurance")?.categories == ["loneliness"])
        #expect(resolver.resolve(id: "t1", code: nil, name: "Food Pantry")?.categories == ["food-security"])
        #expect(resolver.resolve(id: "passerelle:loneliness", code: nil, name: "loneliness")?.rule == "Passerelle need category loneliness")
        // "t4" is not an AIRS code, so no "T…" rule applies to it.
        #expect(resolver.resolve(id: "t4", code: nil, name: "Astrology") == nil)
        #expect(resolver.resolve(id: "Z-1000", code: nil, name: nil) == nil)
    }

    @Test("a network's own taxonomy is a file of the same format")
    func networkTaxonomy() throws {
        let json = Data(
            #"""
            {"format": "passerelle-taxonomy-crosswalk/1", "taxonomy": "Réseau Ouest", "version": "3", "codePattern": "^[0-9]+(\\.[0-9]+)*$",
             "rules": [{"code": "1", "en": "Food", "fr": "Alimentation", "categories": ["food-security"]},
                       {"code": "1.2", "en": "Community meals", "fr": "Repas communautaires", "categories": ["food-security", "social-isolation"]},
                       {"code": "9", "en": "Seniors", "fr": "Aînés", "eligibility": true},
                       {"term": "Tricot", "categories": ["arts-culture"]}]}
            """#.utf8)
        let resolver = try TaxonomyMapping(json: json, source: "network").resolver()
        #expect(resolver.resolve(id: "a", code: "1.2.7", name: nil)?.rule == "Réseau Ouest 3 code 1.2 (Community meals)")
        #expect(resolver.resolve(id: "a", code: "1.3", name: nil)?.categories == ["food-security"])
        #expect(resolver.resolve(id: "a", code: "12", name: nil) == nil, "a level ends at the dot")
        #expect(resolver.resolve(id: "9.1", code: nil, name: nil)?.targetPopulation == true)
        #expect(resolver.resolve(id: "b", code: nil, name: "TRICOT")?.categories == ["arts-culture"])
    }

    @Test("a bad mapping file is refused with each problem named")
    func badMapping() {
        func problems(_ text: String) -> [String] {
            do {
                _ = try TaxonomyMapping(json: Data(text.utf8), source: "test")
                return []
            } catch {
                return error.problems
            }
        }
        #expect(
            problems(#"{"terms": {"Food": ["food-security", "snacks"], "Tea": []}}"#) == [
                "\"Food\" maps to unknown need category \"snacks\"", "\"Tea\" maps to no category",
            ])
        #expect(
            problems(
                #"{"format": "passerelle-taxonomy-crosswalk/1", "codePattern": "^[A-Z]$", "rules": [{"code": "B", "categories": ["food-security"]}, {"code": "BD", "en": "Food", "fr": "Alimentation", "categories": ["snacks"]}, {"term": "Tea"}, {"code": "Y", "en": "Y", "fr": "Y", "eligibility": true, "categories": ["income"]}, {"categories": []}, {"code": "B", "en": "B", "fr": "B", "categories": []}]}"#
            ) == [
                "rule 1 (code B) needs an English and a French label (en, fr)",
                "rule 2: code \"BD\" does not fit the file's codePattern",
                "rule 2 maps to unknown need category \"snacks\"",
                "rule 3 has no \"categories\" (an empty list records that the branch is no need category)",
                "rule 4: a target population (eligibility) maps to no need category",
                "rule 5 names neither one code nor one term",
                "rule 6 repeats code(\"B\")",
            ])
        #expect(problems(#"{"format": "other/2", "codePattern": "([", "rules": []}"#).count == 2)
        #expect(!problems("[]").isEmpty)
        #expect(throws: TaxonomyMapping.InvalidFile.self) { try TaxonomyMapping.load(path: "/nonexistent/mapping.json") }
        #expect(throws: TaxonomyMapping.InvalidFile.self) { try TaxonomyMapping.load(path: " , ") }
    }

    @Test("languages are read against ISO 639 by code or English or French name; sentences are not languages")
    func languages() throws {
        #expect(ISO639.code("Creole") == "ht" && ISO639.code("Hebrew") == "he" && ISO639.code("hébreu") == "he")
        #expect(ISO639.code("fr-CA") == "fr" && ISO639.code("eng") == "en" && ISO639.code("fre") == "fr" && ISO639.code("zh-Hant") == "zh")
        #expect(ISO639.code("Français") == "fr" && ISO639.code("espagnol") == "es" && ISO639.code("VIETNAMESE") == "vi")
        #expect(ISO639.code("Spanish (Mexico)") == "es" && ISO639.code("Tigrinya") == "ti" && ISO639.code("Mi'kmaq") == "mic")
        #expect(ISO639.code("American Sign Language") == "ase" && ISO639.code("Ojibwa") == "oj")
        #expect(ISO639.codes("English, Spanish") == ["en", "es"] && ISO639.codes("French and Arabic") == ["fr", "ar"])
        #expect(ISO639.codes("translation services sometimes available") == nil && ISO639.codes("English and some Spanish") == nil)
        #expect(ISO639.code("") == nil && ISO639.code(String(repeating: "x", count: 100_000)) == nil)
        // The generated table is the data file.
        let file = TestEnvironment.repositoryRoot.appendingPathComponent("deploy/hsds/iso639/languages.tsv")
        let shipped = try String(contentsOf: file, encoding: .utf8)
        #expect(shipped.trimmingCharacters(in: .newlines) == ISO639.table.trimmingCharacters(in: .newlines), "run deploy/hsds/iso639/generate.py")
        #expect(ISO639.table.split(separator: "\n").count > 7_000)
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

@Suite("Opening hours")
struct OpeningHoursTests {
    @Test("open from the opening time until before the closing time; a closing time at or before the opening runs past midnight")
    func open() {
        let morning = CommunityResource.OpeningHours(weekday: 2, opensAt: "09:00", closesAt: "12:00")
        #expect(morning.isOpen(weekday: 2, at: "09:00") && morning.isOpen(weekday: 2, at: "11:59"))
        #expect(!morning.isOpen(weekday: 2, at: "08:59") && !morning.isOpen(weekday: 2, at: "12:00") && !morning.isOpen(weekday: 3, at: "10:00"))
        let sundayNight = CommunityResource.OpeningHours(weekday: 7, opensAt: "22:00", closesAt: "02:00")
        #expect(sundayNight.isOpen(weekday: 7, at: "23:30") && sundayNight.isOpen(weekday: 1, at: "01:59"))
        #expect(!sundayNight.isOpen(weekday: 1, at: "02:00") && !sundayNight.isOpen(weekday: 7, at: "01:00") && !sundayNight.isOpen(weekday: 2, at: "01:00"))
        let untilMidnight = CommunityResource.OpeningHours(weekday: 5, opensAt: "18:00", closesAt: "00:00")
        #expect(untilMidnight.isOpen(weekday: 5, at: "23:59") && !untilMidnight.isOpen(weekday: 6, at: "00:00"))
        let allDay = CommunityResource.OpeningHours(weekday: 3, opensAt: "00:00", closesAt: "00:00")
        #expect(allDay.isOpen(weekday: 3, at: "00:00") && allDay.isOpen(weekday: 3, at: "23:59") && !allDay.isOpen(weekday: 4, at: "00:00"))
    }

    @Test("times are HH:MM from 00:00 to 23:59; a directory's forms are read into it or reported")
    func clocks() {
        for time in ["00:00", "09:05", "23:59"] { #expect(CommunityResource.OpeningHours.isClock(time), "\(time)") }
        for time in ["24:00", "9:00", "09:5", "09:60", "0900", "09:00:00", "", "ab:cd", "09 00", "２3:00", "-1:00"] {
            #expect(!CommunityResource.OpeningHours.isClock(time), "\(time)")
        }
        for (text, time) in [("9:00", "09:00"), ("09:00:00", "09:00"), ("13:30:00.000", "13:30"), ("10:00:00-05:00", "10:00"), ("24:00", "00:00")] {
            #expect(HSDSReader.time(text) == time, "\(text)")
        }
        for text in ["9h00", "noon", "25:00", "24:30", "09:5", ":30", "9:00 AM", "09:60", "", "１0:00"] {
            #expect(HSDSReader.time(text) == nil, "\(text)")
        }
        #expect(throws: DomainError.self) {
            try CommunityResource(
                id: UUID(), organisation: "o", name: "n", kind: .externalPartner, categories: [], description: "", languages: ["fr"], delivery: [.phone],
                openingHours: [.init(weekday: 2, opensAt: "09:00", closesAt: "24:00")])
        }
    }
}

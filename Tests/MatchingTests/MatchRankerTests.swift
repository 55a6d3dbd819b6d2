import Domain
import Foundation
import Testing

@testable import MatchingService

/// A crafted catalogue around Ottawa's Hintonburg (45.40, -75.72).
enum Catalogue {
    static let home = try! Coordinates(latitude: 45.4000, longitude: -75.7200)

    static func resource(
        _ name: String, kind: CommunityResource.Kind = .externalPartner, categories: [String], languages: [String] = ["fr", "en"],
        interpretation: Bool = false, delivery: [CommunityResource.Delivery] = [.inPerson], at: (Double, Double)? = (45.401, -75.721),
        weekdays: [Int] = [2], minimumAge: Int? = nil, maximumAge: Int? = nil, areas: [String] = [], accessibility: [String] = [],
        seats: Int? = nil, taken: Int = 0, waitlist: Bool = false, tags: [String] = [], active: Bool = true, id: UUID = UUID()
    ) -> CommunityResource {
        try! CommunityResource(
            id: id, organisation: "Org", name: name, kind: kind, categories: categories.map { try! NeedCategory(code: $0) },
            description: "", languages: languages, interpretationAvailable: interpretation, delivery: delivery,
            coordinates: at.map { try! Coordinates(latitude: $0.0, longitude: $0.1) }, schedule: weekdays.isEmpty ? nil : "mardi 10 h",
            weekdays: weekdays, eligibility: .init(minimumAge: minimumAge, maximumAge: maximumAge, areas: areas),
            accessibility: accessibility, capacity: .init(seats: seats, seatsTaken: taken, waitlistAllowed: waitlist), tags: tags, active: active)
    }

    static func request(
        needs: [String] = ["loneliness"], interests: [String] = [], language: String = "fr", age: AgeBand = .from65to74,
        area: String? = "K1Y", accessibility: [String] = [], support: SupportLevel = .light
    ) -> MatchRequest {
        MatchRequest(
            needs: needs, interests: interests, language: language, coordinates: home, postalArea: area, ageBand: age,
            accessibilityNeeds: accessibility, supportLevel: support)
    }
}

@Suite("Ranking community resources")
struct MatchRankerTests {
    let ranker = MatchRanker()

    @Test("each hard filter removes what the client cannot use")
    func filters() {
        let request = Catalogue.request(accessibility: ["step-free access"])
        let excluded = [
            Catalogue.resource("inactive", categories: ["loneliness"], accessibility: ["step-free access"], active: false),
            Catalogue.resource("other need", categories: ["housing"], accessibility: ["step-free access"]),
            Catalogue.resource("youth only", categories: ["loneliness"], maximumAge: 25, accessibility: ["step-free access"]),
            Catalogue.resource("other area", categories: ["loneliness"], areas: ["K2"], accessibility: ["step-free access"]),
            Catalogue.resource("english only", categories: ["loneliness"], languages: ["en"], accessibility: ["step-free access"]),
            Catalogue.resource("stairs", categories: ["loneliness"]),
            Catalogue.resource("full", categories: ["loneliness"], accessibility: ["step-free access"], seats: 10, taken: 10),
        ]
        let included = [
            Catalogue.resource("interpreted", categories: ["loneliness"], languages: ["en"], interpretation: true, accessibility: ["step-free access"]),
            Catalogue.resource("by phone", categories: ["loneliness"], delivery: [.phone], at: nil),
            Catalogue.resource("waitlist", categories: ["loneliness"], accessibility: ["step-free access"], seats: 10, taken: 10, waitlist: true),
            Catalogue.resource("in area", categories: ["loneliness"], minimumAge: 60, areas: ["K1"], accessibility: ["Step-free access"]),
        ]
        let ranked = ranker.rank(request, candidates: excluded + included)
        #expect(Set(ranked.map(\.resource.name)) == Set(included.map(\.name)))
    }

    @Test("closer, better-fitting resources rank higher, and equal scores order by id")
    func ordering() {
        let request = Catalogue.request(needs: ["loneliness", "physical-activity"], interests: ["walking"])
        let walking = Catalogue.resource("Club de marche", categories: ["loneliness", "physical-activity"], tags: ["walking"])
        let near = Catalogue.resource("Café-causerie", categories: ["loneliness"])
        let far = Catalogue.resource("Café lointain", categories: ["loneliness"], at: (45.30, -75.90))
        let twinA = Catalogue.resource("Twin A", categories: ["loneliness"], id: UUID(uuidString: "00000000-0000-0000-0000-00000000000A")!)
        let twinB = Catalogue.resource("Twin B", categories: ["loneliness"], id: UUID(uuidString: "00000000-0000-0000-0000-00000000000B")!)
        let ranked = ranker.rank(request, candidates: [far, twinB, near, walking, twinA])
        #expect(ranked.first?.resource.name == "Club de marche")
        #expect(ranked.last?.resource.name == "Café lointain")
        let twins = ranked.filter { $0.resource.name.hasPrefix("Twin") }.map(\.resource.name)
        #expect(twins == ["Twin A", "Twin B"])
        #expect(
            ranker.rank(request, candidates: [twinB, twinA]).map(\.resource.name) == ranker.rank(request, candidates: [twinA, twinB]).map(\.resource.name))
    }

    @Test("weights change the order: with distance dominant, the nearest wins")
    func weights() {
        let request = Catalogue.request(interests: ["knitting"])
        let knittingFar = Catalogue.resource("Tricot", categories: ["loneliness"], at: (45.35, -75.80), tags: ["knitting"])
        let plainNear = Catalogue.resource("Voisins", categories: ["loneliness"])
        #expect(ranker.rank(request, candidates: [knittingFar, plainNear]).first?.resource.name == "Tricot")
        var distanceFirst = MatchRanker()
        distanceFirst.weights = MatchWeights(need: 0.1, interests: 0.05, distance: 0.8, supportLevel: 0.025, schedule: 0.025)
        #expect(distanceFirst.rank(request, candidates: [knittingFar, plainNear]).first?.resource.name == "Voisins")
    }

    @Test("holistic support prefers facilitated programmes")
    func supportLevel() {
        let partner = Catalogue.resource("Partner", kind: .externalPartner, categories: ["loneliness"])
        let programme = Catalogue.resource("Programme", kind: .healthChampionGroup, categories: ["loneliness"])
        #expect(ranker.rank(Catalogue.request(support: .holistic), candidates: [partner, programme]).first?.resource.name == "Programme")
    }

    @Test("reasons are in the client's language")
    func reasons() {
        let walking = Catalogue.resource("Walking club", categories: ["physical-activity"], tags: ["walking"])
        let french = ranker.rank(Catalogue.request(needs: ["physical-activity"], interests: ["walking"]), candidates: [walking])[0].reasons
        #expect(french.contains("parle français"))
        #expect(french.contains("répond au besoin : activité physique"))
        #expect(french.contains("Walking club correspond à l'intérêt « walking »"))
        #expect(french.contains { $0.hasSuffix(" km") && $0.contains(",") })
        let english = ranker.rank(Catalogue.request(needs: ["physical-activity"], interests: ["walking"], language: "en"), candidates: [walking])[0].reasons
        #expect(english.contains("speaks English"))
        #expect(english.contains("Walking club matches interest 'walking'"))
        #expect(english.contains { $0.hasSuffix(" km") && $0.contains(".") })
    }

    @Test("the top N is kept")
    func topN() {
        let many = (0..<12).map { Catalogue.resource("R\($0)", categories: ["loneliness"]) }
        #expect(ranker.rank(Catalogue.request(), candidates: many).count == 5)
    }

    @Test("link-worker choice: same language first, then the lightest caseload, then id")
    func linkWorkerChoice() throws {
        func worker(_ id: String, _ languages: [String], _ load: Int) throws -> LinkWorker {
            try LinkWorker(
                id: UUID(uuidString: "00000000-0000-0000-0000-0000000000\(id)")!, name: id, site: "s", languages: languages, caseloadCapacity: 10,
                currentCaseload: load)
        }
        let workers = [try worker("01", ["en"], 0), try worker("02", ["fr", "en"], 5), try worker("03", ["fr"], 5), try worker("04", ["fr"], 7)]
        #expect(CatalogueStore.candidates(from: workers, language: "fr").map(\.name) == ["02", "03", "04"], "only speakers, when anyone speaks it")
        #expect(CatalogueStore.candidates(from: workers, language: "en").first?.name == "01")
        #expect(CatalogueStore.candidates(from: workers, language: "so").first?.name == "01", "nobody speaks it: lightest caseload")
        #expect(CatalogueStore.candidates(from: [], language: "fr").isEmpty)
    }
}

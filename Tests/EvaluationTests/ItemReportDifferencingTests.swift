import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceRuntime
import TestSupport
import Testing

@testable import EvaluationService

/// The same adversary as `DifferencingTests`, on the needs report, whose items overlap (a referral
/// names one or more needs, so its categories do not add up to its total), together with the
/// overview, which shares its group totals. The unknowns are the counts of each kind of pathway:
/// site × month × racial group × which of three needs it names.
@Suite(
    "Evaluation: the needs, unmet-needs, service-use and outcomes reports cannot be differenced", .enabled(if: TestEnvironment.integrationEnabled),
    .timeLimit(.minutes(5)))
struct ItemReportDifferencingTests {
    typealias Figure = DifferencingTests.Figure
    static let needs = ["loneliness", "housing", "food-security"]
    static let races = DifferencingTests.races
    static let sites = DifferencingTests.sites

    struct Kind: Hashable {
        /// `needs` as bits: 1 to 7.
        var site: Int, month: Int, race: Int, mask: Int

        var index: Int { ((site * 2 + month) * 3 + race) * 7 + mask - 1 }
        static let count = 2 * 2 * 3 * 7
        static let all: [Kind] = (0..<count).map { index in
            Kind(site: index / 42, month: index / 21 % 2, race: index / 7 % 3, mask: index % 7 + 1)
        }
        var codes: [String] { ItemReportDifferencingTests.needs.indices.filter { mask & (1 << $0) != 0 }.map { ItemReportDifferencingTests.needs[$0] } }
    }

    /// 26 to 40 pathways a site and month, most naming one need, some two or three.
    static func population() -> [Kind] {
        var state: UInt64 = 0xBE50
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var kinds: [Kind] = []
        for site in 0..<2 {
            for month in 0..<2 {
                for _ in 0..<(26 + next(15)) {
                    let race = next(10) < 8 ? [0, 1, 2, 2][next(4)] : 0
                    kinds.append(Kind(site: site, month: month, race: race, mask: [1, 1, 1, 2, 2, 4, 3, 5, 6, 7][next(10)]))
                }
            }
        }
        return kinds
    }

    @Test("no need count of 1 to 4 that a report hides can be worked out from the needs and overview reports together")
    func needsReport() async throws {
        #expect(Kind.all.map(\.index) == Array(0..<Kind.count))
        let test = try await Fixture.host()
        let population = Self.population()
        let events: [any EventPayload] = population.map { kind in
            let answers = kind.race == 0 ? nil : Sociodemographics(racialOrEthnicGroup: PopulationGroup(rawValue: Self.races[kind.race]))
            return Fixture.received(
                UUID(), site: Self.sites[kind.site], needs: kind.codes, evaluationUse: answers != nil, sociodemographics: answers,
                at: DifferencingTests.months[kind.month])
        }
        try await Fixture.deliver(events, to: test)
        let truth = population.reduce(into: [Int](repeating: 0, count: Kind.count)) { $0[$1.index] += 1 }
        let answers = try await DifferencingTests.answers(from: test, reports: ["needs", "overview"], dimensions: [nil, "racial-ethnic-group", "site"])
        let (figures, violations) = try DifferencingTests.figures(of: answers, measures: ["clients", "referrals"], truth: truth) { answer, row in
            let group = row["group"] as? String ?? "?"
            let category = row["category"] as? String ?? "all"
            return Kind.all.map { kind in
                (answer.site == nil || kind.site == answer.site) && answer.window.contains(kind.month)
                    && (group == "all" || (answer.dimension == "site" ? Self.sites[kind.site] : Self.races[kind.race]) == group)
                    && (category == "all" || kind.codes.contains(category))
            }
        }
        try await DifferencingTests.expectNothingDerivable(figures, violations: violations, atLeast: 10)
        await test.tearDown()
    }

    /// Unmet needs are recorded by matching when no resource fits: one event per referral naming
    /// one to three of the needs and the client's area. The report's items are (need, area) pairs,
    /// which overlap; its groups come from the pathway.
    @Test("no unmet-need count of 1 to 4 that the report hides can be worked out from its windows, sites and breakdowns")
    func unmetNeedsReport() async throws {
        let areas = ["K1Y", "J8X"]
        struct Unmet: Hashable {
            var kind: Kind
            var area: Int
            var index: Int { kind.index * 2 + area }
            static let count = Kind.count * 2
            static let all = (0..<count).map { Unmet(kind: Kind.all[$0 / 2], area: $0 % 2) }
        }
        var state: UInt64 = 0x0A7E
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let population = Self.population().map { Unmet(kind: $0, area: next(3) == 0 ? 1 : 0) }
        let test = try await Fixture.host()
        let events: [any EventPayload] = population.flatMap { unmet -> [any EventPayload] in
            let kind = unmet.kind
            let referral = UUID()
            let answers = kind.race == 0 ? nil : Sociodemographics(racialOrEthnicGroup: PopulationGroup(rawValue: Self.races[kind.race]))
            let at = DifferencingTests.months[kind.month]
            return [
                Fixture.received(referral, site: Self.sites[kind.site], needs: kind.codes, evaluationUse: answers != nil, sociodemographics: answers, at: at),
                NeedUnmetV1(
                    referralID: referral, referralVersion: 2, site: Self.sites[kind.site], categories: kind.codes, reason: "none-nearby",
                    area: areas[unmet.area],
                    recordedAt: at.addingTimeInterval(86_400)),
            ]
        }
        try await Fixture.deliver(events, to: test)
        let truth = population.reduce(into: [Int](repeating: 0, count: Unmet.count)) { $0[$1.index] += 1 }
        let answers = try await DifferencingTests.answers(from: test, reports: ["unmet-needs"], dimensions: [nil, "racial-ethnic-group", "site"])
        let (figures, violations) = try DifferencingTests.figures(of: answers, measures: ["clients", "referrals"], truth: truth) { answer, row in
            let group = row["group"] as? String ?? "?"
            let category = row["category"] as? String ?? "all"
            let area = row["area"] as? String ?? "all"
            return Unmet.all.map { unmet in
                let kind = unmet.kind
                return (answer.site == nil || kind.site == answer.site) && answer.window.contains(kind.month)
                    && (group == "all" || (answer.dimension == "site" ? Self.sites[kind.site] : Self.races[kind.race]) == group)
                    && (category == "all" || kind.codes.contains(category)) && (area == "all" || areas[unmet.area] == area)
            }
        }
        try await DifferencingTests.expectNothingDerivable(figures, violations: violations, atLeast: 10)
        await test.tearDown()
    }

    /// Service use before and after is recorded per referral, a count known or not for each of
    /// primary care and emergency visits; the report's items are those two, each counting the
    /// pathways with both periods known. Here `Kind.mask` reads bit 0 as primary care and bit 1
    /// as emergency (kinds with bit 2 alone record nothing).
    @Test("no service-use count of 1 to 4 that the report hides can be worked out from its windows, sites and breakdowns")
    func serviceUseReport() async throws {
        let test = try await Fixture.host()
        let population = Self.population()
        let referrals = population.map { (UUID(), $0) }
        let events: [any EventPayload] = referrals.map { referral, kind in
            let answers = kind.race == 0 ? nil : Sociodemographics(racialOrEthnicGroup: PopulationGroup(rawValue: Self.races[kind.race]))
            return Fixture.received(
                referral, site: Self.sites[kind.site], needs: kind.codes, evaluationUse: answers != nil, sociodemographics: answers,
                at: DifferencingTests.months[kind.month])
        }
        try await Fixture.deliver(events, to: test)
        let coordinator = try await test.token(.networkCoordinator)
        try await test.host.application.test(.router) { client in
            for (referral, kind) in referrals where kind.mask & 3 != 0 {
                func counts(_ visits: Int) -> String {
                    [kind.mask & 1 != 0 ? "\"primaryCareVisits\": \(visits)" : nil, kind.mask & 2 != 0 ? "\"emergencyVisits\": \(visits / 2)" : nil]
                        .compactMap { $0 }.joined(separator: ", ")
                }
                let response = try await client.execute(
                    uri: "/v1/referrals/\(referral)/service-use", method: .put,
                    headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                    body: ByteBuffer(string: "{\"before\": {\(counts(6))}, \"after\": {\(counts(3))}}"))
                #expect(response.status == .ok || response.status == .created, "service use of \(referral): \(response.status)")
            }
        }
        let truth = population.reduce(into: [Int](repeating: 0, count: Kind.count)) { $0[$1.index] += 1 }
        let answers = try await DifferencingTests.answers(from: test, reports: ["service-use"], dimensions: [nil, "racial-ethnic-group", "site"])
        let (figures, violations) = try DifferencingTests.figures(of: answers, measures: ["n"], truth: truth) { answer, row in
            let group = row["group"] as? String ?? "?"
            let visits = row["visits"] as? String ?? "all"
            return Kind.all.map { kind in
                (answer.site == nil || kind.site == answer.site) && answer.window.contains(kind.month)
                    && (group == "all" || (answer.dimension == "site" ? Self.sites[kind.site] : Self.races[kind.race]) == group)
                    && (visits == "primary-care" ? kind.mask & 1 != 0 : visits == "emergency" ? kind.mask & 2 != 0 : kind.mask & 3 != 0)
            }
        }
        #expect(figures.contains { $0.shown != nil && $0.source.contains("visits=emergency") }, "the report shows figures")
        try await DifferencingTests.expectNothingDerivable(figures, violations: violations, atLeast: 5)
        await test.tearDown()
    }

    /// Outcomes are measured at baseline and a follow-up; the report's items are each score of
    /// each instrument, counting the pathways with both. Here `Kind.mask` reads bit 0 as UCLA-3
    /// and bit 1 as ONS4 (whose four scores always come together).
    @Test("no outcome count of 1 to 4 that the report hides can be worked out from its windows, sites and breakdowns")
    func outcomesReport() async throws {
        let test = try await Fixture.host()
        let population = Self.population()
        let referrals = population.map { (UUID(), $0) }
        let events: [any EventPayload] = referrals.map { referral, kind in
            let answers = kind.race == 0 ? nil : Sociodemographics(racialOrEthnicGroup: PopulationGroup(rawValue: Self.races[kind.race]))
            return Fixture.received(
                referral, site: Self.sites[kind.site], needs: kind.codes, evaluationUse: answers != nil, sociodemographics: answers,
                at: DifferencingTests.months[kind.month])
        }
        try await Fixture.deliver(events, to: test)
        let coordinator = try await test.token(.networkCoordinator)
        try await test.host.application.test(.router) { client in
            for (referral, kind) in referrals {
                var measures: [String] = []
                if kind.mask & 1 != 0 {
                    measures += [
                        #"{"instrument": "ucla3", "timepoint": "baseline", "answers": [3, 3, 2]}"#,
                        #"{"instrument": "ucla3", "timepoint": "follow-up-12w", "answers": [2, 1, 2]}"#,
                    ]
                }
                if kind.mask & 2 != 0 {
                    measures += [
                        #"{"instrument": "ons4", "timepoint": "baseline", "answers": [4, 5, 4, 6]}"#,
                        #"{"instrument": "ons4", "timepoint": "closure", "answers": [6, 6, 7, 3]}"#,
                    ]
                }
                for body in measures {
                    let response = try await client.execute(
                        uri: "/v1/referrals/\(referral)/outcomes", method: .post,
                        headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"], body: ByteBuffer(string: body))
                    #expect(response.status == .created, "outcome of \(referral): \(response.status)")
                }
            }
        }
        let truth = population.reduce(into: [Int](repeating: 0, count: Kind.count)) { $0[$1.index] += 1 }
        let answers = try await DifferencingTests.answers(from: test, reports: ["outcomes"], dimensions: [nil, "racial-ethnic-group", "site"])
        let (figures, violations) = try DifferencingTests.figures(of: answers, measures: ["n"], truth: truth) { answer, row in
            let group = row["group"] as? String ?? "?"
            let instrument = row["instrument"] as? String ?? "all"
            return Kind.all.map { kind in
                (answer.site == nil || kind.site == answer.site) && answer.window.contains(kind.month)
                    && (group == "all" || (answer.dimension == "site" ? Self.sites[kind.site] : Self.races[kind.race]) == group)
                    && (instrument == "ucla3" ? kind.mask & 1 != 0 : instrument == "ons4" ? kind.mask & 2 != 0 : kind.mask & 3 != 0)
            }
        }
        #expect(figures.contains { $0.shown != nil && $0.source.contains("instrument=ons4") }, "the report shows figures")
        try await DifferencingTests.expectNothingDerivable(figures, violations: violations, atLeast: 5)
        await test.tearDown()
    }
}

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

/// A user who may request every report, every window, every site and every breakdown, and who
/// does the arithmetic: adds, subtracts and scales what they were shown. The published figures
/// are linear equations over the counts of each kind of pathway (site × month × racial group ×
/// disability × income band × how far it went); a hidden figure can be worked out exactly when
/// its equation is a combination of the shown ones. None of those may be a hidden count of 1 to 4.
@Suite("Evaluation: reports cannot be differenced", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(5)))
struct DifferencingTests {
    /// How far a pathway went, which decides the funnel stages and closure it counts in. The
    /// scenario uses the first six; the others exist as far as the user knows, so they are
    /// unknowns too (a user cannot assume nobody was, say, accepted and then put on hold).
    enum Progress: Int, CaseIterable {
        case waiting, contacted, connectedCompleted, completed, rejected, failed
        case acceptedOnly, connectedOpen, rejectedAfterAcceptance, failedAfterContact, cancelled, onHold

        var stages: Set<String> {
            switch self {
            case .waiting: ["received", "open"]
            case .contacted: ["received", "accepted", "contacted", "open"]
            case .connectedCompleted: ["received", "accepted", "contacted", "connected", "completed"]
            case .completed: ["received", "accepted", "contacted", "completed"]
            case .rejected: ["received", "dropped:rejected"]
            case .failed: ["received", "accepted", "dropped:failed"]
            case .acceptedOnly: ["received", "accepted", "open"]
            case .connectedOpen: ["received", "accepted", "contacted", "connected", "open"]
            case .rejectedAfterAcceptance: ["received", "accepted", "dropped:rejected"]
            case .failedAfterContact: ["received", "accepted", "contacted", "dropped:failed"]
            case .cancelled: ["received", "dropped:cancelled"]
            case .onHold: ["received", "accepted", "contacted", "waiting:on-hold"]
            }
        }
        var closed: Bool { [.connectedCompleted, .completed, .rejected, .failed, .rejectedAfterAcceptance, .failedAfterContact, .cancelled].contains(self) }
        var didComplete: Bool { [.connectedCompleted, .completed].contains(self) }
    }

    static let sites = ["ottawa-west-chc", "gatineau-clsc"]
    /// Mid-month in August and September 2026, far from any month's edge in any time zone.
    static let months = [Date(timeIntervalSince1970: 1_786_795_200), Date(timeIntervalSince1970: 1_789_473_600)]
    static let windows: [(query: String, months: Set<Int>)] = [
        ("from=2026-08-01&to=2026-09-01", [0]), ("from=2026-09-01&to=2026-10-01", [1]), ("from=2026-08-01&to=2026-10-01", [0, 1]),
    ]
    static let races = ["undisclosed", "black", "white"]
    static let disabilities = ["undisclosed", "yes", "no"]
    static let incomes = ["undisclosed", "under-20k", "20k-40k"]
    static let dimensions: [(name: String, values: [String])] = [
        ("racial-ethnic-group", races), ("disability", disabilities), ("income-band", incomes), ("site", sites),
    ]

    /// One kind of pathway: the coordinates a published figure can tell apart.
    struct Kind: Hashable {
        var site: Int, month: Int, race: Int, disability: Int, income: Int, progress: Progress

        var index: Int { (((((site * 2 + month) * 3 + race) * 3 + disability) * 3 + income) * Progress.allCases.count) + progress.rawValue }
        static let count = 2 * 2 * 3 * 3 * 3 * Progress.allCases.count

        func value(of dimension: String) -> String {
            switch dimension {
            case "racial-ethnic-group": races[race]
            case "disability": disabilities[disability]
            case "site": sites[site]
            default: incomes[income]
            }
        }
    }

    /// A deterministic population with many small cells: 26 to 40 pathways a site and month.
    static func population() -> [Kind] {
        var state: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var kinds: [Kind] = []
        for site in 0..<2 {
            for month in 0..<2 {
                for _ in 0..<(26 + next(15)) {
                    let consents = next(10) < 8
                    let progress = Progress(rawValue: [0, 1, 1, 2, 2, 2, 3, 3, 4, 5][next(10)])!
                    kinds.append(
                        Kind(
                            site: site, month: month, race: consents ? [0, 1, 2, 2][next(4)] : 0, disability: consents ? [0, 1, 2, 2][next(4)] : 0,
                            income: consents ? [0, 1, 1, 2][next(4)] : 0, progress: progress))
                }
            }
        }
        return kinds
    }

    static func events(for kind: Kind) -> [any EventPayload] {
        let referral = UUID()
        let t = months[kind.month]
        func at(_ hours: Double) -> Date { t.addingTimeInterval(hours * 3600) }
        let answers =
            kind.race == 0 && kind.disability == 0 && kind.income == 0
            ? nil
            : Sociodemographics(
                incomeBand: kind.income == 0 ? nil : IncomeBand(rawValue: incomes[kind.income]),
                disability: kind.disability == 0 ? nil : kind.disability == 1,
                racialOrEthnicGroup: kind.race == 0 ? nil : PopulationGroup(rawValue: races[kind.race]))
        var events: [any EventPayload] = [
            Fixture.received(referral, site: sites[kind.site], evaluationUse: answers != nil, sociodemographics: answers, at: t)
        ]
        switch kind.progress {
        case .waiting, .acceptedOnly, .connectedOpen, .rejectedAfterAcceptance, .failedAfterContact, .cancelled, .onHold: break
        case .rejected: events.append(Fixture.status(referral, 2, "received", "rejected", at: at(3), reason: "out-of-area"))
        case .failed:
            events.append(Fixture.status(referral, 2, "received", "accepted", at: at(2)))
            events.append(Fixture.status(referral, 3, "accepted", "failed", at: at(50)))
        case .contacted, .completed, .connectedCompleted:
            events.append(Fixture.status(referral, 2, "received", "accepted", at: at(2)))
            events.append(Fixture.status(referral, 3, "accepted", "in-progress", at: at(12)))
            if kind.progress == .connectedCompleted {
                events.append(
                    ConnectionChangedV1(
                        connectionID: UUID(), referralID: referral, referralVersion: 3, resourceID: UUID(), from: "accepted", to: "enrolled",
                        reason: nil, changedAt: at(48)))
            }
            if kind.progress != .contacted {
                events.append(Fixture.status(referral, 4, "in-progress", "completed", at: at(300), outcome: "connected"))
            }
        }
        return events
    }

    /// A published figure: which kinds it adds up, and what it says.
    struct Figure {
        var kinds: [Bool]
        var shown: Int?
        var truth: Int
        var source: String
    }

    /// Exact arithmetic on equations (coefficients modulo a large prime, so no rounding):
    /// whether an equation is a combination of those added.
    struct Span {
        static let prime: Int64 = 2_147_483_647
        var pivots: [Int: [Int64]] = [:]

        static func power(_ base: Int64, _ exponent: Int64) -> Int64 {
            var (result, base, exponent) = (Int64(1), base % prime, exponent)
            while exponent > 0 {
                if exponent & 1 == 1 { result = result * base % prime }
                base = base * base % prime
                exponent >>= 1
            }
            return result
        }

        /// What is left of `row` once every pivot is eliminated (all zero: a combination).
        func reduce(_ row: [Int64]) -> [Int64] {
            var row = row
            for column in row.indices where row[column] != 0 {
                guard let pivot = pivots[column] else { continue }
                let factor = row[column]
                for c in column..<row.count where pivot[c] != 0 {
                    row[c] = ((row[c] - factor * pivot[c]) % Self.prime + Self.prime) % Self.prime
                }
            }
            return row
        }

        mutating func add(_ row: [Int64]) {
            var row = reduce(row)
            guard let lead = row.firstIndex(where: { $0 != 0 }) else { return }
            let inverse = Self.power(row[lead], Self.prime - 2)
            for c in lead..<row.count { row[c] = row[c] * inverse % Self.prime }
            pivots[lead] = row
        }

        func contains(_ row: [Int64]) -> Bool { reduce(row).allSatisfy { $0 == 0 } }
    }

    @Test("no count of 1 to 4 that a report hides can be worked out from every report, window, site and breakdown together")
    func differencing() async throws {
        let test = try await Fixture.host()
        let population = Self.population()
        try await Fixture.deliver(population.flatMap(Self.events), to: test)
        let truth = population.reduce(into: [Int](repeating: 0, count: Kind.count)) { $0[$1.index] += 1 }
        let analyst = try await test.token(.networkCoordinator)
        /// Every answer: the request's window, site, breakdown and report, and the body.
        typealias Answer = (window: Set<Int>, site: Int?, dimension: String?, report: String, uri: String, body: String)
        let answers = try await test.host.application.test(.router) { client -> [Answer] in
            var answers: [Answer] = []
            for window in Self.windows {
                let sites: [Int?] = [nil] + Self.sites.indices.map { $0 }
                for site in sites {
                    let dimensions: [String?] = [nil] + Self.dimensions.map(\.name)
                    for dimension in dimensions {
                        for report in ["overview", "funnel", "completion", "timings", "support-levels"] {
                            var uri = "/v1/reports/\(report)?\(window.query)"
                            if let site { uri += "&site=\(Self.sites[site])" }
                            if let dimension { uri += "&by=\(dimension)" }
                            let response = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(analyst)"])
                            #expect(response.status == .ok, "\(uri)")
                            answers.append((window.months, site, dimension, report, uri, String(buffer: response.body)))
                        }
                    }
                }
            }
            return answers
        }
        var figures: [Figure] = []
        var violations: [String] = []
        for (months, site, dimension, report, uri, text) in answers {
            let body = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            for row in body?["rows"] as? [[String: Any]] ?? [] {
                let group = row["group"] as? String ?? "?"
                /// The kinds a figure of this row counts, narrowed by `item`.
                func figure(_ key: String, _ item: (Progress) -> Bool) {
                    let members = (0..<Kind.count).map { index -> Bool in
                        var rest = index
                        let progress = Progress(rawValue: rest % Progress.allCases.count)!
                        rest /= Progress.allCases.count
                        let income = rest % 3
                        rest /= 3
                        let disability = rest % 3
                        rest /= 3
                        let race = rest % 3
                        rest /= 3
                        let kind = Kind(site: rest / 2, month: rest % 2, race: race, disability: disability, income: income, progress: progress)
                        return (site == nil || kind.site == site) && months.contains(kind.month)
                            && (group == "all" || dimension.map { kind.value(of: $0) == group } == true) && item(progress)
                    }
                    let count = zip(members, truth).reduce(0) { $0 + ($1.0 ? $1.1 : 0) }
                    let label = "\(uri) \(row.filter { $0.value is String }.map { "\($0.key)=\($0.value)" }.sorted()) \(key)"
                    switch row[key] {
                    case let shown as Int: figures.append(Figure(kinds: members, shown: shown, truth: count, source: label))
                    case let shown as Double: figures.append(Figure(kinds: members, shown: Int(shown), truth: count, source: label))
                    case let text as String where text == "<5": figures.append(Figure(kinds: members, shown: nil, truth: count, source: label))
                    default: violations.append("\(label): \(String(describing: row[key]))")
                    }
                }
                switch report {
                case "funnel":
                    let stage = row["stage"] as? String ?? "?"
                    figure("clients") { stage == "all" || $0.stages.contains(stage) }
                    figure("referrals") { stage == "all" || $0.stages.contains(stage) }
                case "completion":
                    figure("clients") { $0.closed }
                    figure("closed") { $0.closed }
                    figure("completed") { $0.didComplete }
                    // A rate with its denominator shown gives its numerator.
                    if let rate = row["completionRate"] as? Double {
                        guard let closed = row["closed"] as? Int else {
                            violations.append("\(uri) group=\(group): a completion rate beside a hidden number of closures")
                            continue
                        }
                        figure("completionRate") { $0.didComplete }
                        figures[figures.count - 1].shown = Int((rate * Double(closed)).rounded())
                    }
                case "timings":
                    let stage = row["interval"] as? String == "to-connection" ? "connected" : "contacted"
                    figure("clients") { $0.stages.contains(stage) }
                    figure("n") { $0.stages.contains(stage) }
                default:
                    figure("clients") { _ in true }
                    figure("referrals") { _ in true }
                }
            }
        }
        // The scenario must have small cells to protect, or the test proves nothing.
        try await Self.expectNothingDerivable(figures, violations: violations, atLeast: 21)
        await test.tearDown()
    }

    typealias Answer = (window: Set<Int>, site: Int?, dimension: String?, report: String, uri: String, body: String)

    /// Every report of `reports` over every window, every site and all, and every breakdown of
    /// `dimensions`, asked as a network coordinator (who may see every site).
    static func answers(from test: ServiceTestHost, reports: [String], dimensions: [String?]) async throws -> [Answer] {
        let coordinator = try await test.token(.networkCoordinator)
        return try await test.host.application.test(.router) { client -> [Answer] in
            var answers: [Answer] = []
            for window in windows {
                for site in [nil] + sites.indices.map({ $0 }) {
                    for dimension in dimensions {
                        for report in reports {
                            var uri = "/v1/reports/\(report)?\(window.query)"
                            if let site { uri += "&site=\(sites[site])" }
                            if let dimension { uri += "&by=\(dimension)" }
                            let response = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(coordinator)"])
                            #expect(response.status == .ok, "\(uri)")
                            answers.append((window.months, site, dimension, report, uri, String(buffer: response.body)))
                        }
                    }
                }
            }
            return answers
        }
    }

    /// Each `measures` value of each row as a figure over the kinds `members` says the row counts;
    /// anything but a number or "<5" is a violation.
    static func figures(of answers: [Answer], measures: [String], truth: [Int], members: (Answer, [String: Any]) -> [Bool]) throws -> (
        [Figure], [String]
    ) {
        var figures: [Figure] = []
        var violations: [String] = []
        for answer in answers {
            let body = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            for row in body?["rows"] as? [[String: Any]] ?? [] {
                let kinds = members(answer, row)
                let count = zip(kinds, truth).reduce(0) { $0 + ($1.0 ? $1.1 : 0) }
                let labels = row.filter { $0.value is String }.map { "\($0.key)=\($0.value)" }.sorted()
                for key in measures {
                    let label = "\(answer.uri) \(labels) \(key)"
                    switch row[key] {
                    case let shown as Int: figures.append(Figure(kinds: kinds, shown: shown, truth: count, source: label))
                    case let text as String where text == "<5": figures.append(Figure(kinds: kinds, shown: nil, truth: count, source: label))
                    default: violations.append("\(label): \(String(describing: row[key]))")
                    }
                }
            }
        }
        return (figures, violations)
    }

    /// Every shown figure is true, the scenario hides at least `atLeast` counts of 1 to 4, and
    /// none of them can be worked out.
    static func expectNothingDerivable(_ figures: [Figure], violations: [String], atLeast: Int) async throws {
        #expect(violations.isEmpty, "\(violations.prefix(10))")
        for figure in figures where figure.shown != nil {
            #expect(figure.shown == figure.truth, "\(figure.source) shows \(figure.shown!), counts \(figure.truth)")
        }
        let (small, derived) = derivable(figures)
        #expect(small >= atLeast, "the scenario has small cells to protect")
        #expect(derived.isEmpty, "\(derived.count) hidden small counts can be worked out, e.g. \(derived.sorted { $0.key < $1.key }.prefix(8))")
        let pinned = try await pinnedByBounds(figures)
        #expect(pinned.isEmpty, "\(pinned.count) hidden small counts are pinned by bounds, e.g. \(pinned.prefix(8))")
    }

    /// The hidden counts of 1 to 4 that bounds pin to one value: shown figures are equations,
    /// every kind's count is a whole number of at least 0, and a hidden count is the least and the
    /// greatest its equation can then take (linear programmes, `bounds.py`).
    static func pinnedByBounds(_ figures: [Figure]) async throws -> [String] {
        func members(_ figure: Figure) -> [Int] { figure.kinds.indices.filter { figure.kinds[$0] } }
        var shown: [[Bool]: Int] = [:]
        for figure in figures { if let value = figure.shown { shown[figure.kinds] = value } }
        var cells: [[Bool]: Figure] = [:]
        for figure in figures where figure.shown == nil && (1...4).contains(figure.truth) { cells[figure.kinds] = figure }
        let small = Array(cells.values)
        guard !small.isEmpty else { return [] }
        let problem: [String: Any] = [
            "kinds": figures[0].kinds.count, "shown": shown.map { [members(Figure(kinds: $0.key, shown: $0.value, truth: 0, source: "")), $0.value] },
            "cells": small.map(members),
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("passerelle-bounds-\(UUID()).json")
        try JSONSerialization.data(withJSONObject: problem).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("bounds.py")
        let (status, output) = try await ChildProcess.run(["python3", script.path, file.path], errorOutput: .discarded)
        #expect(status == 0, "bounds.py: \(output.suffix(500))")
        let bounds = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[Int]] ?? []
        #expect(bounds.count == small.count)
        return zip(small, bounds).filter { $0.1.count == 2 && $0.1[0] == $0.1[1] }.map { "\($0.0.source) = \($0.1[0]) (counts \($0.0.truth))" }
    }

    /// The hidden counts of 1 to 4 (how many) and those of them that are a combination of the
    /// shown figures (by source, with their value).
    static func derivable(_ figures: [Figure]) -> (small: Int, derived: [String: Int]) {
        var span = Span()
        var seen: Set<[Bool]> = []
        for figure in figures where figure.shown != nil && seen.insert(figure.kinds).inserted {
            span.add(figure.kinds.map { $0 ? 1 : 0 })
        }
        let small = figures.filter { $0.shown == nil && (1...4).contains($0.truth) }
        var derived: [String: Int] = [:]
        var checked: Set<[Bool]> = []
        for figure in small where checked.insert(figure.kinds).inserted && span.contains(figure.kinds.map { $0 ? 1 : 0 }) {
            derived[figure.source] = figure.truth
        }
        return (small.count, derived)
    }
}

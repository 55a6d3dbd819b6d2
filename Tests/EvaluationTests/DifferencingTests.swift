import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import EvaluationService

/// A user who may request every report, every window, every site and every breakdown, and who
/// does the arithmetic: adds, subtracts and scales what they were shown. The published figures
/// are linear equations over the counts of each kind of pathway (site × month × racial group ×
/// disability × income band × how far it went × its needs × whether its outcomes and service use
/// were measured × whether a need went unmet); a hidden figure can be worked out exactly when its
/// equation is a combination of the shown ones. None of those may be a hidden count of 1 to 4.
@Suite("Evaluation: reports cannot be differenced", .enabled(if: TestEnvironment.integrationEnabled), .serialized, .timeLimit(.minutes(5)))
struct DifferencingTests {
    /// How far a pathway went, which decides the funnel stages and closure it counts in. The
    /// scenario uses the first six; the others exist as far as the user knows, so they are
    /// unknowns too (a user cannot assume nobody was, say, accepted and then put on hold).
    enum Progress: Int, CaseIterable, Sendable {
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

    /// The needs a pathway is referred with: loneliness, housing, or both.
    static let needSets = [["loneliness"], ["housing"], ["loneliness", "housing"]]

    /// One kind of pathway: the coordinates a published figure can tell apart.
    struct Kind: Hashable, Sendable {
        var site: Int, month: Int, race: Int, disability: Int, income: Int, progress: Progress
        /// Index in `needSets`.
        var needs = 0
        /// UCLA-3 at baseline and 12 weeks, and primary-care visits before and after, recorded.
        var measured = false
        /// Casework: 0 no contact logged, 1 an attempt only, 2 an attempt then a contact that reached the client.
        var contact = 0
        /// 0 no goal, 1 a goal set, 2 set then started, 3 set then achieved.
        var goal = 0
        /// Matching found nothing for its housing need (an unmet need in its month).
        var unmet = false

        func value(of dimension: String) -> String {
            switch dimension {
            case "racial-ethnic-group": races[race]
            case "disability": disabilities[disability]
            case "site": sites[site]
            default: incomes[income]
            }
        }
    }

    /// What the user models: the kinds of pathway there could be, whether the population has one
    /// or not (each is an unknown), the breakdowns and the reports they request.
    struct Model: Sendable {
        var name: String
        var reports: [String]
        var dimensions: [(name: String, values: [String])]
        /// Whether pathways differ in needs, measured outcomes and unmet needs (else: loneliness,
        /// none, none), and in racial group and income band (else: undisclosed).
        var needsAndOutcomes: Bool
        /// Whether pathways differ in casework: contacts and goals.
        var casework = false

        var kinds: [Kind] {
            var kinds: [Kind] = []
            let equity = needsAndOutcomes || casework ? [0] : [0, 1, 2]
            for site in 0..<2 {
                for month in 0..<2 {
                    for race in equity {
                        for disability in 0..<3 {
                            for income in equity {
                                for progress in Progress.allCases {
                                    for needs in needsAndOutcomes ? [0, 1, 2] : [0] {
                                        for measured in needsAndOutcomes ? [false, true] : [false] {
                                            for unmet in needsAndOutcomes ? [false, true] : [false] {
                                                for contact in casework ? [0, 1, 2] : [0] {
                                                    for goal in casework ? [0, 1, 2, 3] : [0] {
                                                        kinds.append(
                                                            Kind(
                                                                site: site, month: month, race: race, disability: disability, income: income,
                                                                progress: progress, needs: needs, measured: measured, contact: contact, goal: goal,
                                                                unmet: unmet))
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return kinds
        }

        /// The programme reports over every equity dimension.
        static let programme = Model(
            name: "programme", reports: ["overview", "funnel", "completion", "timings", "support-levels"], dimensions: DifferencingTests.dimensions,
            needsAndOutcomes: false)
        /// Those and the needs, unmet needs, outcomes and service use reports, by disability and
        /// site (fewer breakdowns, so the unknowns stay few enough to solve for exactly).
        static let needsAndOutcomes = Model(
            name: "needs-outcomes",
            reports: ["overview", "funnel", "completion", "timings", "support-levels", "needs", "unmet-needs", "outcomes", "service-use"],
            dimensions: DifferencingTests.dimensions.filter { ["disability", "site"].contains($0.name) }, needsAndOutcomes: true)
        /// Those and the casework reports (contacts, reach, goals), by disability and site.
        static let casework = Model(
            name: "casework", reports: ["overview", "funnel", "completion", "timings", "support-levels", "engagement", "dosage"],
            dimensions: DifferencingTests.dimensions.filter { ["disability", "site"].contains($0.name) }, needsAndOutcomes: false, casework: true)
    }

    /// A deterministic population with many small cells: 26 to 40 pathways a site and month.
    static func population(_ model: Model) -> [Kind] {
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
                    var kind = Kind(
                        site: site, month: month, race: consents ? [0, 1, 2, 2][next(4)] : 0, disability: consents ? [0, 1, 2, 2][next(4)] : 0,
                        income: consents ? [0, 1, 1, 2][next(4)] : 0, progress: progress)
                    if model.needsAndOutcomes || model.casework {
                        (kind.race, kind.income) = (0, 0)
                        // A client who answered only the questions this model leaves out still consents.
                        if consents && kind.disability == 0 { kind.disability = 2 }
                    }
                    if model.casework {
                        // Contacts for pathways that got somewhere (and attempts for some that failed);
                        // goals only with a client reached.
                        let reachable = [.contacted, .connectedCompleted, .completed].contains(progress)
                        kind.contact = reachable ? [1, 2, 2][next(3)] : progress == .failed ? next(2) : 0
                        kind.goal = kind.contact == 2 ? [0, 1, 1, 2, 3][next(5)] : 0
                    }
                    if model.needsAndOutcomes {
                        kind.needs = [0, 0, 1, 2][next(4)]
                        // Outcomes are measured for pathways that got somewhere, not all of them.
                        kind.measured = [.contacted, .connectedCompleted, .completed].contains(progress) && next(3) > 0
                        kind.unmet = kind.needs > 0 && next(3) == 0
                    }
                    kinds.append(kind)
                }
            }
        }
        return kinds
    }

    static func events(for kind: Kind, referral: UUID) throws -> [any EventPayload] {
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
            Fixture.received(
                referral, site: sites[kind.site], needs: needSets[kind.needs], evaluationUse: answers != nil, sociodemographics: answers, at: t)
        ]
        if kind.unmet {
            events.append(
                NeedUnmetV1(
                    referralID: referral, referralVersion: 1, site: sites[kind.site], categories: ["housing"], reason: "no-resource", area: "K1Y",
                    recordedAt: at(1)))
        }
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
        // Casework after the status changes, in the referral's version order.
        let domain = try LifeDomain(code: "social-connection")
        if kind.contact > 0 {
            events.append(
                ContactLoggedV1(
                    referralID: referral, referralVersion: 10, site: sites[kind.site], contactID: UUID(), mode: .phone, party: .client, reached: false,
                    minutes: 2, occurredAt: at(3)))
        }
        if kind.contact > 1 {
            events.append(
                ContactLoggedV1(
                    referralID: referral, referralVersion: 11, site: sites[kind.site], contactID: UUID(), mode: .phone, party: .client, reached: true,
                    minutes: 30, occurredAt: at(4)))
        }
        let goal = UUID()
        if kind.goal > 0 {
            events.append(
                GoalSetV1(
                    referralID: referral, referralVersion: 12, site: sites[kind.site], goalID: goal, lifeDomain: domain, progress: .notStarted,
                    setAt: at(5)))
        }
        if kind.goal > 1 {
            events.append(
                GoalReviewedV1(
                    referralID: referral, referralVersion: 13, site: sites[kind.site], goalID: goal, lifeDomain: domain, previousProgress: .notStarted,
                    progress: kind.goal == 3 ? .achieved : .started, reviewedAt: at(6)))
        }
        return events
    }

    /// A published figure: which kinds it adds up, and what it says.
    struct Figure: Sendable {
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
    func differencing() async throws { try await check(.programme) }

    @Test("nor with the needs, unmet needs, outcomes and service use reports added; the published bounds are the months counted")
    func needsAndOutcomes() async throws { try await check(.needsAndOutcomes) }

    @Test("nor with the casework reports added: engagement (with its shares) and dosage")
    func casework() async throws { try await check(.casework) }

    func check(_ model: Model) async throws {
        let test = try await Fixture.host()
        let kinds = model.kinds
        let indices = Dictionary(uniqueKeysWithValues: kinds.enumerated().map { ($1, $0) })
        let population = Self.population(model).map { (kind: $0, referral: UUID()) }
        try await Fixture.deliver(population.flatMap { try Self.events(for: $0.kind, referral: $0.referral) }, to: test)
        // Outcomes and service use, as the API records them (scored: the UCLA-3 total).
        let measured = population.filter(\.kind.measured).map(\.referral)
        try await test.pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO outcome_measure (referral_id, instrument, timepoint, answers, scores, recorded_by)
                SELECT r, 'ucla3', t.timepoint, t.answers, t.scores, 'differencing' FROM unnest(\(measured)::uuid[]) AS r
                CROSS JOIN (VALUES ('baseline', ARRAY[3, 3, 3], '{"total": 9}'::jsonb), ('follow-up-12w', ARRAY[2, 2, 1], '{"total": 5}'::jsonb))
                    AS t(timepoint, answers, scores)
                """)
            try await connection.query(
                """
                INSERT INTO service_use (referral_id, period, primary_care_visits, recorded_by)
                SELECT r, p.period, p.visits, 'differencing' FROM unnest(\(measured)::uuid[]) AS r
                CROSS JOIN (VALUES ('before', 6), ('after', 4)) AS p(period, visits)
                """)
        }
        let truth = population.reduce(into: [Int](repeating: 0, count: kinds.count)) { $0[indices[$1.kind]!] += 1 }
        let analyst = try await test.token(.networkCoordinator)
        let answers = try await test.host.application.test(.router) { client -> [Answer] in
            var answers: [Answer] = []
            for window in Self.windows {
                let sites: [Int?] = [nil] + Self.sites.indices.map { $0 }
                for site in sites {
                    let dimensions: [String?] = [nil] + model.dimensions.map(\.name)
                    for dimension in dimensions {
                        for report in model.reports {
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
        // Minutes of work for the processor: on a thread of its own, not one of the cooperative
        // pool's few (two on two cores), which every other test running meanwhile needs.
        let (figures, violations) = try await onOwnThread { [answers, kinds, truth] in try Self.figures(of: answers, kinds: kinds, truth: truth) }
        #expect(violations.isEmpty, "\(violations.prefix(10))")
        for figure in figures where figure.shown != nil {
            #expect(figure.shown == figure.truth, "\(figure.source) shows \(figure.shown!), counts \(figure.truth)")
        }
        let (small, derived) = await onOwnThread { [figures] in Self.derivable(figures) }
        // The scenario must have small cells to protect, or the test proves nothing: in every
        // report requested, shown figures and hidden small ones.
        #expect(small > 20)
        for report in model.reports {
            let of = figures.filter { $0.source.hasPrefix("/v1/reports/\(report)?") }
            #expect(of.contains { $0.shown != nil } && of.contains { $0.shown == nil && (1...4).contains($0.truth) }, "\(model.name): \(report)")
        }
        #expect(derived.isEmpty, "\(model.name): \(derived.count) hidden small counts can be worked out, e.g. \(derived.sorted { $0.key < $1.key }.prefix(8))")
        let pinned = try await Self.pinnedByBounds(figures)
        #expect(pinned.isEmpty, "\(model.name): \(pinned.count) hidden small counts are pinned by bounds, e.g. \(pinned.prefix(8))")
        await test.tearDown()
    }

    /// Every answer: the request's window, site, breakdown and report, and the body.
    typealias Answer = (window: Set<Int>, site: Int?, dimension: String?, report: String, uri: String, body: String)

    /// Each figure of every answer as an equation over `kinds`, with what it shows and what it
    /// truly counts; what breaks the rules (a figure neither a number nor hidden, a derived figure
    /// beside a hidden one, published bounds that are not the months counted) as violations.
    static func figures(of answers: [Answer], kinds: [Kind], truth: [Int]) throws -> ([Figure], [String]) {
        var figures: [Figure] = []
        var violations: [String] = []
        // Months start at midnight in the network's time zone (Toronto: UTC-4 in summer).
        let starts = ["2026-08-01T04:00:00Z", "2026-09-01T04:00:00Z", "2026-10-01T04:00:00Z"]
        for (months, site, dimension, report, uri, text) in answers {
            let body = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            // The published bounds are the whole months counted, whatever the report.
            if body?["from"] as? String != starts[months.min()!] { violations.append("\(uri): from \(String(describing: body?["from"]))") }
            if body?["to"] as? String != starts[months.max()! + 1] { violations.append("\(uri): to \(String(describing: body?["to"]))") }
            for row in body?["rows"] as? [[String: Any]] ?? [] {
                let group = row["group"] as? String ?? "?"
                /// The kinds a figure of this row counts, narrowed by `item`.
                func figure(_ key: String, _ item: (Progress) -> Bool) { kindFigure(key) { item($0.progress) } }
                func kindFigure(_ key: String, _ item: (Kind) -> Bool) {
                    let members = kinds.map { kind -> Bool in
                        (site == nil || kind.site == site) && months.contains(kind.month)
                            && (group == "all" || dimension.map { kind.value(of: $0) == group } == true) && item(kind)
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
                case "needs":
                    let category = row["category"] as? String ?? "?"
                    kindFigure("clients", { category == "all" || Self.needSets[$0.needs].contains(category) })
                    kindFigure("referrals", { category == "all" || Self.needSets[$0.needs].contains(category) })
                case "unmet-needs":
                    // Every unmet need is housing in K1Y, recorded in the pathway's month.
                    kindFigure("clients", \.unmet)
                    kindFigure("referrals", \.unmet)
                case "outcomes", "service-use":
                    kindFigure("clients", \.measured)
                    kindFigure("n", \.measured)
                case "engagement":
                    let stage = row["stage"] as? String ?? "?"
                    let counts: (Kind) -> Bool = { kind in
                        switch stage {
                        case "contacted": kind.contact > 0
                        case "reached": kind.contact > 1
                        case "goals-set": kind.goal > 0
                        case "goals-improved": kind.goal > 1
                        case "goals-achieved": kind.goal == 3
                        default: true  // received, all
                        }
                    }
                    kindFigure("clients", counts)
                    kindFigure("referrals", counts)
                    // A share with the clients referred shown gives its numerator.
                    switch row["share"] {
                    case let share as Double:
                        let received = (body?["rows"] as? [[String: Any]])?.first { $0["stage"] as? String == "received" && $0["group"] as? String == group }
                        guard let base = received?["clients"] as? Int else {
                            violations.append("\(uri) group=\(group) stage=\(stage): a share beside a hidden number of clients referred")
                            continue
                        }
                        kindFigure("share", counts)
                        figures[figures.count - 1].shown = Int((share * Double(base)).rounded())
                    case let text as String where text == ReportValue.suppressedText: kindFigure("share", counts)
                    default: break  // none for the clients referred themselves
                    }
                case "dosage":
                    kindFigure("clients") { $0.contact > 0 }
                    kindFigure("n") { $0.contact > 0 }
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
        return (figures, violations)
    }

    /// The hidden counts of 1 to 4 (how many), and those of them that are a combination of the
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

    /// The hidden counts of 1 to 4 that bounds pin to one value: shown figures are equations,
    /// every kind's count is a whole number of at least 0, and a hidden count is the least and the
    /// greatest its equation can then take (linear programmes, `bounds.py`).
    static func pinnedByBounds(_ figures: [Figure]) async throws -> [String] {
        func members(_ kinds: [Bool]) -> [Int] { kinds.indices.filter { kinds[$0] } }
        var shown: [[Bool]: Int] = [:]
        for figure in figures { if let value = figure.shown { shown[figure.kinds] = value } }
        var cells: [[Bool]: Figure] = [:]
        for figure in figures where figure.shown == nil && (1...4).contains(figure.truth) { cells[figure.kinds] = figure }
        let small = Array(cells.values)
        guard let width = figures.first?.kinds.count, !small.isEmpty else { return [] }
        let problem: [String: Any] = [
            "kinds": width, "shown": shown.map { [members($0.key), $0.value] as [Any] }, "cells": small.map { members($0.kinds) },
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("passerelle-bounds-\(UUID()).json")
        try JSONSerialization.data(withJSONObject: problem).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("bounds.py")
        let (status, output) = try await ChildProcess.run(["python3", script.path, file.path], errorOutput: .discarded)
        #expect(status == 0, "bounds.py: \(output.suffix(500))")
        let bounds = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[Int]] ?? []
        #expect(bounds.count == small.count, "bounds.py bounded \(bounds.count) of \(small.count) cells")
        return zip(small, bounds).filter { $0.1.count == 2 && $0.1[0] == $0.1[1] }.map { "\($0.0.source) = \($0.1[0]) (counts \($0.0.truth))" }
    }
}

import Foundation
import PostgresClient

/// What a report may be broken down by. The equity dimensions read sociodemographics, which the
/// projection keeps only for clients who consented to evaluation use: everyone else is counted
/// in the group `undisclosed`.
public enum ReportDimension: String, Sendable, CaseIterable {
    case ageBand = "age-band"
    case language
    case area
    case site
    case supportLevel = "support-level"
    case referrerRole = "referrer-role"
    case gender
    case incomeBand = "income-band"
    case newcomer
    case disability
    case racialOrEthnicGroup = "racial-ethnic-group"

    /// The pathway column it reads.
    var column: String {
        switch self {
        case .ageBand: "age_band"
        case .language: "language"
        case .area: "area"
        case .site: "site"
        case .supportLevel: "support_level"
        case .referrerRole: "referrer_role"
        case .gender: "gender"
        case .incomeBand: "income_band"
        case .newcomer: "newcomer"
        case .disability: "disability"
        case .racialOrEthnicGroup: "racial_ethnic_group"
        }
    }

    /// SQL over the pathway aliased `p` (NULL when an outer join found none, or not disclosed).
    var expression: String { "coalesce(p.\(column), 'undisclosed')" }
}

/// How a report's SQL is assembled. Every report reads `scope` (the pathways of the chosen site
/// and period, each with its group `grp`) or its own source, groups by its items and the
/// group with GROUPING SETS so totals come from the same scan, and returns for each line the
/// distinct clients it counts (what suppression looks at) and its measures.
struct ReportDefinition: Sendable {
    enum Kind: Sendable {
        /// Additive counts: items × groups with an `all` row and column, suppressed as one grid.
        case counts
        /// Statistics per item (medians, means): each item's groups and its `all`, suppressed
        /// as a line (the groups' clients add up to the `all`).
        case statistics
    }

    var name: String
    var kind: Kind
    /// Item columns: label name → SQL expression.
    var items: [(name: String, expression: String)]
    /// How items are ordered (SQL aggregate over the item's rows); by label when nil.
    var order: String?
    /// CTEs after `scope`, each `name AS (...)`.
    var extraCommonTables: [String] = []
    /// `FROM … [WHERE …]`; may use `{group}` for the dimension's expression over `p`.
    var source: String
    /// The distinct clients a line counts.
    var clients: String = "count(DISTINCT s.client_id)"
    /// Measures: name → SQL aggregate, in output order.
    var measures: [(name: String, expression: String)]
    /// Measures that are whole counts.
    var countMeasures: Set<String> = []
    /// Items (by label) that add up to the population the report counts: complementary
    /// suppression runs along them (see `SmallCellSuppression`).
    var partitions: [[String]] = []
    /// Items that count the whole population: shown and hidden as the group totals are.
    var wholeItems: Set<String> = []
    /// Where the report's cells come from.
    var cells: Cells = .own
    /// The item (by label) a `share` measure divides each line's clients by, in the same group:
    /// a derived figure, shown only when both cells are.
    var shareOf: String?
    /// The site and calendar month (`YYYY-MM` in the network's time zone, `$4`) of a source row:
    /// the atoms every figure adds up.
    var atomSite = "s.site"
    var atomMonth = "s.month"

    enum Cells: Sendable {
        /// Its own statement's counts, suppressed as its own table.
        case own
        /// Counts and suppression of funnel cells (`item → stage`), statistics of its own: the
        /// timings count exactly the pathways the funnel's stages count.
        case funnelStages([String: String])
        /// Sums of funnel cells: closures (every closing stage) and completions.
        case completion
    }

    static let scopeSource = "FROM scope s"
    /// The funnel, whose cells the timings and completion reports count (defined just below).
    static var funnel: ReportDefinition { all["funnel"]! }
    /// The funnel's closing stages.
    static let funnelEnds = ["completed", "dropped:rejected", "dropped:cancelled", "dropped:failed"]

    static let all: [String: ReportDefinition] = Dictionary(
        uniqueKeysWithValues: [
            ReportDefinition(
                name: "overview", kind: .counts, items: [], source: scopeSource,
                measures: [("referrers", "count(DISTINCT s.referrer_id)"), ("referrals", "count(*)")],
                countMeasures: ["referrers", "referrals"]),
            ReportDefinition(
                name: "needs", kind: .counts, items: [("category", "n.category")],
                source: "FROM scope s CROSS JOIN LATERAL unnest(s.needs) AS n(category)",
                measures: [("referrals", "count(DISTINCT s.referral_id)")], countMeasures: ["referrals"]),
            ReportDefinition(
                name: "support-levels", kind: .counts, items: [("supportLevel", "s.support_level")],
                order: "min(array_position(ARRAY['signposting','light','medium','holistic'], s.support_level))",
                source: scopeSource, measures: [("referrals", "count(*)")], countMeasures: ["referrals"],
                partitions: [["signposting", "light", "medium", "holistic"]]),
            ReportDefinition(
                name: "funnel", kind: .counts, items: [("stage", "f.stage")], order: "min(f.position)",
                source: """
                    FROM scope s CROSS JOIN LATERAL (VALUES
                        (1, 'received', true),
                        (2, 'accepted', s.accepted_at IS NOT NULL),
                        (3, 'contacted', s.first_contact_at IS NOT NULL),
                        (4, 'connected', s.connected_at IS NOT NULL),
                        (5, 'completed', s.status = 'completed'),
                        (6, 'dropped:rejected', s.status = 'rejected'),
                        (7, 'dropped:cancelled', s.status = 'cancelled'),
                        (8, 'dropped:failed', s.status = 'failed'),
                        (9, 'waiting:on-hold', s.status = 'on-hold'),
                        (10, 'open', s.status IN ('received', 'accepted', 'in-progress'))
                    ) AS f(position, stage, reached)
                    WHERE f.reached
                    """,
                measures: [("referrals", "count(DISTINCT s.referral_id)")], countMeasures: ["referrals"],
                // Every pathway is in exactly one of the final stages.
                partitions: [funnelEnds + ["waiting:on-hold", "open"]], wholeItems: ["received"]),
            // Made of funnel cells, so it cannot tell what the funnel hides.
            ReportDefinition(
                name: "completion", kind: .counts, items: [], source: scopeSource,
                measures: [("closed", "count(*)"), ("completed", "count(*)"), ("completionRate", "NULL::float8")],
                countMeasures: ["closed", "completed"], cells: .completion),
            ReportDefinition(
                name: "timings", kind: .statistics, items: [("interval", "t.label")], order: "min(t.position)",
                source: """
                    FROM scope s CROSS JOIN LATERAL (VALUES
                        (1, 'to-first-contact', extract(epoch FROM s.first_contact_at - s.received_at) / 3600),
                        (2, 'to-connection', extract(epoch FROM s.connected_at - s.received_at) / 3600)
                    ) AS t(position, label, hours)
                    WHERE t.hours IS NOT NULL
                    """,
                measures: [
                    ("n", "count(*)"),
                    ("medianHours", "round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.hours)::numeric, 2)"),
                    ("p90Hours", "round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.hours)::numeric, 2)"),
                ],
                countMeasures: ["n"], cells: .funnelStages(["to-first-contact": "contacted", "to-connection": "connected"])),
            ReportDefinition(
                name: "outcomes", kind: .statistics, items: [("instrument", "c.instrument"), ("score", "c.score")],
                extraCommonTables: [
                    // The latest measure after baseline, per pathway and instrument.
                    """
                    latest AS (
                        SELECT DISTINCT ON (o.referral_id, o.instrument) o.referral_id, o.instrument, o.scores
                        FROM outcome_measure o JOIN scope s ON s.referral_id = o.referral_id
                        WHERE o.timepoint <> 'baseline'
                        ORDER BY o.referral_id, o.instrument, array_position(ARRAY['follow-up-6w', 'follow-up-12w', 'closure'], o.timepoint) DESC
                    )
                    """,
                    """
                    change AS (
                        SELECT l.referral_id, l.instrument, k.score, (l.scores ->> k.score)::float8 - (b.scores ->> k.score)::float8 AS delta
                        FROM latest l
                        JOIN outcome_measure b ON b.referral_id = l.referral_id AND b.instrument = l.instrument AND b.timepoint = 'baseline'
                        CROSS JOIN LATERAL jsonb_object_keys(l.scores) AS k(score)
                        WHERE b.scores ? k.score
                    )
                    """,
                ],
                source: "FROM change c JOIN scope s ON s.referral_id = c.referral_id",
                measures: [("n", "count(*)"), ("meanChange", "avg(c.delta)"), ("sd", "stddev_samp(c.delta)")],
                countMeasures: ["n"]),
            ReportDefinition(
                name: "service-use", kind: .statistics, items: [("visits", "m.visits")], order: "min(m.position)",
                source: """
                    FROM scope s
                    JOIN service_use b ON b.referral_id = s.referral_id AND b.period = 'before'
                    JOIN service_use a ON a.referral_id = s.referral_id AND a.period = 'after'
                    CROSS JOIN LATERAL (VALUES
                        (1, 'primary-care', b.primary_care_visits, a.primary_care_visits),
                        (2, 'emergency', b.emergency_visits, a.emergency_visits)
                    ) AS m(position, visits, before, after)
                    WHERE m.before IS NOT NULL AND m.after IS NOT NULL
                    """,
                measures: [
                    ("n", "count(*)"), ("meanBefore", "avg(m.before)::float8"), ("meanAfter", "avg(m.after)::float8"),
                    ("meanChange", "avg(m.after - m.before)::float8"), ("sd", "stddev_samp(m.after - m.before)::float8"),
                ],
                countMeasures: ["n"]),
            // Casework "dosage" of the pathways with at least one contact logged: contacts
            // (attempts included), those that reached someone, and minutes, per pathway.
            ReportDefinition(
                name: "dosage", kind: .statistics, items: [("measure", "d.measure")], order: "min(d.position)",
                source: """
                    FROM scope s CROSS JOIN LATERAL (VALUES
                        (1, 'contacts', s.contacts_logged::float8),
                        (2, 'reached-contacts', s.contacts_reached::float8),
                        (3, 'minutes', s.contact_minutes::float8)
                    ) AS d(position, measure, amount)
                    WHERE s.contacts_logged > 0
                    """,
                measures: [
                    ("n", "count(*)"), ("mean", "avg(d.amount)"),
                    ("median", "round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d.amount)::numeric, 2)"),
                ],
                countMeasures: ["n"]),
            // Who casework reached and what came of their goals: clients referred, contacted
            // (a contact logged), reached, with a goal set, improved since it was set, achieved;
            // `total` counts the contacts or goals, `share` is of the clients referred.
            ReportDefinition(
                name: "engagement", kind: .counts, items: [("stage", "e.stage")], order: "min(e.position)",
                source: """
                    FROM scope s
                    CROSS JOIN LATERAL (
                        SELECT count(*)::int AS goals,
                            count(*) FILTER (WHERE array_position(ARRAY['not-started', 'started', 'partly-achieved', 'achieved'], g.now)
                                > array_position(ARRAY['not-started', 'started', 'partly-achieved', 'achieved'], g.start))::int AS improved,
                            count(*) FILTER (WHERE g.now = 'achieved')::int AS achieved
                        FROM unnest(s.goal_start_progress, s.goal_progress) AS g(start, now)
                    ) AS gc
                    CROSS JOIN LATERAL (VALUES
                        (1, 'received', 1),
                        (2, 'contacted', s.contacts_logged),
                        (3, 'reached', s.contacts_reached),
                        (4, 'goals-set', gc.goals),
                        (5, 'goals-improved', gc.improved),
                        (6, 'goals-achieved', gc.achieved)
                    ) AS e(position, stage, amount)
                    WHERE e.amount > 0
                    """,
                measures: [("referrals", "count(DISTINCT s.referral_id)"), ("total", "sum(e.amount)"), ("share", "NULL::float8")],
                countMeasures: ["referrals", "total"], wholeItems: ["received"], shareOf: "received"),
            ReportDefinition(
                name: "unmet-needs", kind: .counts, items: [("category", "u.category"), ("area", "coalesce(u.area, 'unknown')")],
                source: """
                    FROM unmet_need u LEFT JOIN pathway p ON p.referral_id = u.referral_id
                    CROSS JOIN LATERAL (SELECT {group} AS grp) AS g
                    WHERE ($1::text IS NULL OR u.site = $1::text)
                      AND ($2::timestamptz IS NULL OR u.recorded_at >= $2::timestamptz)
                      AND ($3::timestamptz IS NULL OR u.recorded_at < $3::timestamptz)
                    """,
                clients: "count(DISTINCT coalesce(p.client_id, u.referral_id))",
                measures: [("referrals", "count(DISTINCT u.referral_id)")], countMeasures: ["referrals"],
                atomSite: "u.site", atomMonth: "to_char(u.recorded_at AT TIME ZONE $4::text, 'YYYY-MM')"),
        ].map { ($0.name, $0) })

    /// The statement for `dimension` (nil: no breakdown); parameters $1 site, $2 from, $3 to,
    /// $4 the network's time zone. With `atoms`, every line is of one site and month, and only
    /// the counts are computed.
    func sql(dimension: ReportDimension?, atoms: Bool = false) -> String {
        let group = dimension?.expression ?? "'all'"
        let itemExpressions = items.map { $0.expression }
        let atomExpressions = atoms ? [atomSite, atomMonth] : []
        var sets: [[String]] = []
        if dimension != nil {
            sets.append(itemExpressions + ["grp"])
            if kind == .counts || items.isEmpty { sets.append(["grp"]) }
        }
        if !items.isEmpty { sets.append(itemExpressions) }
        if kind == .counts || items.isEmpty { sets.append([]) }
        let grouping = sets.map { "(" + (atomExpressions + $0).joined(separator: ", ") + ")" }.joined(separator: ", ")
        var select = atoms ? ["\(atomSite) AS atom_site", "\(atomMonth) AS atom_month"] : []
        select += items.map { "\($0.expression) AS \(quoted($0.name))" }
        select.append(dimension == nil ? "true AS all_groups" : "GROUPING(grp) = 1 AS all_groups")
        select.append(items.isEmpty ? "true AS all_items" : "GROUPING(\(items[0].expression)) = 1 AS all_items")
        select.append("\(clients) AS clients")
        select.append("\(order ?? "0") AS item_order")
        select += measures.filter { !atoms || countMeasures.contains($0.name) }.map { "\($0.expression) AS \(quoted($0.name))" }
        let groupBy = dimension == nil && items.isEmpty && !atoms ? "" : "GROUP BY GROUPING SETS (\(grouping))"
        let commonTables =
            [
                """
                scope AS (
                    SELECT p.*, \(group) AS grp, to_char(p.received_at AT TIME ZONE $4::text, 'YYYY-MM') AS month FROM pathway p
                    WHERE ($1::text IS NULL OR p.site = $1::text)
                      AND ($2::timestamptz IS NULL OR p.received_at >= $2::timestamptz)
                      AND ($3::timestamptz IS NULL OR p.received_at < $3::timestamptz)
                )
                """
            ] + extraCommonTables
        return """
            WITH \(commonTables.joined(separator: ",\n"))
            SELECT \(select.joined(separator: ", ")), \(dimension == nil ? "'all'" : "grp") AS group_name
            \(source.replacingOccurrences(of: "{group}", with: group))
            \(groupBy)
            """
    }

    private func quoted(_ name: String) -> String { "\"\(name)\"" }
}

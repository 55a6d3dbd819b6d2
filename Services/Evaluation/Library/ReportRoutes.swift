import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime

/// `GET /v1/reports/{name}?site=&from=&to=&by=&format=json|csv` for analysts and coordinators:
/// programme figures for a site (or all) over whole months of referral dates (`ReportWindow`),
/// optionally broken down by an equity dimension, with small cells suppressed by one rule on the
/// cells of each site and month (`SmallCellSuppression`) before anything leaves the service.
struct ReportRoutes: Sendable {
    let pool: PostgresConnectionPool
    /// The network's time zone: months start at its midnight.
    let zone: TimeZone
    let suppression = SmallCellSuppression()

    struct Parameters: Sendable {
        var definition: ReportDefinition
        var site: String?
        var window: ReportWindow
        var dimension: ReportDimension?
        var csv: Bool
    }

    func list() -> Operations.ListReports.Output {
        .ok(
            .init(
                body: .json(
                    .init(
                        reports: ReportDefinition.all.keys.sorted(),
                        dimensions: ReportDimension.allCases.map(\.rawValue)))))
    }

    func run(_ input: Operations.RunReport.Input) async throws -> Operations.RunReport.Output {
        let parameters = try Self.parameters(input, now: Date(), zone: zone).scoped(to: try OperationRequest.caller())
        let report = try await run(parameters)
        if parameters.csv {
            return .ok(.init(headers: .init(contentDisposition: "attachment; filename=\"\(report.name).csv\""), body: .csv(HTTPBody(report.csv))))
        }
        // Rows are open-ended (each report its own measures): the document is checked against
        // the contract's type on the way out.
        return .ok(.init(body: .json(try convertJSON(report.document))))
    }

    static func parameters(_ input: Operations.RunReport.Input, now: Date, zone: TimeZone) throws -> Parameters {
        let query = input.query
        let name = input.path.name
        guard let definition = ReportDefinition.all[name] else {
            throw ProblemDetails(
                status: .notFound, title: "Not found", detail: "no report named \(name); reports: \(ReportDefinition.all.keys.sorted().joined(separator: ", "))"
            )
        }
        var errors: [ProblemDetails.FieldError] = []
        func date(_ key: String, _ bound: Components.Schemas.ReportBound?) -> Date? {
            guard let bound else { return nil }
            // The generator reads a date-time bound as a date and a calendar day as text.
            var date = bound.value2
            if date == nil, let text = bound.value1 {
                date = EventCoding.parseTimestamp(text) ?? (try? Date.ISO8601FormatStyle(timeZone: zone).year().month().day().parse(text))
            }
            guard let date else {
                errors.append(.init(pointer: "?\(key)", detail: "must be a date (2026-01-31) or an RFC 3339 time (2026-01-31T08:00:00Z)"))
                return nil
            }
            // No referral is older than year 1, and PostgreSQL has no year 0: an earlier bound
            // (0001-01-01T00:00:00+05:00) filters the same as year 1.
            return max(date, .distantPast)
        }
        let from = date("from", query.from)
        let to = date("to", query.to)
        if let from, let to, to <= from { errors.append(.init(pointer: "?to", detail: "must be after from")) }
        var dimension: ReportDimension?
        if let by = query.by {
            dimension = ReportDimension(rawValue: by)
            if dimension == nil {
                errors.append(.init(pointer: "?by", detail: "must be one of \(ReportDimension.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        let site = query.site
        if let site, !Site.isValid(site) { errors.append(.init(pointer: "?site", detail: "must be a site code: 2 to 64 lowercase letters, digits and dashes")) }
        var csv = Self.prefersCSV(ranked: input.headers.accept.map { (type: $0.contentType.rawValue.lowercased(), q: $0.quality.doubleValue) })
        switch query.format {
        case nil: break
        case "csv": csv = true
        case "json": csv = false
        default: errors.append(.init(pointer: "?format", detail: "must be json or csv"))
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        return Parameters(
            definition: definition, site: site, window: ReportWindow(from: from, to: to, now: now, zone: zone), dimension: dimension, csv: csv)
    }

    /// Whether `Accept` ranks text/csv above JSON (by q, then by order): a client that takes
    /// both, as a generated one does, gets JSON unless it says it prefers CSV.
    static func prefersCSV(accept: String?) -> Bool {
        guard let accept else { return false }
        return prefersCSV(
            ranked: accept.split(separator: ",").compactMap { part -> (type: String, q: Double)? in
                let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                guard let type = pieces.first, !type.isEmpty else { return nil }
                return (type, pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1)
            })
    }

    /// The same, for an `Accept` header already read into types and qualities, in its order.
    static func prefersCSV(ranked accept: [(type: String, q: Double)]) -> Bool {
        let ranked = accept.enumerated().sorted { $0.element.q != $1.element.q ? $0.element.q > $1.element.q : $0.offset < $1.offset }.map(\.element)
        return ranked.first { ["text/csv", "application/json", "application/*", "*/*"].contains($0.type) && $0.q > 0 }?.type == "text/csv"
    }

    /// Runs the report over its window and publishes it.
    func run(_ parameters: Parameters) async throws -> ProgrammeReport {
        let definition = parameters.definition
        var rows: [ReportRow] = []
        if !parameters.window.isEmpty {
            switch definition.cells {
            case .own:
                let table = try await self.table(definition, parameters)
                let statistics = definition.kind == .statistics ? try await lines(definition, parameters) : [:]
                rows = publish(table, definition: definition, statistics: statistics)
            case .funnelStages(let stages):
                let funnel = try await table(ReportDefinition.funnel, parameters)
                let statistics = try await lines(definition, parameters)
                rows = publish(funnel, stages: stages, definition: definition, statistics: statistics)
            case .completion:
                rows = publishCompletion(try await table(ReportDefinition.funnel, parameters))
            }
        }
        return ProgrammeReport(
            name: definition.name, site: parameters.site, from: parameters.window.from, to: parameters.window.to,
            dimension: parameters.dimension?.rawValue, labelNames: definition.items.map(\.name), measureNames: Self.published(definition), rows: rows)
    }

    /// One result line: of one site and month (an atom), or of the whole window.
    struct Line {
        var labels: [String: String]
        var allItems: Bool
        var group: String
        var clients: Int
        var order: Double
        var measures: [String: Double?]

        var itemKey: [String] { allItems ? [Self.allKey] : labels.sorted { $0.key < $1.key }.map(\.value) }
        static let allKey = "\u{10FFFF}"
    }

    /// A published cell: the sum of its atoms, hidden when any of them is.
    struct Cell {
        var hidden = false
        var clients = 0
        var counts: [String: Int] = [:]
    }

    /// A report's cells over the window, items and groups in publishing order (totals last).
    struct Table {
        var items: [[String]] = []
        var labels: [[String]: [String: String]] = [:]
        var groups: [String] = []
        var cells: [[String]: [String: Cell]] = [:]
    }

    private func bindings(_ parameters: Parameters) -> [String?] {
        [parameters.site, parameters.window.from?.postgresText, parameters.window.to.postgresText, zone.identifier]
    }

    private func decode(_ rows: PostgresRows, _ definition: ReportDefinition, atoms: Bool) throws -> [(atom: String, line: Line)] {
        try rows.map { row in
            var labels: [String: String] = [:]
            let allItems = try row.decode("all_items", as: Bool.self)
            for item in definition.items {
                let label = try row.decode(item.name, as: String?.self)
                labels[item.name] = allItems ? "all" : label ?? "unknown"
            }
            var measures: [String: Double?] = [:]
            for measure in definition.measures where !atoms || definition.countMeasures.contains(measure.name) {
                measures[measure.name] = try row.decode(measure.name, as: Double?.self)
            }
            let allGroups = try row.decode("all_groups", as: Bool.self)
            let group = try row.decode("group_name", as: String?.self)
            var atom = ""
            if atoms { atom = try row.decode("atom_site", as: String.self) + " " + row.decode("atom_month", as: String.self) }
            return (
                atom,
                Line(
                    labels: labels, allItems: allItems, group: allGroups ? "all" : group ?? "undisclosed", clients: try row.decode("clients"),
                    order: try row.decode("item_order", as: Double?.self) ?? 0, measures: measures)
            )
        }
    }

    /// The window's lines (for statistics that do not add up: medians, means), by item and group.
    private func lines(_ definition: ReportDefinition, _ parameters: Parameters) async throws -> [[String]: [String: Line]] {
        let statement = PostgresQuery(unsafeSQL: definition.sql(dimension: parameters.dimension), parameters: bindings(parameters))
        let rows = try await pool.withConnection { try await $0.query(statement) }
        var lines: [[String]: [String: Line]] = [:]
        for (_, line) in try decode(rows, definition, atoms: false) { lines[line.itemKey, default: [:]][line.group] = line }
        return lines
    }

    /// Counts every atom of the window, suppresses each atom's table, and adds the atoms up.
    private func table(_ definition: ReportDefinition, _ parameters: Parameters) async throws -> Table {
        let statement = PostgresQuery(unsafeSQL: definition.sql(dimension: parameters.dimension, atoms: true), parameters: bindings(parameters))
        let rows = try await pool.withConnection { try await $0.query(statement) }
        var atoms: [String: [Line]] = [:]
        var table = Table()
        var order: [[String]: Double] = [:]
        var groups: Set<String> = []
        for (atom, line) in try decode(rows, definition, atoms: true) {
            atoms[atom, default: []].append(line)
            order[line.itemKey] = min(order[line.itemKey] ?? .infinity, line.order)
            table.labels[line.itemKey] = line.labels
            groups.insert(line.group)
        }
        table.groups = groups.subtracting(["all"]).sorted() + (groups.contains("all") ? ["all"] : [])
        table.items = order.keys.sorted { a, b in
            if (a == [Line.allKey]) != (b == [Line.allKey]) { return b == [Line.allKey] }
            return (order[a]!, a.joined(separator: "\u{0}")) < (order[b]!, b.joined(separator: "\u{0}"))
        }
        let hasTotalsRow = definition.kind == .counts
        for (_, lines) in atoms {
            var byCell: [[String]: [String: Line]] = [:]
            for line in lines { byCell[line.itemKey, default: [:]][line.group] = line }
            // Rows and columns in an order that does not depend on the breakdown or the window:
            // ties between complements then fall the same way in every report.
            var items = byCell.keys.filter { $0 != [Line.allKey] }.sorted { $0.joined(separator: "\u{0}") < $1.joined(separator: "\u{0}") }
            if hasTotalsRow { items.append([Line.allKey]) }
            let atomGroups = Set(lines.map(\.group)).subtracting(["all"]).sorted() + ["all"]
            let counts = items.map { item in atomGroups.map { byCell[item]?[$0]?.clients ?? 0 } }
            // Partitions name items by label: the key of an item of one label column.
            let rowOf = Dictionary(items.enumerated().map { ($1.joined(separator: "\u{0}"), $0) }, uniquingKeysWith: { first, _ in first })
            let hidden = suppression.suppressed(
                counts, hasTotalsRow: hasTotalsRow, partitions: definition.partitions.map { $0.compactMap { rowOf[$0] } },
                wholeItems: Set(definition.wholeItems.compactMap { rowOf[$0] }))
            for (i, item) in items.enumerated() {
                for (j, group) in atomGroups.enumerated() {
                    var cell = table.cells[item]?[group] ?? Cell()
                    cell.hidden = cell.hidden || hidden[i][j]
                    if let line = byCell[item]?[group] {
                        cell.clients += line.clients
                        for name in definition.countMeasures { cell.counts[name, default: 0] += Int((line.measures[name] ?? nil) ?? 0) }
                    }
                    table.cells[item, default: [:]][group] = cell
                }
            }
        }
        return table
    }

    /// Measures as published: a spread becomes a 95% confidence interval of the mean.
    static func published(_ definition: ReportDefinition) -> [String] {
        definition.measures.map(\.name).flatMap { $0 == "sd" ? ["ci95Low", "ci95High"] : [$0] }
    }

    /// The rows of a report's own table; statistics that do not add up come from the window's lines.
    func publish(_ table: Table, definition: ReportDefinition, statistics: [[String]: [String: Line]]) -> [ReportRow] {
        table.items.flatMap { item in
            table.groups.map { group in
                let cell = table.cells[item]?[group] ?? Cell()
                var published = row(labels: table.labels[item] ?? [:], group: group, cell: cell, line: statistics[item]?[group], definition: definition)
                if let base = definition.shareOf {
                    published.measures["share"] = share(cell, of: table.cells[[base]]?[group], isBase: item == [base] || item == [Line.allKey])
                }
                return published
            }
        }
    }

    /// A line's clients as a share of the base item's in the same group: made of two cells, so
    /// shown only when both are.
    func share(_ cell: Cell, of base: Cell?, isBase: Bool) -> ReportValue {
        guard !isBase, let base else { return .none }
        if cell.hidden || base.hidden { return .suppressed }
        guard base.clients > 0 else { return .none }
        return .number((Double(cell.clients) / Double(base.clients) * 10_000).rounded() / 10_000)
    }

    /// The rows of a report whose counts are funnel cells (`item → stage`).
    func publish(_ funnel: Table, stages: [String: String], definition: ReportDefinition, statistics: [[String]: [String: Line]]) -> [ReportRow] {
        let item = definition.items[0].name
        let stage = ReportDefinition.funnel.items[0].name
        let order = stages.keys.sorted { (statistics[[$0]]?.values.first?.order ?? 0, $0) < (statistics[[$1]]?.values.first?.order ?? 0, $1) }
        return order.filter { statistics[[$0]] != nil }.flatMap { label in
            funnel.groups.map { group in
                let funnelItem = funnel.items.first { funnel.labels[$0]?[stage] == stages[label] }
                var cell = funnelItem.flatMap { funnel.cells[$0]?[group] } ?? Cell()
                cell.counts = ["n": cell.counts["referrals"] ?? 0]
                return row(labels: [item: label], group: group, cell: cell, line: statistics[[label]]?[group], definition: definition)
            }
        }
    }

    /// Closures and completions as sums of funnel cells: shown only when every cell summed is.
    func publishCompletion(_ funnel: Table) -> [ReportRow] {
        let stage = ReportDefinition.funnel.items[0].name
        func cell(_ name: String, _ group: String) -> Cell {
            funnel.items.first { funnel.labels[$0]?[stage] == name }.flatMap { funnel.cells[$0]?[group] } ?? Cell()
        }
        return funnel.groups.map { group in
            let ends = ReportDefinition.funnelEnds.map { cell($0, group) }
            let completed = cell("completed", group)
            let closedHidden = ends.contains { $0.hidden }
            let closed = ends.reduce(0) { $0 + ($1.counts["referrals"] ?? 0) }
            let completions = completed.counts["referrals"] ?? 0
            let rate: ReportValue =
                closedHidden || completed.hidden
                ? .suppressed : closed == 0 ? .none : .number((Double(completions) / Double(closed) * 10_000).rounded() / 10_000)
            return ReportRow(
                labels: [:], group: group, clients: closedHidden ? .suppressed : .count(ends.reduce(0) { $0 + $1.clients }),
                measures: [
                    "closed": closedHidden ? .suppressed : .count(closed), "completed": completed.hidden ? .suppressed : .count(completions),
                    "completionRate": rate,
                ])
        }
    }

    private func row(labels: [String: String], group: String, cell: Cell, line: Line?, definition: ReportDefinition) -> ReportRow {
        var measures: [String: ReportValue] = [:]
        for name in Self.published(definition) {
            if cell.hidden {
                measures[name] = .suppressed
            } else if definition.countMeasures.contains(name) {
                measures[name] = .count(cell.counts[name] ?? 0)
            } else {
                measures[name] = value(name, line: line)
            }
        }
        return ReportRow(labels: labels, group: group, clients: cell.hidden ? .suppressed : .count(cell.clients), measures: measures)
    }

    func value(_ name: String, line: Line?) -> ReportValue {
        guard let line else { return .none }
        switch name {
        case "ci95Low", "ci95High":
            guard let mean = line.measures["meanChange"] ?? nil, let sd = line.measures["sd"] ?? nil, let n = line.measures["n"] ?? nil, n > 1 else {
                return .none
            }
            let margin = StudentT.quantile975(degreesOfFreedom: Int(n) - 1) * sd / n.squareRoot()
            return .number(Self.rounded(name == "ci95Low" ? mean - margin : mean + margin))
        default:
            guard let number = line.measures[name] ?? nil else { return .none }
            return .number(Self.rounded(number))
        }
    }

    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

/// The 97.5th percentile of Student's t distribution, for two-sided 95% intervals.
enum StudentT {
    private static let table: [Double] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ]

    static func quantile975(degreesOfFreedom df: Int) -> Double {
        if df >= 1 && df <= table.count { return table[df - 1] }
        if df <= 40 { return 2.021 }
        if df <= 60 { return 2.000 }
        if df <= 120 { return 1.980 }
        return 1.960
    }
}

extension HTTPField.Name {
    static let contentDisposition = HTTPField.Name("Content-Disposition")!
}

extension ReportRoutes.Parameters {
    /// Sites bound analysts and coordinators too: one site's figures for a caller whose token
    /// names it; the whole network only for a network-wide role. A token naming one site reports
    /// on it by default; one naming several says which.
    func scoped(to actor: Identity) throws(ProblemDetails) -> Self {
        guard let sites = actor.sitesInScope else { return self }
        var scoped = self
        if let site {
            guard sites.contains(site) else {
                throw ProblemDetails(status: .forbidden, title: "Forbidden", detail: "the token does not name the site \(site)")
            }
        } else if sites.count == 1 {
            scoped.site = sites.first
        } else {
            throw ProblemDetails(
                status: .forbidden, title: "Forbidden",
                detail: sites.isEmpty ? "the token names no site" : "name one of the token's sites: ?site=\(sites.sorted().joined(separator: "|"))")
        }
        return scoped
    }
}

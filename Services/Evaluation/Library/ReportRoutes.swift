import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime

/// `GET /v1/reports/{name}?site=&from=&to=&by=&format=json|csv` for analysts and coordinators:
/// programme figures for a site (or all) and a period of referral dates, optionally broken down
/// by an equity dimension, with every small cell suppressed before it leaves the service.
struct ReportRoutes: ServiceRoutes, Sendable {
    let pool: PostgresConnectionPool
    let suppression = SmallCellSuppression()

    struct Parameters: Sendable {
        var definition: ReportDefinition
        var site: String?
        var from: Date?
        var to: Date?
        var dimension: ReportDimension?
        var csv: Bool
    }

    func add(to router: Router<PasserelleRequestContext>) {
        router.get("/v1/reports") { _, _ in
            try Response.json([
                "reports": ReportDefinition.all.keys.sorted(), "dimensions": ReportDimension.allCases.map(\.rawValue),
            ])
        }
        router.get("/v1/reports/{name}") { request, context in
            let parameters = try Self.parameters(request, context).scoped(to: try context.caller())
            let report = try await run(parameters)
            if parameters.csv {
                var headers = HTTPFields()
                headers[.contentType] = "text/csv; charset=utf-8"
                headers[.contentDisposition] = "attachment; filename=\"\(report.name).csv\""
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: report.csv)))
            }
            return try Response.json(report.document)
        }
    }

    static func parameters(_ request: Request, _ context: PasserelleRequestContext) throws -> Parameters {
        let query = request.uri.queryParameters
        let name = context.parameters.get("name") ?? ""
        guard let definition = ReportDefinition.all[name] else {
            throw ProblemDetails(
                status: .notFound, title: "Not found", detail: "no report named \(name); reports: \(ReportDefinition.all.keys.sorted().joined(separator: ", "))"
            )
        }
        var errors: [ProblemDetails.FieldError] = []
        // A parameter that is sent must be valid, even empty: `by=` names no dimension.
        func value(_ key: String) -> String? { query[key[...]].map(String.init) }
        func date(_ key: String) -> Date? {
            guard let text = value(key) else { return nil }
            guard let date = EventCoding.parseTimestamp(text) ?? (try? Date.ISO8601FormatStyle().year().month().day().parse(text)) else {
                errors.append(.init(pointer: "?\(key)", detail: "must be a date (2026-01-31) or an RFC 3339 time (2026-01-31T08:00:00Z)"))
                return nil
            }
            // No referral is older than year 1, and PostgreSQL has no year 0: an earlier bound
            // (0001-01-01T00:00:00+05:00) filters the same as year 1.
            return max(date, .distantPast)
        }
        let from = date("from")
        let to = date("to")
        if let from, let to, to <= from { errors.append(.init(pointer: "?to", detail: "must be after from")) }
        var dimension: ReportDimension?
        if let by = value("by") {
            dimension = ReportDimension(rawValue: by)
            if dimension == nil {
                errors.append(.init(pointer: "?by", detail: "must be one of \(ReportDimension.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        let site = value("site")
        if let site, !Site.isValid(site) { errors.append(.init(pointer: "?site", detail: "must be a site code: 2 to 64 lowercase letters, digits and dashes")) }
        var csv = Self.prefersCSV(accept: request.headers[.accept])
        switch value("format") {
        case nil: break
        case "csv": csv = true
        case "json": csv = false
        default: errors.append(.init(pointer: "?format", detail: "must be json or csv"))
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        return Parameters(definition: definition, site: site, from: from, to: to, dimension: dimension, csv: csv)
    }

    /// Runs the report's statement and publishes its result.
    /// Whether `Accept` ranks text/csv above JSON (by q, then by order): a client that takes
    /// both, as a generated one does, gets JSON unless it says it prefers CSV.
    static func prefersCSV(accept: String?) -> Bool {
        guard let accept else { return false }
        let ranked = accept.split(separator: ",").enumerated().compactMap { index, part -> (type: String, q: Double, index: Int)? in
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = pieces.first, !type.isEmpty else { return nil }
            let q = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (type, q, index)
        }.sorted { $0.q != $1.q ? $0.q > $1.q : $0.index < $1.index }
        return ranked.first { ["text/csv", "application/json", "application/*", "*/*"].contains($0.type) && $0.q > 0 }?.type == "text/csv"
    }

    func run(_ parameters: Parameters) async throws -> ProgrammeReport {
        let definition = parameters.definition
        let statement = PostgresQuery(
            unsafeSQL: definition.sql(dimension: parameters.dimension),
            parameters: [parameters.site, parameters.from?.postgresText, parameters.to?.postgresText])
        let rows = try await pool.withConnection { try await $0.query(statement) }
        var lines: [Line] = []
        for row in rows {
            var labels: [String: String] = [:]
            let allItems = try row.decode("all_items", as: Bool.self)
            for item in definition.items {
                let label = try row.decode(item.name, as: String?.self)
                labels[item.name] = allItems ? "all" : label ?? "unknown"
            }
            var measures: [String: Double?] = [:]
            for measure in definition.measures { measures[measure.name] = try row.decode(measure.name, as: Double?.self) }
            let allGroups = try row.decode("all_groups", as: Bool.self)
            let group = try row.decode("group_name", as: String?.self)
            lines.append(
                Line(
                    labels: labels, allItems: allItems, group: allGroups ? "all" : group ?? "undisclosed",
                    clients: try row.decode("clients"), order: try row.decode("item_order", as: Double?.self) ?? 0, measures: measures))
        }
        return ProgrammeReport(
            name: definition.name, site: parameters.site, from: parameters.from, to: parameters.to, dimension: parameters.dimension?.rawValue,
            labelNames: definition.items.map(\.name), measureNames: Self.published(definition),
            rows: publish(lines, definition: definition))
    }

    /// One result line before suppression.
    struct Line {
        var labels: [String: String]
        var allItems: Bool
        var group: String
        var clients: Int
        var order: Double
        var measures: [String: Double?]

        var itemKey: [String] { allItems ? ["\u{10FFFF}"] : labels.sorted { $0.key < $1.key }.map(\.value) }
    }

    /// Measures as published: a spread becomes a 95% confidence interval of the mean.
    static func published(_ definition: ReportDefinition) -> [String] {
        definition.measures.map(\.name).flatMap { $0 == "sd" ? ["ci95Low", "ci95High"] : [$0] }
    }

    /// Lays the lines out as grids (items × groups, totals last), suppresses small cells and
    /// their complements, and turns the rest into published rows.
    func publish(_ lines: [Line], definition: ReportDefinition) -> [ReportRow] {
        let groups = Set(lines.map(\.group)).subtracting(["all"]).sorted() + ["all"]
        var itemOrder: [[String]: Double] = [:]
        var itemLabels: [[String]: (labels: [String: String], all: Bool)] = [:]
        for line in lines {
            itemOrder[line.itemKey] = line.order
            itemLabels[line.itemKey] = (line.labels, line.allItems)
        }
        let items = itemOrder.keys.sorted { a, b in
            let (allA, allB) = (itemLabels[a]!.all, itemLabels[b]!.all)
            if allA != allB { return !allA }
            return (itemOrder[a]!, a.joined(separator: "\u{0}")) < (itemOrder[b]!, b.joined(separator: "\u{0}"))
        }
        var byCell: [[String]: [String: Line]] = [:]
        for line in lines { byCell[line.itemKey, default: [:]][line.group] = line }
        let counts = items.map { item in groups.map { byCell[item]?[$0]?.clients ?? 0 } }
        let hidden: [[Bool]]
        switch definition.kind {
        case .counts: hidden = suppression.suppressed(counts)
        case .statistics: hidden = counts.map { suppression.suppressed([$0])[0] }
        }
        var rows: [ReportRow] = []
        for (i, item) in items.enumerated() {
            for (j, group) in groups.enumerated() {
                let line = byCell[item]?[group]
                var measures: [String: ReportValue] = [:]
                for name in Self.published(definition) {
                    measures[name] = hidden[i][j] ? .suppressed : value(name, line: line, definition: definition)
                }
                rows.append(
                    ReportRow(
                        labels: itemLabels[item]!.labels, group: group, clients: hidden[i][j] ? .suppressed : .count(counts[i][j]), measures: measures))
            }
        }
        return rows
    }

    func value(_ name: String, line: Line?, definition: ReportDefinition) -> ReportValue {
        guard let line else { return definition.countMeasures.contains(name) ? .count(0) : .none }
        switch name {
        case "ci95Low", "ci95High":
            guard let mean = line.measures["meanChange"] ?? nil, let sd = line.measures["sd"] ?? nil, let n = line.measures["n"] ?? nil, n > 1 else {
                return .none
            }
            let margin = StudentT.quantile975(degreesOfFreedom: Int(n) - 1) * sd / n.squareRoot()
            return .number(Self.rounded(name == "ci95Low" ? mean - margin : mean + margin))
        default:
            guard let number = line.measures[name] ?? nil else { return .none }
            return definition.countMeasures.contains(name) ? .count(Int(number)) : .number(Self.rounded(number))
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

import Foundation
import PostgresClient

/// A value of a published report: a number, a suppressed small cell, or nothing to say.
public enum ReportValue: Sendable, Equatable, Encodable {
    case count(Int)
    case number(Double)
    case text(String)
    case suppressed
    case none

    public static let suppressedText = "<5"

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .count(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        case .suppressed: try container.encode(Self.suppressedText)
        case .none: try container.encodeNil()
        }
    }

    var csv: String {
        switch self {
        case .count(let value): String(value)
        case .number(let value): String(value)
        case .text(let value): value
        case .suppressed: Self.suppressedText
        case .none: ""
        }
    }
}

/// One line of a report: what it is about (`labels`, e.g. a need category), the equity group
/// (`all` for everyone), the clients it counts, and its measures.
public struct ReportRow: Sendable, Equatable {
    public var labels: [String: String]
    public var group: String
    public var clients: ReportValue
    public var measures: [String: ReportValue]
}

/// A report as published: every small cell already suppressed.
public struct ProgrammeReport: Sendable {
    public var name: String
    public var site: String?
    public var from: Date?
    public var to: Date?
    public var dimension: String?
    public var labelNames: [String]
    public var measureNames: [String]
    public var rows: [ReportRow]

    public struct Document: Encodable {
        struct Row: Encodable {
            var values: [String: ReportValue]
            func encode(to encoder: any Encoder) throws { try values.encode(to: encoder) }
        }
        var report: String
        var site: String?
        var from: Date?
        var to: Date?
        var by: String?
        var suppressedBelow: Int
        var rows: [Row]
    }

    public var document: Document {
        Document(
            report: name, site: site, from: from, to: to, by: dimension, suppressedBelow: SmallCellSuppression().threshold,
            rows: rows.map { row in
                var values = row.measures
                for (name, label) in row.labels { values[name] = .text(label) }
                values["group"] = .text(row.group)
                values["clients"] = row.clients
                return Document.Row(values: values)
            })
    }

    /// RFC 4180 CSV: one header line, then one line per row.
    public var csv: String {
        let header = labelNames + ["group", "clients"] + measureNames
        var lines = [header.map(Self.quoted).joined(separator: ",")]
        for row in rows {
            let fields = labelNames.map { row.labels[$0] ?? "" } + [row.group, row.clients.csv] + measureNames.map { row.measures[$0]?.csv ?? "" }
            lines.append(fields.map(Self.quoted).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

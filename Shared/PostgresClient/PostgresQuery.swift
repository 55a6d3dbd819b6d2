import Foundation
import WireFormats

/// A parameterised statement. Interpolated values become `$n` parameters sent separately from
/// the SQL text, so nothing a user types can change the statement:
///
///     let query: PostgresQuery = "SELECT id FROM referral WHERE site = \(site) AND status = \(status)"
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    /// Parameters in text format; `nil` is SQL NULL.
    public var parameters: [String?]

    public init(unsafeSQL sql: String, parameters: [String?] = []) {
        self.sql = sql
        self.parameters = parameters
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, parameters: stringInterpolation.parameters)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var parameters: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            parameters.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            parameters.append(value.postgresText)
            sql += "$\(parameters.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            parameters.append(value?.postgresText)
            sql += "$\(parameters.count)"
        }

        /// A piece of SQL written once and used in several statements (a column list, say).
        /// Fragments carry no parameters, so the statement's numbering stays its own.
        public mutating func appendInterpolation(fragment: PostgresQuery) {
            precondition(fragment.parameters.isEmpty, "a fragment carries no parameters: \(fragment.sql)")
            sql += fragment.sql
        }

        /// An identifier (schema, table) that we control, double-quoted. Refuses anything but
        /// plain lowercase identifiers rather than trying to escape arbitrary text.
        public mutating func appendInterpolation(identifier: String) {
            precondition(PostgresConfiguration.isPlainIdentifier(identifier), "not a plain identifier: \(identifier)")
            sql += "\"\(identifier)\""
        }
    }

    /// The first words of the statement, for error context and logs (never the parameters).
    public var description: String {
        let words = sql.split(whereSeparator: { $0 == " " || $0 == "\n" }).prefix(4)
        return words.joined(separator: " ")
    }
}

/// A Swift value that can be sent as a text-format parameter. Pair it with an explicit cast in
/// SQL where the type is not obvious (`\(id)::uuid`, `\(when)::timestamptz`, `\(body)::jsonb`).
public protocol PostgresEncodable: Sendable {
    var postgresText: String { get }
}

extension String: PostgresEncodable { public var postgresText: String { self } }
extension Substring: PostgresEncodable { public var postgresText: String { String(self) } }
extension Int: PostgresEncodable { public var postgresText: String { String(self) } }
extension Int32: PostgresEncodable { public var postgresText: String { String(self) } }
extension Int64: PostgresEncodable { public var postgresText: String { String(self) } }
extension Double: PostgresEncodable { public var postgresText: String { String(self) } }
extension Bool: PostgresEncodable { public var postgresText: String { self ? "t" : "f" } }
extension UUID: PostgresEncodable { public var postgresText: String { UUIDText.format(self) } }

/// Timestamps travel as ISO text in UTC (every connection sets TimeZone=UTC, DateStyle=ISO).
extension Date: PostgresEncodable {
    public var postgresText: String { UTCTimestamp.postgres(self) }
}

extension Data: PostgresEncodable {
    /// bytea hex format.
    public var postgresText: String {
        var text: [UInt8] = Array("\\x".utf8)
        text.reserveCapacity(2 + count * 2)
        for byte in self {
            text.append(UUIDText.hexDigits[Int(byte >> 4)])
            text.append(UUIDText.hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// An array literal (`{"a","b"}`), every element quoted so commas and braces are data.
    /// Built byte by byte: this runs for every array parameter, some with thousands of elements.
    public var postgresText: String {
        var text: [UInt8] = [UInt8(ascii: "{")]
        for (index, element) in enumerated() {
            if index > 0 { text.append(UInt8(ascii: ",")) }
            text.append(UInt8(ascii: "\""))
            for byte in element.postgresText.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { text.append(UInt8(ascii: "\\")) }
                text.append(byte)
            }
            text.append(UInt8(ascii: "\""))
        }
        text.append(UInt8(ascii: "}"))
        return String(decoding: text, as: UTF8.self)
    }
}

/// A JSON document sent as text; cast it with `::jsonb` in SQL.
public struct PostgresJSON: PostgresEncodable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public init(encoding value: some Encodable) throws {
        self.text = String(decoding: try Self.encoder.encode(value), as: UTF8.self)
    }
    public var postgresText: String { text }

    static let encoder = JSONCoding.stored.encoder
}

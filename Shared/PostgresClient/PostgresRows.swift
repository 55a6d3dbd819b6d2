import Foundation
import WireFormats

/// The rows of one result, copied out of libpq (text format) so the `PGresult` is freed at once.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    let values: [[String?]]
    /// Rows affected by INSERT/UPDATE/DELETE (`PQcmdTuples`), 0 otherwise.
    public let affectedRows: Int

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: PostgresRow? { values.first.map { PostgresRow(columns: columnIndex, values: $0) } }

    private let columnIndex: [String: Int]

    init(columns: [String], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
        var index: [String: Int] = [:]
        for (i, name) in columns.enumerated() where index[name] == nil { index[name] = i }
        self.columnIndex = index
    }

    public func makeIterator() -> some IteratorProtocol<PostgresRow> {
        let index = columnIndex
        return values.lazy.map { PostgresRow(columns: index, values: $0) }.makeIterator()
    }
}

/// One row; read columns by name with the Swift type you expect.
public struct PostgresRow: Sendable {
    let columns: [String: Int]
    let values: [String?]

    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let index = columns[column] else {
            throw PostgresError(kind: .protocolViolation, message: "no column named \(column) in the result")
        }
        guard let text = values[index] else {
            throw PostgresError(kind: .protocolViolation, message: "column \(column) is NULL, expected \(T.self)")
        }
        guard let value = T(postgresText: text) else {
            throw PostgresError(kind: .protocolViolation, message: "column \(column) holds \(text.prefix(40)), not a \(T.self)")
        }
        return value
    }

    public func decode<T: PostgresDecodable>(_ column: String, as type: T?.Type) throws -> T? {
        guard let index = columns[column] else {
            throw PostgresError(kind: .protocolViolation, message: "no column named \(column) in the result")
        }
        guard values[index] != nil else { return nil }
        return try decode(column, as: T.self)
    }
}

/// A Swift value that can be read from PostgreSQL's text output format.
public protocol PostgresDecodable: Sendable {
    init?(postgresText: String)
}

extension String: PostgresDecodable { public init?(postgresText: String) { self = postgresText } }
extension Int: PostgresDecodable { public init?(postgresText: String) { self.init(postgresText) } }
extension Int32: PostgresDecodable { public init?(postgresText: String) { self.init(postgresText) } }
extension Int64: PostgresDecodable { public init?(postgresText: String) { self.init(postgresText) } }
extension Double: PostgresDecodable { public init?(postgresText: String) { self.init(postgresText) } }
extension UUID: PostgresDecodable {
    public init?(postgresText: String) {
        guard let uuid = UUIDText.parse(postgresText) else { return nil }
        self = uuid
    }
}
extension Bool: PostgresDecodable {
    public init?(postgresText: String) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}
extension Date: PostgresDecodable {
    public init?(postgresText: String) {
        guard let date = UTCTimestamp.parse(postgresText) else { return nil }
        self = date
    }
}
extension Data: PostgresDecodable {
    public init?(postgresText: String) {
        guard postgresText.hasPrefix("\\x") else { return nil }
        let hex = postgresText.utf8.dropFirst(2)
        guard hex.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(hex.count / 2)
        var high: UInt8?
        for char in hex {
            let nibble: UInt8
            switch char {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = char - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = char - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = char - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        self = Data(bytes)
    }
}
extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// One-dimensional array literals such as `{a,"b c",NULL}` (NULL elements are refused).
    /// Read scalar by scalar, not by Character: an element that begins with a combining mark
    /// would otherwise merge with the quote or comma before it into one grapheme.
    public init?(postgresText: String) {
        let scalars = postgresText.unicodeScalars
        guard scalars.first == "{", scalars.last == "}" else { return nil }
        var result: [Element] = []
        var current = String.UnicodeScalarView()
        var quoted = false
        var wasQuoted = false
        var escaping = false
        let body = scalars.dropFirst().dropLast()
        if body.isEmpty {
            self = []
            return
        }
        func flush() -> Bool {
            let text = String(current)
            if !wasQuoted && text == "NULL" { return false }
            guard let element = Element(postgresText: text) else { return false }
            result.append(element)
            current = String.UnicodeScalarView()
            wasQuoted = false
            return true
        }
        for scalar in body {
            if escaping {
                current.append(scalar)
                escaping = false
                continue
            }
            switch scalar {
            case "\\" where quoted: escaping = true
            case "\"":
                quoted.toggle()
                wasQuoted = true
            case "," where !quoted: guard flush() else { return nil }
            default: current.append(scalar)
            }
        }
        guard flush() else { return nil }
        self = result
    }
}

import Foundation

/// One CSV table after RFC 4180: a header row naming the columns, then records. Fields may be
/// quoted ("…"), with "" for a quote and commas or line breaks inside; lines end in CRLF or
/// LF; a leading UTF-8 byte order mark is dropped. Writing quotes only fields that need it
/// and ends lines with CRLF, as the RFC says. NUL characters are dropped (no text column holds one).
public struct CSVTable: Sendable, Equatable {
    public var columns: [String]
    public var records: [[String]]
    /// The file's row number of each record (header = row 1), when records are a selection of
    /// a larger file; nil when they are the whole file in order.
    public var rowNumbers: [Int]?

    public init(columns: [String], records: [[String]] = [], rowNumbers: [Int]? = nil) {
        self.columns = columns
        self.records = records
        self.rowNumbers = rowNumbers
    }

    /// The file's row number of the record at `index`.
    public func rowNumber(_ index: Int) -> Int { rowNumbers?[index] ?? index + 2 }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// 1-based line of the file where the problem is.
        public var line: Int
        public var problem: String
        public var description: String { "line \(line): \(problem)" }
    }

    /// Parses `text`. Header names are trimmed and lower-cased (HSDS names are lower case;
    /// spreadsheets add spaces and capitals). A record shorter than the header is padded with
    /// empty fields; a longer one keeps its extra fields, which `value` never reads.
    public init(parsing text: String) throws(ParseError) {
        var rows = try Self.parse(text)
        guard !rows.isEmpty else {
            self.init(columns: [])
            return
        }
        let header = rows.removeFirst().map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        self.init(columns: header, records: rows.map { $0.count < header.count ? $0 + Array(repeating: "", count: header.count - $0.count) : $0 })
    }

    /// The fields of every line, in order. Blank lines between records are skipped.
    static func parse(_ text: String) throws(ParseError) -> [[String]] {
        var scalars = Substring(text).unicodeScalars[...]
        if scalars.first == "\u{FEFF}" { scalars = scalars.dropFirst() }
        var rows: [[String]] = []
        var row: [String] = []
        var field = String.UnicodeScalarView()
        var line = 1
        var quoted = false  // inside a quoted field
        var wasQuoted = false  // the current field was quoted (text after its closing quote is an error)
        var index = scalars.startIndex

        func endField() {
            row.append(String(field))
            field = String.UnicodeScalarView()
            wasQuoted = false
        }
        func endRow() {
            let quotedField = wasQuoted
            endField()
            // A blank line is no record; a line holding only "" is one empty field.
            if !(row.count == 1 && row[0].isEmpty && !quotedField) { rows.append(row) }
            row = []
        }

        while index < scalars.endIndex {
            let scalar = scalars[index]
            index = scalars.index(after: index)
            if scalar == "\u{0}" { continue }  // PostgreSQL text holds no NUL
            if quoted {
                if scalar == "\"" {
                    if index < scalars.endIndex, scalars[index] == "\"" {
                        field.append("\"")
                        index = scalars.index(after: index)
                    } else {
                        quoted = false
                        wasQuoted = true
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.append(scalar)
                }
                continue
            }
            switch scalar {
            case ",":
                endField()
            case "\r":
                if index < scalars.endIndex, scalars[index] == "\n" { index = scalars.index(after: index) }
                endRow()
                line += 1
            case "\n":
                endRow()
                line += 1
            case "\"":
                guard field.isEmpty, !wasQuoted else {
                    throw ParseError(line: line, problem: "a quote inside an unquoted field (quote the whole field and double the quote)")
                }
                quoted = true
            default:
                guard !wasQuoted else { throw ParseError(line: line, problem: "text after the closing quote of a field") }
                field.append(scalar)
            }
        }
        guard !quoted else { throw ParseError(line: line, problem: "a quoted field is not closed before the end of the file") }
        if !field.isEmpty || !row.isEmpty || wasQuoted { endRow() }
        return rows
    }

    /// The value of `column` in `record`, trimmed; nil when the column is absent or the value empty.
    public func value(_ column: String, in record: [String]) -> String? {
        guard let index = columns.firstIndex(of: column), index < record.count else { return nil }
        let value = record[index].trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    /// The first of `columns` that has a value (HSDS versions name some columns differently).
    public func value(_ candidates: [String], in record: [String]) -> String? {
        for column in candidates { if let value = value(column, in: record) { return value } }
        return nil
    }

    public func hasColumn(_ column: String) -> Bool { columns.contains(column) }

    /// The table as RFC 4180 text: CRLF line ends, fields quoted when they hold a comma, a
    /// quote, a line break, or leading/trailing spaces.
    public var text: String {
        var out = ""
        for row in [columns] + records {
            out += row.map(Self.escape).joined(separator: ",")
            out += "\r\n"
        }
        return out
    }

    static func escape(_ field: String) -> String {
        let needsQuotes =
            field.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
            || field.first?.isWhitespace == true || field.last?.isWhitespace == true
        guard needsQuotes else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

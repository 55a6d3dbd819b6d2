import Foundation

/// CSV read a chunk at a time, by the rules of `CSVTable(parsing:)` (RFC 4180, CRLF or LF,
/// a leading byte order mark dropped, blank lines skipped), holding one record at most: a
/// directory larger than memory is read in bounded memory. CSV's delimiters are ASCII, so the
/// bytes are split before they are decoded.
struct CSVStreamParser {
    private var field: [UInt8] = []
    private var row: [String] = []
    private var quoted = false  // inside a quoted field
    private var wasQuoted = false  // the current field was quoted
    private var quoteSeen = false  // a quote inside a quoted field: the end, or the first of ""
    private var afterCR = false  // a CR ended the last record; an LF next is part of it
    private var started = false
    private(set) var line = 1

    /// The first bytes, held until they show whether the file starts with a byte order mark.
    private var head: [UInt8] = []
    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Parses `bytes`, calling `emit` with each complete record (header included).
    mutating func feed(_ bytes: Data, emit: ([String]) throws -> Void) throws {
        for byte in bytes where byte != 0 {  // PostgreSQL text holds no NUL
            if !started {
                head.append(byte)
                if head.count < 3 && Self.byteOrderMark.starts(with: head) { continue }
                try startBody(emit)
                continue
            }
            try step(byte, emit)
        }
    }

    /// Drops a byte order mark from the held first bytes and parses the rest of them.
    private mutating func startBody(_ emit: ([String]) throws -> Void) throws {
        started = true
        let held = head == Self.byteOrderMark ? [] : head
        head = []
        for byte in held { try step(byte, emit) }
    }

    private mutating func step(_ byte: UInt8, _ emit: ([String]) throws -> Void) throws {
        if afterCR {
            afterCR = false
            if byte == UInt8(ascii: "\n") { return }
        }
        if quoteSeen {
            quoteSeen = false
            if byte == UInt8(ascii: "\"") {
                field.append(byte)
                return
            }
            quoted = false
            wasQuoted = true
        }
        if quoted {
            if byte == UInt8(ascii: "\"") {
                quoteSeen = true
            } else {
                if byte == UInt8(ascii: "\n") { line += 1 }
                field.append(byte)
            }
            return
        }
        switch byte {
        case UInt8(ascii: ","):
            endField()
        case UInt8(ascii: "\r"):
            try endRow(emit)
            line += 1
            afterCR = true
        case UInt8(ascii: "\n"):
            try endRow(emit)
            line += 1
        case UInt8(ascii: "\""):
            guard field.isEmpty, !wasQuoted else {
                throw CSVTable.ParseError(line: line, problem: "a quote inside an unquoted field (quote the whole field and double the quote)")
            }
            quoted = true
        default:
            guard !wasQuoted else { throw CSVTable.ParseError(line: line, problem: "text after the closing quote of a field") }
            field.append(byte)
        }
    }

    /// The end of the file: the last record, or the error of an unclosed quote.
    mutating func finish(emit: ([String]) throws -> Void) throws {
        if !started { try startBody(emit) }
        if quoteSeen {
            quoteSeen = false
            quoted = false
            wasQuoted = true
        }
        guard !quoted else { throw CSVTable.ParseError(line: line, problem: "a quoted field is not closed before the end of the file") }
        if !field.isEmpty || !row.isEmpty || wasQuoted { try endRow(emit) }
    }

    private mutating func endField() {
        row.append(String(decoding: field, as: UTF8.self))
        field.removeAll(keepingCapacity: true)
        wasQuoted = false
    }

    private mutating func endRow(_ emit: ([String]) throws -> Void) throws {
        let quotedField = wasQuoted
        endField()
        // A blank line is no record; a line holding only "" is one empty field.
        if !(row.count == 1 && row[0].isEmpty && !quotedField) { try emit(row) }
        row.removeAll(keepingCapacity: true)
    }
}

/// Rows for `PostgresConnection.copy`, already in COPY's text format: fields separated by tabs,
/// rows by newlines, `\N` for NULL, and backslash, tab, newline and carriage return escaped.
public struct PostgresCopyRows: Sendable {
    public private(set) var count = 0
    private(set) var bytes: [UInt8] = []

    public init() {}

    /// One row; `fields` in the order of the copy's columns.
    public mutating func append(_ fields: [(any PostgresEncodable)?]) {
        for (index, field) in fields.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: "\t")) }
            guard let field else {
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(UInt8(ascii: "N"))
                continue
            }
            for byte in field.postgresText.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\n"))
        count += 1
    }

    /// The rows of `other` after these: rows can be formatted in parallel and gathered in order.
    public mutating func append(contentsOf other: PostgresCopyRows) {
        bytes.append(contentsOf: other.bytes)
        count += other.count
    }
}

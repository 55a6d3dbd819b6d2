/// A code list whose codes are data: adding a code is one line in its catalogue, not an enum case
/// spread through the code. Need categories and life domains are code lists; events and reports
/// carry their codes, and the console shows their labels.
public protocol CodeList: Sendable {
    /// What a code of this list is, for error messages ("need category").
    static var name: String { get }
    /// The codes, in the order lists show them, with their labels.
    static var catalogue: [CodeListEntry] { get }
    /// `catalogue` by code (`CodeListEntry.index(catalogue)`).
    static var entries: [String: CodeListEntry] { get }
}

public struct CodeListEntry: Sendable {
    public let code: String
    public let english: String
    public let french: String

    public init(code: String, english: String, french: String) {
        self.code = code
        self.english = english
        self.french = french
    }

    public static func index(_ catalogue: [CodeListEntry]) -> [String: CodeListEntry] {
        Dictionary(uniqueKeysWithValues: catalogue.map { ($0.code, $0) })
    }
}

/// A code of `List`: only codes from its catalogue can be made or decoded.
public struct Coded<List: CodeList>: Hashable, Sendable, Codable, CustomStringConvertible {
    public let code: String

    public init(code: String) throws(DomainError) {
        guard List.entries[code] != nil else { throw DomainError.invalid("unknown \(List.name) \"\(code)\"") }
        self.code = code
    }

    public init(from decoder: any Decoder) throws {
        let code = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(code: code)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }

    public var description: String { code }

    /// The label in `language` ("fr" or anything else for English).
    public func label(_ language: String) -> String {
        let entry = List.entries[code]!
        return language == "fr" ? entry.french : entry.english
    }

    public static var catalogue: [CodeListEntry] { List.catalogue }

    public static var allCodes: [String] { List.catalogue.map(\.code) }
}

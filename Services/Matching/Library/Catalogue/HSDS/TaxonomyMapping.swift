import Domain
import Foundation

/// Which need categories a directory's taxonomy terms stand for. Read from a JSON file
/// (`{"terms": {"Food Pantry": ["food-security"], …}}`); keys match a term's id, code or name
/// without regard to case. A term named after a need category code maps to that category
/// unlisted, so Passerelle's own exports import with any mapping.
public struct TaxonomyMapping: Sendable, Equatable {
    public var terms: [String: [String]]

    public struct InvalidFile: Error, Sendable, CustomStringConvertible {
        public var source: String
        public var problems: [String]
        public var description: String { "taxonomy mapping \(source): " + problems.joined(separator: "; ") }
    }

    public init(terms: [String: [String]]) {
        self.terms = Dictionary(terms.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $0 + $1 })
    }

    /// Parses a mapping file's content; every unknown category is reported at once.
    public init(json: Data, source: String) throws(InvalidFile) {
        struct File: Decodable { var terms: [String: [String]] }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: json)
        } catch {
            throw InvalidFile(source: source, problems: ["expected {\"terms\": {\"<term>\": [\"<need category>\", …]}}: \(error)"])
        }
        var problems: [String] = []
        for (term, codes) in file.terms.sorted(by: { $0.key < $1.key }) {
            if codes.isEmpty { problems.append("\"\(term)\" maps to no category") }
            for code in codes where (try? NeedCategory(code: code)) == nil {
                problems.append("\"\(term)\" maps to unknown need category \"\(code)\"")
            }
        }
        guard problems.isEmpty else { throw InvalidFile(source: source, problems: problems) }
        self.init(terms: file.terms)
    }

    /// The mapping shipped with Passerelle (deploy/hsds/taxonomy-mapping.json).
    public static let standard: TaxonomyMapping = {
        do {
            return try TaxonomyMapping(json: Data(defaultJSON.utf8), source: "built-in")
        } catch {
            preconditionFailure("the built-in taxonomy mapping is invalid: \(error)")
        }
    }()

    /// The mapping at `path`, or the built-in one when no path is given.
    public static func load(path: String?) throws(InvalidFile) -> TaxonomyMapping {
        guard let path else { return standard }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw InvalidFile(source: path, problems: ["cannot be read: \(error.localizedDescription)"])
        }
        return try TaxonomyMapping(json: data, source: path)
    }

    /// The categories of a term known by any of `keys` (id, code, name), in code-list order.
    public func categories(forTermKeys keys: [String]) -> [String] {
        var found = Set<String>()
        for key in keys {
            let lowered = key.lowercased()
            if let codes = terms[lowered] { found.formUnion(codes) }
            let bare = lowered.hasPrefix("passerelle:") ? String(lowered.dropFirst("passerelle:".count)) : lowered
            if (try? NeedCategory(code: bare)) != nil { found.insert(bare) }
        }
        return NeedCategory.allCodes.filter(found.contains)
    }
}

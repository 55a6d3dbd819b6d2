import Domain
import Foundation
import WireFormats

/// One taxonomy's crosswalk to need categories, as a reviewed, versioned file
/// (deploy/hsds/airs-crosswalk.json for AIRS/211, deploy/hsds/taxonomy-mapping.json for Open
/// Eligibility and common names; a network's own taxonomy is one more file of the same format):
///
///     {"format": "passerelle-taxonomy-crosswalk/1", "taxonomy": "…", "version": "1.0.0",
///      "codePattern": "^[A-Z]{1,2}(-[0-9]{4}…)?$",
///      "rules": [{"code": "BD", "en": "Food", "fr": "Alimentation", "categories": ["food-security"]},
///                {"term": "Food Pantries", "fr": "Banques alimentaires", "categories": ["food-security"]},
///                {"code": "Y", "en": "Target Populations", "fr": "Populations cibles", "eligibility": true}]}
///
/// A code rule matches a term whose code starts with it at the end of a level (the longest one
/// wins: "BD-1800.2000" over "BD" over "B"; "1" covers "1.2" but not "12"); a term rule
/// matches a term's name, id or code, without regard to case or accents, and wins over any code
/// rule but one for the term's own code. An empty category list is a decision that the branch is no need category (its services
/// import uncategorised, for review); `eligibility` marks target populations, which describe
/// who is served and never become needs. The earlier form `{"terms": {"<term>": [codes]}}` is
/// read as term rules.
public struct TaxonomyCrosswalk: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public enum Match: Sendable, Equatable, Hashable {
            case code(String)
            case term(String)
        }
        public var match: Match
        public var english: String?
        public var french: String?
        public var categories: [String]
        public var eligibility: Bool
    }

    public var taxonomy: String
    public var version: String
    /// Only term codes of this shape are read as codes of this taxonomy (so "t1" is no "T…").
    public var codePattern: String?
    public var rules: [Rule]
    /// Upper-cased code → rule; folded term → rule.
    let codes: [String: Int]
    let terms: [String: Int]

    public init(taxonomy: String, version: String, codePattern: String?, rules: [Rule]) {
        self.taxonomy = taxonomy
        self.version = version
        self.codePattern = codePattern
        self.rules = rules
        var codes: [String: Int] = [:]
        var terms: [String: Int] = [:]
        for (index, rule) in rules.enumerated() {
            switch rule.match {
            case .code(let code): codes[code.uppercased()] = codes[code.uppercased()] ?? index
            case .term(let term): terms[Self.fold(term)] = terms[Self.fold(term)] ?? index
            }
        }
        self.codes = codes
        self.terms = terms
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.taxonomy, lhs.version, lhs.codePattern, lhs.rules) == (rhs.taxonomy, rhs.version, rhs.codePattern, rhs.rules)
    }

    static func fold(_ text: String) -> String {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How a rule is named in import reports: "AIRS/211 LA County Taxonomy 1.0.0 code BD (Food)".
    public func describe(_ rule: Rule) -> String {
        let label = rule.english.map { " (\($0))" } ?? ""
        switch rule.match {
        case .code(let code): return "\(taxonomy) \(version) code \(code)\(label)"
        case .term(let term): return "\(taxonomy) \(version) term \"\(term)\""
        }
    }

    /// Parses a crosswalk file; every problem is reported at once.
    public init(json: Data, source: String) throws(TaxonomyMapping.InvalidFile) {
        struct FileRule: Decodable {
            var code: String?
            var term: String?
            var en: String?
            var fr: String?
            var categories: [String]?
            var eligibility: Bool?
        }
        struct File: Decodable {
            var format: String?
            var taxonomy: String?
            var version: String?
            var codePattern: String?
            var rules: [FileRule]?
            var terms: [String: [String]]?
        }
        let file: File
        do {
            file = try JSONCoding.stored.decode(File.self, from: json)
        } catch {
            throw .init(
                source: source,
                problems: [
                    "expected {\"format\": \"passerelle-taxonomy-crosswalk/1\", \"taxonomy\", \"version\", \"rules\": [{\"code\" or \"term\", \"en\", \"fr\", \"categories\" or \"eligibility\"}, …]}: \(error)"
                ])
        }
        var problems: [String] = []
        var rules: [Rule] = []
        if let format = file.format, format != "passerelle-taxonomy-crosswalk/1" {
            problems.append("format \"\(format)\" is not passerelle-taxonomy-crosswalk/1")
        }
        var shape: Regex<AnyRegexOutput>?
        if let pattern = file.codePattern {
            do { shape = try Regex(pattern) } catch { problems.append("codePattern \"\(pattern)\" is not a regular expression: \(error)") }
        }
        func check(_ name: String, _ codes: [String]) {
            for code in codes where (try? NeedCategory(code: code)) == nil {
                problems.append("\(name) maps to unknown need category \"\(code)\"")
            }
        }
        if let legacy = file.terms {
            for (term, codes) in legacy.sorted(by: { $0.key < $1.key }) {
                if codes.isEmpty { problems.append("\"\(term)\" maps to no category") }
                check("\"\(term)\"", codes)
                rules.append(Rule(match: .term(term), english: nil, french: nil, categories: codes, eligibility: false))
            }
        }
        var seen = Set<Rule.Match>()
        for (index, rule) in (file.rules ?? []).enumerated() {
            let name = "rule \(index + 1)"
            let match: Rule.Match
            switch (rule.code?.trimmingCharacters(in: .whitespaces), rule.term?.trimmingCharacters(in: .whitespaces)) {
            case (let code?, nil) where !code.isEmpty:
                match = .code(code.uppercased())
                if rule.en?.isEmpty != false || rule.fr?.isEmpty != false {
                    problems.append("\(name) (code \(code)) needs an English and a French label (en, fr)")
                }
                if let shape, (try? shape.wholeMatch(in: code.uppercased())) == nil {
                    problems.append("\(name): code \"\(code)\" does not fit the file's codePattern")
                }
            case (nil, let term?) where !term.isEmpty:
                match = .term(term)
            default:
                problems.append("\(name) names neither one code nor one term")
                continue
            }
            if !seen.insert(match).inserted { problems.append("\(name) repeats \(match)") }
            let eligibility = rule.eligibility ?? false
            switch (eligibility, rule.categories) {
            case (true, let codes?) where !codes.isEmpty:
                problems.append("\(name): a target population (eligibility) maps to no need category")
            case (false, nil):
                problems.append("\(name) has no \"categories\" (an empty list records that the branch is no need category)")
            default: break
            }
            check(name, rule.categories ?? [])
            rules.append(Rule(match: match, english: rule.en, french: rule.fr, categories: rule.categories ?? [], eligibility: eligibility))
        }
        if file.terms == nil && file.rules == nil { problems.append("the file has no \"rules\"") }
        guard problems.isEmpty else { throw .init(source: source, problems: problems) }
        self.init(taxonomy: file.taxonomy ?? source, version: file.version ?? "unversioned", codePattern: file.codePattern, rules: rules)
    }
}

/// Which need categories a directory's taxonomy terms stand for: one or more crosswalks, the
/// most specific rule of any of them deciding each term.
public struct TaxonomyMapping: Sendable, Equatable {
    public var crosswalks: [TaxonomyCrosswalk]

    public struct InvalidFile: Error, Sendable, CustomStringConvertible {
        public var source: String
        public var problems: [String]
        public var description: String { "taxonomy mapping \(source): " + problems.joined(separator: "; ") }
    }

    public init(crosswalks: [TaxonomyCrosswalk]) {
        self.crosswalks = crosswalks
    }

    /// A mapping of plain term rules (tests, small directories).
    public init(terms: [String: [String]]) {
        self.init(crosswalks: [
            TaxonomyCrosswalk(
                taxonomy: "terms", version: "unversioned", codePattern: nil,
                rules: terms.sorted { $0.key < $1.key }.map {
                    .init(match: .term($0.key), english: nil, french: nil, categories: $0.value, eligibility: false)
                })
        ])
    }

    public init(json: Data, source: String) throws(InvalidFile) {
        self.init(crosswalks: [try TaxonomyCrosswalk(json: json, source: source)])
    }

    /// The crosswalks shipped with Passerelle: AIRS/211 and Open Eligibility with common names.
    public static let standard: TaxonomyMapping = {
        do {
            return TaxonomyMapping(crosswalks: [
                try TaxonomyCrosswalk(json: Data(airsCrosswalkJSON.utf8), source: "built-in AIRS crosswalk"),
                try TaxonomyCrosswalk(json: Data(defaultJSON.utf8), source: "built-in taxonomy mapping"),
            ])
        } catch {
            preconditionFailure("a built-in taxonomy mapping is invalid: \(error)")
        }
    }()

    /// The mapping files at `paths` (comma-separated; earlier files win ties), or the built-in ones.
    public static func load(path: String?) throws(InvalidFile) -> TaxonomyMapping {
        guard let path else { return standard }
        var crosswalks: [TaxonomyCrosswalk] = []
        for file in path.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !file.isEmpty {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw InvalidFile(source: file, problems: ["cannot be read: \(error.localizedDescription)"])
            }
            crosswalks.append(try TaxonomyCrosswalk(json: data, source: file))
        }
        guard !crosswalks.isEmpty else { throw InvalidFile(source: path, problems: ["names no file"]) }
        return TaxonomyMapping(crosswalks: crosswalks)
    }

    /// What one term means for a resource, and the rule that decided it.
    public struct Resolution: Sendable, Equatable {
        /// Need categories, in code-list order; empty for a target population or a branch that is no need.
        public var categories: [String]
        /// The term is a target population: it goes to eligibility.
        public var targetPopulation: Bool
        public var rule: String
    }

    /// Resolves terms with the crosswalks' code patterns compiled once (one per import).
    public func resolver() -> Resolver { Resolver(mapping: self) }

    public struct Resolver {
        let mapping: TaxonomyMapping
        let shapes: [Regex<AnyRegexOutput>?]

        init(mapping: TaxonomyMapping) {
            self.mapping = mapping
            // Patterns were compiled when the files were read.
            shapes = mapping.crosswalks.map { crosswalk in crosswalk.codePattern.flatMap { try? Regex($0) } }
        }

        /// The most specific rule for a term known by its id, code and name: a need category
        /// code itself (what Passerelle exports), then a code rule for the term's own code, then
        /// a term rule, then the longest code prefix.
        public func resolve(id: String?, code: String?, name: String?) -> Resolution? {
            let keys = [id, code, name].compactMap { $0 }.filter { !$0.isEmpty }
            for key in keys {
                let lowered = key.lowercased()
                let bare = lowered.hasPrefix("passerelle:") ? String(lowered.dropFirst("passerelle:".count)) : lowered
                if (try? NeedCategory(code: bare)) != nil {
                    return Resolution(categories: [bare], targetPopulation: false, rule: "Passerelle need category \(bare)")
                }
            }
            var best: (specificity: Int, crosswalk: Int, rule: Int)?
            for (index, crosswalk) in mapping.crosswalks.enumerated() {
                for key in keys {
                    if let rule = crosswalk.terms[TaxonomyCrosswalk.fold(key)], best.map({ Int.max - 1 > $0.specificity }) ?? true {
                        best = (Int.max - 1, index, rule)
                    }
                }
                guard let candidate = (code ?? id)?.trimmingCharacters(in: .whitespaces).uppercased(), !candidate.isEmpty else { continue }
                if let shape = shapes[index], (try? shape.wholeMatch(in: candidate)) == nil { continue }
                // Longest prefix first, cut where a level ends: before a separator ("BD-1800" of
                // "BD-1800.2000"), or after letters alone ("B" of "BD"), never inside a number ("1" of "12").
                var end = candidate.endIndex
                var length = candidate.count
                while end > candidate.startIndex {
                    let prefix = candidate[..<end]
                    let atBoundary = end == candidate.endIndex || !(candidate[end].isLetter || candidate[end].isNumber) || prefix.allSatisfy(\.isLetter)
                    if atBoundary, let rule = crosswalk.codes[String(prefix)] {
                        // The term's own code outranks even a term rule: a code is a term's identity.
                        let specificity = end == candidate.endIndex ? Int.max : length
                        if best.map({ specificity > $0.specificity }) ?? true { best = (specificity, index, rule) }
                        break
                    }
                    end = candidate.index(before: end)
                    length -= 1
                }
            }
            guard let best else { return nil }
            let crosswalk = mapping.crosswalks[best.crosswalk]
            let rule = crosswalk.rules[best.rule]
            return Resolution(
                categories: NeedCategory.allCodes.filter(rule.categories.contains), targetPopulation: rule.eligibility,
                rule: crosswalk.describe(rule))
        }
    }
}

import Domain
import Foundation

/// Language values of directories, read against the whole ISO 639 list: a code (639-1, 639-3
/// or 639-2 bibliographic, with a region or script after a hyphen) or an English or French name,
/// without regard to case or accents. Passerelle stores the 639-1 code when there is one, else
/// the 639-3 code. `ISO639Table.swift` is generated (deploy/hsds/iso639/generate.py).
public enum ISO639 {
    /// Names directories use that ISO 639 does not, decided here: in North American directories
    /// "Creole" is Haitian Creole, and sign languages go by their abbreviations.
    static let aliases: [String: String] = [
        "creole": "ht", "haitian creole": "ht", "kreyol": "ht", "kreyol ayisyen": "ht", "creole haitien": "ht",
        "farsi": "fa", "mandarin": "zh", "cantonese": "zh", "chinese": "zh", "chinois": "zh", "tagalog": "tl", "filipino": "tl",
        "american sign language": "ase", "asl": "ase", "langue des signes quebecoise": "fcs", "lsq": "fcs",
        "punjabi": "pa", "pendjabi": "pa", "nepali": "ne", "swahili": "sw", "malay": "ms", "persian": "fa", "arabic": "ar",
    ]

    /// Folded code or name → stored code.
    static let index: [String: String] = {
        var index: [String: String] = [:]
        var names: [(String, String)] = []
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 5 else { continue }
            let code = fields[0]
            for alias in [fields[0], fields[1], fields[2]] where !alias.isEmpty { index[alias] = index[alias] ?? code }
            for name in fields[3].split(separator: "|") + fields[4].split(separator: "|") { names.append((fold(String(name)), code)) }
        }
        // Codes first, then names: a name never hides a code ("Ga" the language, "ga" Irish).
        for (name, code) in names where index[name] == nil { index[name] = code }
        for (name, code) in aliases { index[name] = code }
        return index
    }()

    static func fold(_ text: String) -> String {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The stored code of one language value, or nil when it names no language.
    public static func code(_ text: String) -> String? {
        let folded = fold(text)
        guard !folded.isEmpty else { return nil }
        if let code = index[folded] { return code }
        // "fr-CA", "zh-Hant", "en_US": the language subtag.
        if let primary = folded.split(whereSeparator: { $0 == "-" || $0 == "_" }).first, primary.count < folded.count,
            (2...3).contains(primary.count), let code = index[String(primary)]
        {
            return code
        }
        // "French (Canada)", "Spanish language".
        for suffix in [" language", " (", " langue"] {
            if let range = folded.range(of: suffix), let code = index[String(folded[..<range.lowerBound])] { return code }
        }
        return nil
    }

    /// All the languages of one value: a single language, or a list ("English, Spanish",
    /// "French and Arabic"). Nil unless every part is a language: a sentence is kept whole.
    public static func codes(_ text: String) -> [String]? {
        if let single = code(text) { return [single] }
        let parts = fold(text)
            .replacingOccurrences(of: " and ", with: ",").replacingOccurrences(of: " et ", with: ",")
            .split(whereSeparator: { ",;/|".contains($0) }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard parts.count > 1 else { return nil }
        var found: [String] = []
        for part in parts {
            guard let code = code(part) else { return nil }
            if !found.contains(code) { found.append(code) }
        }
        return found
    }
}

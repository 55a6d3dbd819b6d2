import Foundation
import ServiceRuntime

/// A questionnaire's items whose wording is licensed rather than published (SWEMWBS, © Warwick
/// Medical School): Passerelle does not ship them; a network that holds the licence supplies them
/// in a JSON file, `{"licence": "…", "items": [{"fr": "…", "en": "…"}, …]}`. The answer scale is
/// the console's own (Translations), as the contract names it.
public struct LicensedItems: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var fr: String
        public var en: String
    }

    public var items: [Item]
    /// The line the licence asks to show with the questionnaire, if the file gives one.
    public var licence: String?

    /// The longest item or licence line the form takes: a questionnaire item is one sentence.
    static let longest = 300

    /// The file at `path`, with exactly `count` items each worded in French and English; anything
    /// else stops the start with a ConfigurationError naming `variable`, rather than a form
    /// missing an item or showing a blank one.
    static func load(path: String, count: Int, variable: String) throws(ConfigurationError) -> LicensedItems {
        func refuse(_ problem: String) -> ConfigurationError { ConfigurationError(variable: variable, problem: "\(path): \(problem)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw refuse("cannot be read") }
        guard data.count <= 64 * 1024 else { throw refuse("is larger than 64 KiB; it holds \(count) short items") }
        struct File: Decodable {
            struct Item: Decodable {
                var fr: String?
                var en: String?
            }
            var licence: String?
            var items: [Item]
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw refuse("is not JSON {\"licence\": \"…\", \"items\": [{\"fr\": \"…\", \"en\": \"…\"}, …] } (\(error))")
        }
        guard file.items.count == count else { throw refuse("has \(file.items.count) items; the questionnaire has \(count)") }
        // One line of text: a control character (NUL, a line break, an escape) is a damaged file.
        func checked(_ text: String?, _ what: String) throws(ConfigurationError) -> String {
            guard let text else { throw refuse("\(what) is missing") }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { throw refuse("\(what) is blank") }
            guard trimmed.count <= longest else { throw refuse("\(what) is longer than \(longest) characters") }
            guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw refuse("\(what) contains a control character")
            }
            return trimmed
        }
        var items: [Item] = []
        for (index, item) in file.items.enumerated() {
            items.append(Item(fr: try checked(item.fr, "item \(index + 1) in French (fr)"), en: try checked(item.en, "item \(index + 1) in English (en)")))
        }
        var licence: String?
        if let line = file.licence { licence = try checked(line, "the licence line") }
        return LicensedItems(items: items, licence: licence)
    }
}

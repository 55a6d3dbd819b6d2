import Foundation
import PostgresClient

/// The stored templates, read once per replica and again only when they change: each claim
/// returns a stamp of the table (row count and latest edit), so an edit made through any replica
/// is used from the next round on, without a query per message.
actor TemplateCache {
    private var stamp: String?
    private var templates: TemplateSet = TemplateSet(templates: [])

    func templates(stamp: String, pool: PostgresConnectionPool) async throws -> TemplateSet {
        if stamp == self.stamp { return templates }
        let rows = try await pool.withConnection { connection in
            try await connection.query("SELECT key, language, channel, subject, body, html FROM template")
        }
        let loaded = try rows.compactMap { row -> MessageTemplate? in
            guard let key = TemplateKey(rawValue: try row.decode("key")), let channel = TemplateChannel(rawValue: try row.decode("channel")) else {
                return nil  // a template for a message this version does not send
            }
            return MessageTemplate(
                key: key, language: try row.decode("language"), channel: channel, subject: try row.decode("subject", as: String?.self),
                body: try row.decode("body"), html: try row.decode("html", as: String?.self))
        }
        templates = TemplateSet(templates: loaded)
        self.stamp = stamp
        return templates
    }
}

/// Templates by message and channel, then language.
struct TemplateSet: Sendable {
    private let byKey: [String: [String: CompiledTemplate]]

    init(templates: [MessageTemplate]) {
        var byKey: [String: [String: CompiledTemplate]] = [:]
        for template in templates {
            byKey["\(template.key.rawValue)/\(template.channel.rawValue)", default: [:]][template.language] = CompiledTemplate(template)
        }
        self.byKey = byKey
    }

    /// The first of `languages` the message exists in, else any (alphabetically first).
    func template(_ key: TemplateKey, channel: TemplateChannel, languages: [String]) -> CompiledTemplate? {
        guard let byLanguage = byKey["\(key.rawValue)/\(channel.rawValue)"] else { return nil }
        if let language = languages.first(where: { byLanguage[$0] != nil }) { return byLanguage[language] }
        return byLanguage.keys.sorted().first.flatMap { byLanguage[$0] }
    }
}

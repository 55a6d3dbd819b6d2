/// Casework: what a link worker does with a client between accepting a referral and closing
/// it — contacts, a plan agreed with the client, goals and their progress, private notes.
/// The code lists here are the ones events and reports carry; the words about the person
/// (notes, what matters to them, a goal's wording) stay in intake's schema.

/// How a contact happened (or was attempted).
public enum ContactMode: String, Codable, Sendable, CaseIterable {
    case phone
    case inPerson = "in-person"
    case video
    /// SMS, e-mail or a messaging app.
    case text
}

/// Who the link worker was in contact with.
public enum ContactParty: String, Codable, Sendable, CaseIterable {
    case client
    /// A family member or carer, with the client's agreement.
    case caregiver
    case referrer
    /// A community partner about the client's connection.
    case partner
    case other
}

/// Where a goal sits in the client's life. A fixed list so goal attainment can be reported
/// per domain; labels in both languages for the console and reports.
public struct LifeDomain: Hashable, Sendable, Codable, CustomStringConvertible {
    public let code: String

    public init(code: String) throws(DomainError) {
        guard Self.entries[code] != nil else { throw DomainError.invalid("unknown life domain \"\(code)\"") }
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

    public func label(_ language: String) -> String {
        let entry = Self.entries[code]!
        return language == "fr" ? entry.french : entry.english
    }

    public struct Entry: Sendable {
        public let code: String
        public let english: String
        public let french: String
    }

    public static let catalogue: [Entry] = [
        Entry(code: "social-connection", english: "Friends, family and community", french: "Amis, famille et communauté"),
        Entry(code: "mental-wellbeing", english: "Mood and mental wellbeing", french: "Humeur et bien-être mental"),
        Entry(code: "physical-health", english: "Physical health and activity", french: "Santé physique et activité"),
        Entry(code: "money", english: "Money and benefits", french: "Argent et prestations"),
        Entry(code: "housing", english: "Home and housing", french: "Domicile et logement"),
        Entry(code: "work-learning", english: "Work, volunteering and learning", french: "Travail, bénévolat et apprentissage"),
        Entry(code: "leisure-creativity", english: "Leisure, arts and creativity", french: "Loisirs, arts et créativité"),
        Entry(code: "daily-living", english: "Managing daily life", french: "Vie quotidienne"),
        Entry(code: "caring", english: "Caring for others", french: "Prendre soin d'un proche"),
        Entry(code: "safety", english: "Feeling safe", french: "Se sentir en sécurité"),
    ]

    static let entries: [String: Entry] = Dictionary(uniqueKeysWithValues: catalogue.map { ($0.code, $0) })

    public static var allCodes: [String] { catalogue.map(\.code) }
}

/// How far a goal has come, as agreed with the client at a review.
public enum GoalProgress: String, Codable, Sendable, CaseIterable {
    case notStarted = "not-started"
    case started
    case partlyAchieved = "partly-achieved"
    case achieved
    /// The client no longer wants it; counted apart from goals not achieved.
    case noLongerRelevant = "no-longer-relevant"
}

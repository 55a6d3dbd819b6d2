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
/// per domain.
public typealias LifeDomain = Coded<LifeDomains>

/// The life domain code list.
public enum LifeDomains: CodeList {
    public static let name = "life domain"

    public static let catalogue: [CodeListEntry] = [
        CodeListEntry(code: "social-connection", english: "Friends, family and community", french: "Amis, famille et communauté"),
        CodeListEntry(code: "mental-wellbeing", english: "Mood and mental wellbeing", french: "Humeur et bien-être mental"),
        CodeListEntry(code: "physical-health", english: "Physical health and activity", french: "Santé physique et activité"),
        CodeListEntry(code: "money", english: "Money and benefits", french: "Argent et prestations"),
        CodeListEntry(code: "housing", english: "Home and housing", french: "Domicile et logement"),
        CodeListEntry(code: "work-learning", english: "Work, volunteering and learning", french: "Travail, bénévolat et apprentissage"),
        CodeListEntry(code: "leisure-creativity", english: "Leisure, arts and creativity", french: "Loisirs, arts et créativité"),
        CodeListEntry(code: "daily-living", english: "Managing daily life", french: "Vie quotidienne"),
        CodeListEntry(code: "caring", english: "Caring for others", french: "Prendre soin d'un proche"),
        CodeListEntry(code: "safety", english: "Feeling safe", french: "Se sentir en sécurité"),
    ]

    public static let entries = CodeListEntry.index(catalogue)
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

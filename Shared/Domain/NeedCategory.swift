/// A coded need ("besoin non médical"). The code list is data — `NeedCategory.catalogue` —
/// so adding a category is one line here, not an enum case spread through the code.
public struct NeedCategory: Hashable, Sendable, Codable, CustomStringConvertible {
    public let code: String

    /// Accepts only codes from the catalogue.
    public init(code: String) throws(DomainError) {
        guard Self.entries[code] != nil else {
            throw DomainError.invalid("unknown need category \"\(code)\"")
        }
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

    /// The starting code list (DESIGN.md), with labels for reports and messages.
    public static let catalogue: [Entry] = [
        Entry(code: "social-isolation", english: "Social isolation", french: "Isolement social"),
        Entry(code: "loneliness", english: "Loneliness", french: "Solitude"),
        Entry(code: "bereavement", english: "Bereavement", french: "Deuil"),
        Entry(code: "mental-wellbeing", english: "Mental wellbeing", french: "Bien-être mental"),
        Entry(code: "physical-activity", english: "Physical activity", french: "Activité physique"),
        Entry(code: "food-security", english: "Food security", french: "Sécurité alimentaire"),
        Entry(code: "housing", english: "Housing", french: "Logement"),
        Entry(code: "income", english: "Income", french: "Revenu"),
        Entry(code: "employment", english: "Employment", french: "Emploi"),
        Entry(code: "legal", english: "Legal help", french: "Aide juridique"),
        Entry(code: "transportation", english: "Transportation", french: "Transport"),
        Entry(code: "caregiver-support", english: "Caregiver support", french: "Soutien aux proches aidants"),
        Entry(code: "learning-literacy", english: "Learning and literacy", french: "Apprentissage et alphabétisation"),
        Entry(code: "digital-literacy", english: "Digital literacy", french: "Littératie numérique"),
        Entry(code: "arts-culture", english: "Arts and culture", french: "Arts et culture"),
        Entry(code: "nature", english: "Nature", french: "Nature"),
        Entry(code: "newcomer-support", english: "Newcomer support", french: "Soutien aux nouveaux arrivants"),
        Entry(code: "substance-use-support", english: "Substance use support", french: "Soutien en consommation de substances"),
        Entry(code: "parenting", english: "Parenting", french: "Parentalité"),
        Entry(code: "childcare", english: "Childcare", french: "Garde d'enfants"),
        Entry(code: "utilities", english: "Utilities", french: "Services publics (énergie, eau)"),
        Entry(code: "personal-safety", english: "Personal safety", french: "Sécurité personnelle"),
        Entry(code: "health-literacy", english: "Health literacy", french: "Littératie en santé"),
    ]

    static let entries: [String: Entry] = Dictionary(uniqueKeysWithValues: catalogue.map { ($0.code, $0) })

    public static var allCodes: [String] { catalogue.map(\.code) }
}

/// The one table that maps Gravity Project SDOH categories
/// (http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes)
/// onto Passerelle's need categories. A Gravity category absent here cannot be taken in.
public enum GravitySDOHCategory {
    public static let mapping: [String: [String]] = [
        "food-insecurity": ["food-security"],
        "housing-instability": ["housing"],
        "homelessness": ["housing"],
        "inadequate-housing": ["housing"],
        "transportation-insecurity": ["transportation"],
        "financial-insecurity": ["income"],
        "material-hardship": ["income"],
        "employment-status": ["employment"],
        "educational-attainment": ["learning-literacy"],
        "social-connection": ["social-isolation"],
        "stress": ["mental-wellbeing"],
        "intimate-partner-violence": ["personal-safety"],
        "elder-abuse": ["personal-safety"],
        "personal-health-literacy": ["health-literacy"],
        "health-insurance-coverage-status": ["income"],
        "medical-cost-burden": ["income"],
        "digital-literacy": ["digital-literacy"],
        "digital-access": ["digital-literacy"],
        "utility-insecurity": ["utilities"],
        "incarceration-status": ["legal"],
        "language-access": ["newcomer-support"],
        "caregiver-status": ["caregiver-support"],
        "physical-activity": ["physical-activity"],
    ]

    public static func needCategories(for gravityCode: String) -> [NeedCategory]? {
        mapping[gravityCode].map { $0.map { try! NeedCategory(code: $0) } }
    }
}

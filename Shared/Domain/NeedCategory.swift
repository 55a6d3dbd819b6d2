/// A coded need ("besoin non médical").
public typealias NeedCategory = Coded<NeedCategories>

/// The need code list.
public enum NeedCategories: CodeList {
    public static let name = "need category"

    /// The starting code list (DESIGN.md), with labels for reports and messages.
    public static let catalogue: [CodeListEntry] = [
        CodeListEntry(code: "social-isolation", english: "Social isolation", french: "Isolement social"),
        CodeListEntry(code: "loneliness", english: "Loneliness", french: "Solitude"),
        CodeListEntry(code: "bereavement", english: "Bereavement", french: "Deuil"),
        CodeListEntry(code: "mental-wellbeing", english: "Mental wellbeing", french: "Bien-être mental"),
        CodeListEntry(code: "physical-activity", english: "Physical activity", french: "Activité physique"),
        CodeListEntry(code: "food-security", english: "Food security", french: "Sécurité alimentaire"),
        CodeListEntry(code: "housing", english: "Housing", french: "Logement"),
        CodeListEntry(code: "income", english: "Income", french: "Revenu"),
        CodeListEntry(code: "employment", english: "Employment", french: "Emploi"),
        CodeListEntry(code: "legal", english: "Legal help", french: "Aide juridique"),
        CodeListEntry(code: "transportation", english: "Transportation", french: "Transport"),
        CodeListEntry(code: "caregiver-support", english: "Caregiver support", french: "Soutien aux proches aidants"),
        CodeListEntry(code: "learning-literacy", english: "Learning and literacy", french: "Apprentissage et alphabétisation"),
        CodeListEntry(code: "digital-literacy", english: "Digital literacy", french: "Littératie numérique"),
        CodeListEntry(code: "arts-culture", english: "Arts and culture", french: "Arts et culture"),
        CodeListEntry(code: "nature", english: "Nature", french: "Nature"),
        CodeListEntry(code: "newcomer-support", english: "Newcomer support", french: "Soutien aux nouveaux arrivants"),
        CodeListEntry(code: "substance-use-support", english: "Substance use support", french: "Soutien en consommation de substances"),
        CodeListEntry(code: "parenting", english: "Parenting", french: "Parentalité"),
        CodeListEntry(code: "childcare", english: "Childcare", french: "Garde d'enfants"),
        CodeListEntry(code: "utilities", english: "Utilities", french: "Services publics (énergie, eau)"),
        CodeListEntry(code: "personal-safety", english: "Personal safety", french: "Sécurité personnelle"),
        CodeListEntry(code: "health-literacy", english: "Health literacy", french: "Littératie en santé"),
    ]

    public static let entries = CodeListEntry.index(catalogue)
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

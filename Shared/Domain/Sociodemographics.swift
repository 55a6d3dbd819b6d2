/// Optional sociodemographics: collected only with consent to evaluation use, used only for
/// equity analysis. Every answer is a code from a closed list, so reports can group by it and no
/// free text leaves intake; each list has `prefer-not-to-say`.
public struct Sociodemographics: Codable, Sendable, Equatable {
    public var gender: Gender?
    public var incomeBand: IncomeBand?
    public var newcomer: Bool?
    public var disability: Bool?
    public var racialOrEthnicGroup: PopulationGroup?

    public init(
        gender: Gender? = nil, incomeBand: IncomeBand? = nil, newcomer: Bool? = nil, disability: Bool? = nil,
        racialOrEthnicGroup: PopulationGroup? = nil
    ) {
        self.gender = gender
        self.incomeBand = incomeBand
        self.newcomer = newcomer
        self.disability = disability
        self.racialOrEthnicGroup = racialOrEthnicGroup
    }
}

/// Gender as the person describes it (the categories of Statistics Canada's gender question,
/// with Two-Spirit named as Indigenous services ask).
public enum Gender: String, Codable, Sendable, CaseIterable {
    case woman, man
    case nonBinary = "non-binary"
    case twoSpirit = "two-spirit"
    case anotherGender = "another-gender"
    case preferNotToSay = "prefer-not-to-say"
}

/// Household income before tax, per year, in Canadian dollars.
public enum IncomeBand: String, Codable, Sendable, CaseIterable {
    case under20k = "under-20k"
    case from20kTo40k = "20k-40k"
    case from40kTo60k = "40k-60k"
    case from60kTo100k = "60k-100k"
    case from100k = "100k-plus"
    case preferNotToSay = "prefer-not-to-say"
}

/// Population group (Statistics Canada's visible-minority and Indigenous identity categories).
public enum PopulationGroup: String, Codable, Sendable, CaseIterable {
    case firstNations = "first-nations"
    case metis
    case inuit
    case black
    case eastAsian = "east-asian"
    case southAsian = "south-asian"
    case southeastAsian = "southeast-asian"
    case westAsianOrArab = "west-asian-or-arab"
    case latinAmerican = "latin-american"
    case white
    case anotherGroup = "another-group"
    case preferNotToSay = "prefer-not-to-say"
}

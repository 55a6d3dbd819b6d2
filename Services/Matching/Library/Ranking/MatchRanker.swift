import Domain
import Foundation

/// What the ranker knows of a referral (from the thin received event).
package struct MatchRequest: Sendable {
    package var needs: [String]
    package var interests: [String]
    package var language: String
    package var coordinates: Coordinates?
    package var postalArea: String?
    package var ageBand: AgeBand?
    package var accessibilityNeeds: [String]
    package var supportLevel: SupportLevel
}

/// How much each part of the fit counts. Defaults sum to 1; deployments tune them.
package struct MatchWeights: Sendable, Equatable {
    var need = 0.4
    var interests = 0.2
    var distance = 0.2
    var supportLevel = 0.1
    var schedule = 0.1
    /// Beyond this distance an in-person resource earns no distance score.
    var maximumKilometres = 25.0
    package var topN = 5
}

/// One ranked resource and why, in the client's language.
package struct RankedResource: Sendable, Equatable {
    var resource: CommunityResource
    var score: Double
    var reasons: [String]
}

/// Filters the catalogue to what the client can actually use, scores the rest, and explains
/// each score in words a link worker can repeat to the client. Pure and deterministic: equal
/// scores are ordered by resource id.
package struct MatchRanker: Sendable {
    package var weights = MatchWeights()

    package init(weights: MatchWeights = MatchWeights()) {
        self.weights = weights
    }

    func rank(_ request: MatchRequest, candidates: [CommunityResource]) -> [RankedResource] {
        let ranked = candidates.filter { isEligible($0, for: request) }.map { explain($0, for: request) }
        return Array(ranked.sorted(by: Self.precedes).prefix(weights.topN))
    }

    /// Higher score first; equal scores by resource id (UUID order = its text's order).
    static func precedes(_ a: RankedResource, _ b: RankedResource) -> Bool {
        a.score != b.score ? a.score > b.score : a.resource.id.uuidString < b.resource.id.uuidString
    }

    /// The score, from what each part of the fit contributes. The one formula both the
    /// reference ranking and the in-memory catalogue use, so they agree to the last bit.
    func score(
        covered: Int, needs: Int, sharesInterest: Bool, kilometres: Double?, remote: Bool, kind: CommunityResource.Kind,
        supportLevel: SupportLevel, hasWeekdays: Bool
    ) -> Double {
        var score = weights.need * Double(covered) / Double(max(1, needs))
        if sharesInterest { score += weights.interests }
        if let kilometres {
            score += weights.distance * max(0, 1 - kilometres / weights.maximumKilometres)
        } else if remote {
            score += weights.distance * 0.5
        }
        score += weights.supportLevel * supportFit(supportLevel, kind)
        score += hasWeekdays ? weights.schedule : weights.schedule * 0.5
        return (score * 1000).rounded() / 1000
    }

    /// The score without the distance part, and the most distance can add: what the
    /// in-memory ranking uses to skip resources that cannot reach the current top N.
    func distanceFreeScore(covered: Int, needs: Int, sharesInterest: Bool, kind: CommunityResource.Kind, supportLevel: SupportLevel, hasWeekdays: Bool)
        -> Double
    {
        var score = weights.need * Double(covered) / Double(max(1, needs))
        if sharesInterest { score += weights.interests }
        score += weights.supportLevel * supportFit(supportLevel, kind)
        score += hasWeekdays ? weights.schedule : weights.schedule * 0.5
        return score
    }

    /// Scores one eligible resource and explains it in the client's language.
    package func explain(_ resource: CommunityResource, for request: MatchRequest) -> RankedResource {
        let french = request.language == "fr"
        var reasons: [String] = []
        let covered = request.needs.filter { need in resource.categories.contains { $0.code == need } }
        for need in covered {
            let label = (try? NeedCategory(code: need))?.label(request.language) ?? need
            reasons.append(french ? "répond au besoin : \(label.lowercased())" : "meets the need: \(label.lowercased())")
        }
        let tags = Set(resource.tags.map { $0.lowercased() })
        let shared = request.interests.filter { tags.contains($0.lowercased()) }
        for interest in shared {
            reasons.append(french ? "\(resource.name) correspond à l'intérêt « \(interest) »" : "\(resource.name) matches interest '\(interest)'")
        }
        if resource.languages.contains(request.language) {
            reasons.append(Self.speaks(request.language, french: french))
        } else if resource.interpretationAvailable {
            reasons.append(french ? "interprétation disponible" : "interpretation available")
        }
        let remote = resource.delivery.contains(.virtual) || resource.delivery.contains(.phone)
        var kilometres: Double?
        if let from = request.coordinates, let to = resource.coordinates, resource.delivery.contains(.inPerson) {
            kilometres = from.distanceKilometres(to: to)
            reasons.append(Self.distance(kilometres!, french: french))
        } else if remote {
            reasons.append(french ? "à distance (en ligne ou par téléphone)" : "remote (online or by phone)")
        }
        if request.supportLevel == .holistic || request.supportLevel == .medium, resource.kind != .externalPartner {
            reasons.append(french ? "programme accompagné" : "facilitated programme")
        }
        if !resource.weekdays.isEmpty, let schedule = resource.schedule { reasons.append(schedule) }
        if !resource.capacity.hasRoom {
            reasons.append(french ? "liste d'attente" : "waitlist")
        }
        let score = score(
            covered: covered.count, needs: request.needs.count, sharesInterest: !shared.isEmpty, kilometres: kilometres, remote: remote,
            kind: resource.kind, supportLevel: request.supportLevel, hasWeekdays: !resource.weekdays.isEmpty)
        return RankedResource(resource: resource, score: score, reasons: reasons)
    }

    /// The hard filters: active, serves a need, eligible by age and area, in a language the
    /// client speaks (or with interpretation), reachable given accessibility needs, with room
    /// or a waitlist.
    func isEligible(_ resource: CommunityResource, for request: MatchRequest) -> Bool {
        isEligibleApartFromCapacity(resource, for: request) && (resource.capacity.hasRoom || resource.capacity.waitlistAllowed)
    }

    func isEligibleApartFromCapacity(_ resource: CommunityResource, for request: MatchRequest) -> Bool {
        guard resource.active else { return false }
        guard resource.categories.contains(where: { request.needs.contains($0.code) }) else { return false }
        if let band = request.ageBand {
            let (low, high) = Self.ageRange(band)
            if let minimum = resource.eligibility.minimumAge, high < minimum { return false }
            if let maximum = resource.eligibility.maximumAge, low > maximum { return false }
        }
        if !resource.eligibility.areas.isEmpty {
            guard let area = request.postalArea?.uppercased(),
                resource.eligibility.areas.contains(where: { area.hasPrefix($0.uppercased()) || $0.uppercased().hasPrefix(area) })
            else { return false }
        }
        guard resource.languages.contains(request.language) || resource.interpretationAvailable else { return false }
        let remote = resource.delivery.contains(.virtual) || resource.delivery.contains(.phone)
        if !remote {
            let offered = Set(resource.accessibility.map { $0.lowercased() })
            guard request.accessibilityNeeds.allSatisfy({ offered.contains($0.lowercased()) }) else { return false }
        }
        return true
    }

    /// Holistic and medium support suit programmes with a facilitator (internal programmes,
    /// Health Champion groups); signposting and light support suit any resource.
    func supportFit(_ level: SupportLevel, _ kind: CommunityResource.Kind) -> Double {
        switch level {
        case .signposting, .light: return 1
        case .medium, .holistic: return kind == .externalPartner ? 0.3 : 1
        }
    }

    static func ageRange(_ band: AgeBand) -> (Int, Int) {
        switch band {
        case .under18: (0, 17)
        case .from18to24: (18, 24)
        case .from25to44: (25, 44)
        case .from45to64: (45, 64)
        case .from65to74: (65, 74)
        case .from75: (75, 130)
        }
    }

    static func speaks(_ language: String, french: Bool) -> String {
        let names: [String: (fr: String, en: String)] = [
            "fr": ("français", "French"), "en": ("anglais", "English"), "ar": ("arabe", "Arabic"), "es": ("espagnol", "Spanish"),
            "zh": ("chinois", "Chinese"), "pt": ("portugais", "Portuguese"), "so": ("somali", "Somali"), "fa": ("persan", "Persian"),
        ]
        let name = names[language].map { french ? $0.fr : $0.en } ?? language
        return french ? "parle \(name)" : "speaks \(name)"
    }

    static func distance(_ kilometres: Double, french: Bool) -> String {
        let rounded = (kilometres * 10).rounded() / 10
        let text = String(format: "%.1f", rounded)
        return french ? "\(text.replacingOccurrences(of: ".", with: ",")) km" : "\(text) km"
    }
}

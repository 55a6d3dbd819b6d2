import Domain
import Foundation

/// What the ranker knows of a referral (from the thin received event).
struct MatchRequest: Sendable {
    var needs: [String]
    var interests: [String]
    var language: String
    var coordinates: Coordinates?
    var postalArea: String?
    var ageBand: AgeBand?
    var accessibilityNeeds: [String]
    var supportLevel: SupportLevel
}

/// How much each part of the fit counts. Defaults sum to 1; deployments tune them.
struct MatchWeights: Sendable, Equatable {
    var need = 0.4
    var interests = 0.2
    var distance = 0.2
    var supportLevel = 0.1
    var schedule = 0.1
    /// Beyond this distance an in-person resource earns no distance score.
    var maximumKilometres = 25.0
    var topN = 5
}

/// One ranked resource and why, in the client's language.
struct RankedResource: Sendable, Equatable {
    var resource: CommunityResource
    var score: Double
    var reasons: [String]
}

/// Filters the catalogue to what the client can actually use, scores the rest, and explains
/// each score in words a link worker can repeat to the client. Pure and deterministic: equal
/// scores are ordered by resource id.
struct MatchRanker: Sendable {
    var weights = MatchWeights()

    func rank(_ request: MatchRequest, candidates: [CommunityResource]) -> [RankedResource] {
        let french = request.language == "fr"
        var ranked: [RankedResource] = []
        for resource in candidates where isEligible(resource, for: request) {
            var reasons: [String] = []
            let covered = request.needs.filter { need in resource.categories.contains { $0.code == need } }
            var score = weights.need * Double(covered.count) / Double(max(1, request.needs.count))
            for need in covered {
                let label = (try? NeedCategory(code: need))?.label(request.language) ?? need
                reasons.append(french ? "répond au besoin : \(label.lowercased())" : "meets the need: \(label.lowercased())")
            }
            let tags = Set(resource.tags.map { $0.lowercased() })
            let shared = request.interests.filter { tags.contains($0.lowercased()) }
            if !shared.isEmpty {
                score += weights.interests
                for interest in shared {
                    reasons.append(french ? "\(resource.name) correspond à l'intérêt « \(interest) »" : "\(resource.name) matches interest '\(interest)'")
                }
            }
            if resource.languages.contains(request.language) {
                reasons.append(Self.speaks(request.language, french: french))
            } else if resource.interpretationAvailable {
                reasons.append(french ? "interprétation disponible" : "interpretation available")
            }
            if let from = request.coordinates, let to = resource.coordinates, resource.delivery.contains(.inPerson) {
                let kilometres = from.distanceKilometres(to: to)
                score += weights.distance * max(0, 1 - kilometres / weights.maximumKilometres)
                reasons.append(Self.distance(kilometres, french: french))
            } else if resource.delivery.contains(.virtual) || resource.delivery.contains(.phone) {
                score += weights.distance * 0.5
                reasons.append(french ? "à distance (en ligne ou par téléphone)" : "remote (online or by phone)")
            }
            score += weights.supportLevel * supportFit(request.supportLevel, resource.kind)
            if request.supportLevel == .holistic || request.supportLevel == .medium, resource.kind != .externalPartner {
                reasons.append(french ? "programme accompagné" : "facilitated programme")
            }
            if !resource.weekdays.isEmpty {
                score += weights.schedule
                if let schedule = resource.schedule { reasons.append(schedule) }
            } else {
                score += weights.schedule * 0.5
            }
            if !resource.capacity.hasRoom {
                reasons.append(french ? "liste d'attente" : "waitlist")
            }
            ranked.append(RankedResource(resource: resource, score: (score * 1000).rounded() / 1000, reasons: reasons))
        }
        ranked.sort { $0.score != $1.score ? $0.score > $1.score : $0.resource.id.uuidString < $1.resource.id.uuidString }
        return Array(ranked.prefix(weights.topN))
    }

    /// The hard filters: active, serves a need, eligible by age and area, in a language the
    /// client speaks (or with interpretation), reachable given accessibility needs, with room
    /// or a waitlist.
    func isEligible(_ resource: CommunityResource, for request: MatchRequest) -> Bool {
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
        return resource.capacity.hasRoom || resource.capacity.waitlistAllowed
    }

    /// Holistic and medium support suit programmes with a facilitator (internal programmes,
    /// Health Champion groups); signposting and light support suit any resource.
    private func supportFit(_ level: SupportLevel, _ kind: CommunityResource.Kind) -> Double {
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

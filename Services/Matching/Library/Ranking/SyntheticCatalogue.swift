import Domain
import Foundation

/// A made-up catalogue and made-up referrals around Ottawa, from a seed: what the matching
/// benchmark and the ranking tests run on when no real directory is at hand.
package struct SyntheticCatalogue {
    /// SplitMix64: small, fast, and the same sequence on every platform.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    static let interests = [
        "walking", "knitting", "cooking", "gardening", "reading", "music", "singing", "painting", "chess", "cards", "yoga",
        "swimming", "cycling", "dancing", "photography", "history", "museums", "crafts", "birdwatching", "theatre", "languages",
        "computers", "volunteering", "faith", "sewing", "woodworking", "films", "hiking", "tai chi", "board games",
    ]
    static let areas = ["K1Y", "K1R", "K2P", "K1N", "K0A", "K2A", "K1S", "K1Z"]

    var generator: Generator

    package init(seed: UInt64) {
        generator = Generator(state: seed)
    }

    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &generator) < probability }

    package mutating func resources(_ count: Int) -> [CommunityResource] {
        (0..<count).map { resource($0) }
    }

    mutating func resource(_ number: Int) -> CommunityResource {
        let codes = NeedCategory.allCodes
        var categories: [NeedCategory] = []
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            let code = codes.randomElement(using: &generator)!
            if !categories.contains(where: { $0.code == code }) { categories.append(try! NeedCategory(code: code)) }
        }
        let roll = Double.random(in: 0..<1, using: &generator)
        let delivery: [CommunityResource.Delivery] = roll < 0.8 ? [.inPerson] : roll < 0.95 ? [.virtual] : [.phone]
        let languages =
            chance(0.5) ? ["fr", "en"] : chance(0.6) ? ["en"] : chance(0.7) ? ["fr"] : ["en", ["ar", "es", "so", "zh"].randomElement(using: &generator)!]
        let limited = chance(0.6)
        let seats = limited ? Int.random(in: 5...40, using: &generator) : nil
        let minimumAge = chance(0.2) ? [18, 55, 65].randomElement(using: &generator)! : nil
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let id = UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
        let weekdays = chance(0.8) ? [Int.random(in: 1...7, using: &generator)] : []
        return try! CommunityResource(
            id: id, organisation: "Organisation \(number % 997)", name: "Resource \(number)",
            kind: CommunityResource.Kind.allCases.randomElement(using: &generator)!, categories: categories, description: "",
            languages: languages, interpretationAvailable: chance(0.1), delivery: delivery,
            coordinates: try! Coordinates(
                latitude: Double.random(in: 45.0...45.8, using: &generator), longitude: Double.random(in: -76.3 ... -75.2, using: &generator)),
            schedule: weekdays.isEmpty ? nil : "weekly", weekdays: weekdays,
            eligibility: .init(minimumAge: minimumAge, areas: chance(0.1) ? [Self.areas.randomElement(using: &generator)!] : []),
            accessibility: chance(0.5) ? ["step-free access"] : [],
            capacity: .init(seats: seats, seatsTaken: seats.map { Int.random(in: 0...$0, using: &generator) } ?? 0, waitlistAllowed: chance(0.3)),
            tags: (0..<Int.random(in: 0...3, using: &generator)).map { _ in Self.interests.randomElement(using: &generator)! })
    }

    package mutating func request() -> MatchRequest {
        let codes = NeedCategory.allCodes
        let needs = Array(Set((0..<Int.random(in: 1...3, using: &generator)).map { _ in codes.randomElement(using: &generator)! })).sorted()
        return MatchRequest(
            needs: needs, interests: (0..<Int.random(in: 0...2, using: &generator)).map { _ in Self.interests.randomElement(using: &generator)! },
            language: chance(0.5) ? "fr" : "en",
            coordinates: try! Coordinates(
                latitude: Double.random(in: 45.2...45.6, using: &generator), longitude: Double.random(in: -76.0 ... -75.5, using: &generator)),
            postalArea: Self.areas.randomElement(using: &generator), ageBand: AgeBand.allCases.randomElement(using: &generator),
            accessibilityNeeds: chance(0.1) ? ["step-free access"] : [], supportLevel: SupportLevel.allCases.randomElement(using: &generator)!)
    }
}

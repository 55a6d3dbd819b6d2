import Domain
import Foundation

/// The active catalogue at one version, in memory and indexed by need category, so a match
/// reads no resource rows: candidates come from the category lists, hard filters run on
/// precomputed fields, and only resources that can still reach the top N get a distance.
/// Seats taken are as loaded (they change with every connection); callers check capacity in
/// the database for the few resources they keep.
package struct CatalogueSnapshot: Sendable {
    let version: Int64
    package let resources: [CommunityResource]
    /// The resources of each need category (index in `NeedCategory.allCodes`).
    private let byCategory: [[Entry]]
    /// Resource positions per interest tag, normalised as interest codes are (`Interests.normalised`).
    private let byTag: [String: [Int32]]

    /// What the hot loop reads, as plain values (no reference counting per candidate), copied
    /// into each of the resource's category lists so a match reads its lists front to back:
    /// at 100,000 resources, random jumps into one shared array cost more than the work.
    private struct Entry: Sendable {
        var categories: UInt64
        var languages: UInt64  // bits of `languageIndex`
        var id: (UInt64, UInt64)  // for the id tie-break without building strings
        /// The point on the unit sphere, for a cheap lower bound of the distance (see `best`).
        var unit: UnitVector
        var position: Int32
        var minimumAge: Int16  // -1: none
        var maximumAge: Int16  // -1: none
        var hasCoordinates: Bool
        var remote: Bool
        var inPerson: Bool
        var interpretation: Bool
        var hasWeekdays: Bool
        var hasAreas: Bool
        var hasAccessibility: Bool
        var kind: CommunityResource.Kind
    }
    struct UnitVector: Sendable {
        var x: Double, y: Double, z: Double

        static let none = UnitVector(x: 0, y: 0, z: 0)

        init(x: Double, y: Double, z: Double) {
            (self.x, self.y, self.z) = (x, y, z)
        }

        init(_ point: Coordinates) {
            let latitude = point.latitude * .pi / 180
            let longitude = point.longitude * .pi / 180
            (x, y, z) = (cos(latitude) * cos(longitude), cos(latitude) * sin(longitude), sin(latitude))
        }

        /// Kilometres along the straight chord: never more than along the surface (R·c ≤ 2R·asin(c/2)).
        func chordKilometres(to other: UnitVector) -> Double {
            let dx = x - other.x
            let dy = y - other.y
            let dz = z - other.z
            return 6371.0088 * (dx * dx + dy * dy + dz * dz).squareRoot()
        }
    }
    /// Read only for the few resources that restrict areas, list accessibility features, or
    /// come close enough to need the exact distance.
    private let coordinates: [Coordinates?]
    private let areas: [[String]]  // upper-cased
    private let accessibility: [Set<String>]  // lower-cased
    /// Language code → bit; languages beyond 63 share the last bit and are checked by name.
    private let languageIndex: [String: Int]

    static let categoryIndex: [String: Int] = Dictionary(uniqueKeysWithValues: NeedCategory.allCodes.enumerated().map { ($1, $0) })

    package init(version: Int64, resources: [CommunityResource]) {
        self.version = version
        let active = resources.filter(\.active)
        self.resources = active
        var byCategory = Array(repeating: [Entry](), count: NeedCategory.allCodes.count)
        var byTag: [String: [Int32]] = [:]
        var languageIndex: [String: Int] = [:]
        var coordinates: [Coordinates?] = []
        var areas: [[String]] = []
        var accessibility: [Set<String>] = []
        coordinates.reserveCapacity(active.count)
        for (position, resource) in active.enumerated() {
            var mask: UInt64 = 0
            var indices: [Int] = []
            for category in resource.categories {
                guard let index = Self.categoryIndex[category.code], mask & (1 << UInt64(index)) == 0 else { continue }
                mask |= 1 << UInt64(index)
                indices.append(index)
            }
            for tag in Set(resource.tags.map(Interests.normalised)) { byTag[tag, default: []].append(Int32(position)) }
            var languages: UInt64 = 0
            for language in resource.languages {
                let bit = languageIndex[language] ?? min(languageIndex.count, 63)
                if languageIndex[language] == nil && languageIndex.count < 63 { languageIndex[language] = bit }
                languages |= 1 << UInt64(bit)
            }
            let bytes = resource.id.uuid
            let high = [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5, bytes.6, bytes.7].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = [bytes.8, bytes.9, bytes.10, bytes.11, bytes.12, bytes.13, bytes.14, bytes.15].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            func age(_ years: Int?) -> Int16 { years.map { Int16(clamping: $0) } ?? -1 }
            let entry = Entry(
                categories: mask, languages: languages, id: (high, low),
                unit: resource.coordinates.map(UnitVector.init) ?? .none, position: Int32(position),
                minimumAge: age(resource.eligibility.minimumAge), maximumAge: age(resource.eligibility.maximumAge),
                hasCoordinates: resource.coordinates != nil,
                remote: resource.delivery.contains(.virtual) || resource.delivery.contains(.phone),
                inPerson: resource.delivery.contains(.inPerson), interpretation: resource.interpretationAvailable,
                hasWeekdays: !resource.weekdays.isEmpty, hasAreas: !resource.eligibility.areas.isEmpty, hasAccessibility: !resource.accessibility.isEmpty,
                kind: resource.kind)
            for index in indices { byCategory[index].append(entry) }
            coordinates.append(resource.coordinates)
            areas.append(resource.eligibility.areas.map { $0.uppercased() })
            accessibility.append(Set(resource.accessibility.map { $0.lowercased() }))
        }
        self.byCategory = byCategory
        self.byTag = byTag
        self.coordinates = coordinates
        self.areas = areas
        self.accessibility = accessibility
        self.languageIndex = languageIndex
    }

    /// A resource that passed every filter but capacity, with its score.
    package struct Candidate: Sendable {
        package var position: Int
        var score: Double
        fileprivate var id: (UInt64, UInt64)
    }

    /// The best `limit` resources for the request that pass every hard filter except
    /// capacity, best first (score, then id), scored exactly as `MatchRanker.explain` does.
    package func best(_ request: MatchRequest, ranker: MatchRanker, limit: Int) -> [Candidate] {
        let weights = ranker.weights
        var needMask: UInt64 = 0
        var needIndices: [Int] = []
        for need in request.needs {
            if let index = Self.categoryIndex[need], needMask & (1 << UInt64(index)) == 0 {
                needMask |= 1 << UInt64(index)
                needIndices.append(index)
            }
        }
        guard !needIndices.isEmpty, limit > 0 else { return [] }
        // Resources sharing an interest, as a bit set over positions.
        var interested = [UInt64](repeating: 0, count: (resources.count + 63) / 64)
        var anyInterest = false
        for interest in request.interests {
            for position in byTag[Interests.normalised(interest)] ?? [] {
                interested[Int(position) >> 6] |= 1 << UInt64(position & 63)
                anyInterest = true
            }
        }
        let (low, high) = request.ageBand.map(MatchRanker.ageRange) ?? (0, 130)
        let area = request.postalArea?.uppercased()
        let accessibilityNeeds = request.accessibilityNeeds.map { $0.lowercased() }
        let needCount = request.needs.count
        // Request needs counted as `filter` counts them (a repeated need counts twice).
        let needCodes = request.needs.map { Self.categoryIndex[$0] }
        let languageBit: UInt64 = languageIndex[request.language].map { 1 << UInt64($0) } ?? (languageIndex.count >= 63 ? 1 << 63 : 0)
        let sharedLanguageBit = languageBit == 1 << 63  // the last bit stands for many languages
        let requestUnit = request.coordinates.map(UnitVector.init)

        var kept: [Candidate] = []  // sorted best first, at most `limit`
        kept.reserveCapacity(limit + 1)
        func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
            a.score != b.score ? a.score > b.score : a.id < b.id
        }

        for (listIndex, category) in needIndices.enumerated() {
            // A resource in several requested categories is visited in the first list only.
            let earlier = needIndices[..<listIndex].reduce(UInt64(0)) { $0 | 1 << UInt64($1) }
            for entry in byCategory[category] {  // plain values: copying retains nothing
                if entry.categories & earlier != 0 { continue }
                let position = Int(entry.position)
                // Hard filters, as MatchRanker.isEligibleApartFromCapacity.
                if request.ageBand != nil {
                    if entry.minimumAge >= 0, high < Int(entry.minimumAge) { continue }
                    if entry.maximumAge >= 0, low > Int(entry.maximumAge) { continue }
                }
                if entry.hasAreas {
                    guard let area, areas[position].contains(where: { area.hasPrefix($0) || $0.hasPrefix(area) }) else { continue }
                }
                if !entry.interpretation {
                    guard entry.languages & languageBit != 0 else { continue }
                    if sharedLanguageBit, !resources[position].languages.contains(request.language) { continue }
                }
                if !entry.remote, !accessibilityNeeds.isEmpty {
                    guard entry.hasAccessibility, accessibilityNeeds.allSatisfy(accessibility[position].contains) else { continue }
                }

                var covered = 0
                for code in needCodes { if let code, entry.categories & (1 << UInt64(code)) != 0 { covered += 1 } }
                let sharesInterest = anyInterest && interested[position >> 6] & (1 << UInt64(position & 63)) != 0
                let hasDistance = request.coordinates != nil && entry.hasCoordinates && entry.inPerson
                if kept.count == limit, let last = kept.last {
                    // Skip what cannot reach the kept list even with the best distance (with a
                    // margin for rounding to thousandths).
                    let base = ranker.distanceFreeScore(
                        covered: covered, needs: needCount, sharesInterest: sharesInterest, kind: entry.kind,
                        supportLevel: request.supportLevel, hasWeekdays: entry.hasWeekdays)
                    let ceiling = base + (hasDistance ? weights.distance : entry.remote ? weights.distance * 0.5 : 0)
                    if ceiling + 0.001 < last.score { continue }
                    // Most of a large catalogue is too far to reach the list: the chord, a lower
                    // bound of the distance, rules it out without the trigonometry of the exact one.
                    if hasDistance, weights.distance > 0, let requestUnit {
                        let unit = entry.unit
                        let reachable = weights.maximumKilometres * (1 - (last.score - 0.001 - base) / weights.distance)
                        // (Beyond the maximum the distance adds nothing, so only a reach short of it prunes.)
                        if reachable < weights.maximumKilometres, requestUnit.chordKilometres(to: unit) > reachable { continue }
                    }
                }
                let kilometres = hasDistance ? request.coordinates!.distanceKilometres(to: coordinates[position]!) : nil
                let score = ranker.score(
                    covered: covered, needs: needCount, sharesInterest: sharesInterest, kilometres: kilometres, remote: entry.remote,
                    kind: entry.kind, supportLevel: request.supportLevel, hasWeekdays: entry.hasWeekdays)
                let candidate = Candidate(position: position, score: score, id: entry.id)
                if kept.count == limit {
                    guard precedes(candidate, kept[limit - 1]) else { continue }
                    kept.removeLast()
                }
                var slot = kept.count
                while slot > 0 && precedes(candidate, kept[slot - 1]) { slot -= 1 }
                kept.insert(candidate, at: slot)
            }
        }
        return kept
    }
}

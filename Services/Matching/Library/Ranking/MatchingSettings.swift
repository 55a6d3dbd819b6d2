import Foundation
import ServiceRuntime

/// Matching's own settings, read from the service's environment:
///
///     PASSERELLE_MATCHING_WEIGHTS   need=0.4,interests=0.2,distance=0.2,support=0.1,schedule=0.1
///                                   (any subset; the others keep their default)
///     PASSERELLE_MATCHING_TOP_N     resources proposed per referral, 1–50 (default 5)
///     PASSERELLE_MATCHING_MAX_KM    beyond this an in-person resource earns no distance score (default 25)
///     PASSERELLE_HSDS_TAXONOMY_MAPPING  taxonomy mapping file for HSDS imports (default: built in)
///     PASSERELLE_MATCHING_POSTAL_AREAS  CSV of postal-area centroids, for clients without coordinates
struct MatchingSettings: Sendable {
    var weights = MatchWeights()
    var taxonomyMappingPath: String?
    var postalAreas = PostalAreaCentroids()

    static let weightsVariable = "PASSERELLE_MATCHING_WEIGHTS"
    static let topNVariable = "PASSERELLE_MATCHING_TOP_N"
    static let maximumKilometresVariable = "PASSERELLE_MATCHING_MAX_KM"

    /// Every problem at once, so a deployment is fixed in one go.
    struct Invalid: Error, Sendable, CustomStringConvertible {
        var problems: [String]
        var description: String { "matching configuration: " + problems.joined(separator: "; ") }
    }

    private static func problem(_ variable: String, _ text: String) -> String { "\(variable): \(text)" }

    static func read(_ environment: Environment) throws(Invalid) -> MatchingSettings {
        var settings = MatchingSettings()
        var problems: [String] = []
        if let text = environment.optionalString(weightsVariable) {
            var seen = Set<String>()
            for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty else {
                    problems.append(problem(weightsVariable, "\"\(pair)\" is not name=number"))
                    continue
                }
                let (name, value) = (parts[0], parts[1])
                guard seen.insert(name).inserted else {
                    problems.append(problem(weightsVariable, "\(name) is given twice"))
                    continue
                }
                guard let number = Double(value), number.isFinite, number >= 0 else {
                    problems.append(problem(weightsVariable, "\(name)=\(value): the weight must be a number ≥ 0"))
                    continue
                }
                switch name {
                case "need": settings.weights.need = number
                case "interests": settings.weights.interests = number
                case "distance": settings.weights.distance = number
                case "support": settings.weights.supportLevel = number
                case "schedule": settings.weights.schedule = number
                default: problems.append(problem(weightsVariable, "unknown weight \"\(name)\" (need, interests, distance, support, schedule)"))
                }
            }
            let w = settings.weights
            if problems.isEmpty && w.need + w.interests + w.distance + w.supportLevel + w.schedule <= 0 {
                problems.append(problem(weightsVariable, "at least one weight must be above 0"))
            }
        }
        if let text = environment.optionalString(topNVariable) {
            if let number = Int(text), (1...50).contains(number) {
                settings.weights.topN = number
            } else {
                problems.append(problem(topNVariable, "\"\(text)\" is not a whole number from 1 to 50"))
            }
        }
        if let text = environment.optionalString(maximumKilometresVariable) {
            if let number = Double(text), number.isFinite, number > 0 {
                settings.weights.maximumKilometres = number
            } else {
                problems.append(problem(maximumKilometresVariable, "\"\(text)\" is not a positive number of kilometres"))
            }
        }
        settings.taxonomyMappingPath = environment.optionalString(MatchingService.mappingVariable)
        if let path = environment.optionalString(PostalAreaCentroids.variable) {
            let loaded = PostalAreaCentroids.load(path: path)
            settings.postalAreas = loaded.centroids
            problems += loaded.problems
        }
        guard problems.isEmpty else { throw Invalid(problems: problems) }
        return settings
    }
}

import Domain
import Foundation
import ServiceRuntime

/// What the catalogue API refuses beyond the domain's own rules, each with the field it concerns:
/// the same limits the OpenAPI document states, so that what it calls valid is stored and what it
/// calls invalid is a 422 (and never a PostgreSQL error such as an integer out of range).
enum ResourceRules {
    /// The largest count PostgreSQL's `integer` holds (seats, caseloads).
    static let largestCount = Int(Int32.max)
    /// Ages a resource's eligibility may name.
    static let ages = 0...150

    static func problems(_ resource: CommunityResource) -> [ProblemDetails.FieldError] {
        var errors: [ProblemDetails.FieldError] = []
        // Only a directory import leaves a resource uncategorised (and flags it for review).
        if resource.categories.isEmpty { errors.append(.init(pointer: "/categories", detail: "must list at least one need category")) }
        if resource.name.isEmpty { errors.append(.init(pointer: "/name", detail: "must not be empty")) }
        if resource.delivery.isEmpty { errors.append(.init(pointer: "/delivery", detail: "must list in-person, virtual or phone")) }
        for (index, language) in resource.languages.enumerated() where !Language.isValid(language) {
            errors.append(.init(pointer: "/languages/\(index)", detail: "must be a language code (2 or 3 lowercase letters)"))
        }
        if let point = resource.coordinates, !(-90...90).contains(point.latitude) || !(-180...180).contains(point.longitude) {
            errors.append(.init(pointer: "/coordinates", detail: "latitude -90 to 90 and longitude -180 to 180"))
        }
        for (index, day) in resource.weekdays.enumerated() where !(1...7).contains(day) {
            errors.append(.init(pointer: "/weekdays/\(index)", detail: "must be 1 (Monday) to 7 (Sunday)"))
        }
        for (index, hours) in resource.openingHours.enumerated() {
            if !(1...7).contains(hours.weekday) {
                errors.append(.init(pointer: "/openingHours/\(index)/weekday", detail: "must be 1 (Monday) to 7 (Sunday)"))
            }
            for (member, time) in [("opensAt", hours.opensAt), ("closesAt", hours.closesAt)] where !CommunityResource.OpeningHours.isClock(time) {
                errors.append(.init(pointer: "/openingHours/\(index)/\(member)", detail: "must be a 24-hour time HH:MM from 00:00 to 23:59"))
            }
        }
        let eligibility = resource.eligibility
        if let age = eligibility.minimumAge, !ages.contains(age) { errors.append(.init(pointer: "/eligibility/minimumAge", detail: "must be 0 to 150")) }
        if let age = eligibility.maximumAge, !ages.contains(age) { errors.append(.init(pointer: "/eligibility/maximumAge", detail: "must be 0 to 150")) }
        if let seats = resource.capacity.seats, !(0...largestCount).contains(seats) {
            errors.append(.init(pointer: "/capacity/seats", detail: "must be a whole number from 0 to \(largestCount)"))
        }
        errors += StoredTextArray.problems(resource).map { .init(pointer: $0, detail: StoredTextArray.detail) }
        return errors
    }

    /// `latitude,longitude` in decimal degrees, as the search's `near` takes them (the document's pattern).
    static func coordinates(_ text: String) -> Coordinates? {
        guard text.wholeMatch(of: nearPattern) != nil else { return nil }
        let parts = text.split(separator: ",").compactMap { Double($0) }
        guard parts.count == 2 else { return nil }
        return try? Coordinates(latitude: parts[0], longitude: parts[1])
    }

    /// Latitude -90 to 90, a comma, longitude -180 to 180; up to 12 decimals.
    nonisolated(unsafe) static let nearPattern =
        /-?(90(\.0{1,12})?|[1-8]?[0-9](\.[0-9]{1,12})?),-?(180(\.0{1,12})?|(1[0-7][0-9]|[1-9]?[0-9])(\.[0-9]{1,12})?)/

    /// A site code, as intake takes them: 2 to 64 lowercase letters, digits and dashes.
    static func isSiteCode(_ text: String) -> Bool {
        (2...64).contains(text.unicodeScalars.count)
            && text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}

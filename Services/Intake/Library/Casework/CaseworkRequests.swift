import Domain
import Foundation
import ServiceRuntime
import WireFormats

// The bodies of the casework API and the one place each is validated. Every member is optional
// when decoded so that a missing or wrong one is a 422 at its pointer, like the rest of the API.

/// The longest texts kept; the contract states the same limits.
enum CaseworkLimits {
    static let contactNote = 500
    static let whatMatters = 2000
    static let goalDescription = 500
    static let reviewNote = 500
    static let noteBody = 4000
    static let contactMinutes = 0...600
    /// A contact logged as happening later than this ahead of the server's clock is a mistake.
    static let futureTolerance: TimeInterval = 300
}

struct ContactRequest: Decodable, Sendable {
    var occurredAt: Date?
    var mode: String?
    var party: String?
    var reached: Bool?
    var minutes: Int?
    var note: String?
    /// The body said `"occurredAt": null`: a date-time or nothing, as the contract says, not
    /// null taken silently for now.
    var occurredAtIsNull = false

    private enum CodingKeys: String, CodingKey { case occurredAt, mode, party, reached, minutes, note }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        occurredAtIsNull = try container.contains(.occurredAt) && container.decodeNil(forKey: .occurredAt)
        occurredAt = occurredAtIsNull ? nil : try container.decodeIfPresent(Date.self, forKey: .occurredAt)
        mode = try container.decodeIfPresent(String.self, forKey: .mode)
        party = try container.decodeIfPresent(String.self, forKey: .party)
        reached = try container.decodeIfPresent(Bool.self, forKey: .reached)
        minutes = try container.decodeIfPresent(Int.self, forKey: .minutes)
        note = try container.decodeIfPresent(String.self, forKey: .note)
    }

    struct Valid: Sendable {
        var occurredAt: Date
        var mode: ContactMode
        var party: ContactParty
        var reached: Bool
        var minutes: Int
        var note: String?
    }

    func validated(now: Date) throws(ProblemDetails) -> Valid {
        var errors: [ProblemDetails.FieldError] = []
        let mode = self.mode.flatMap(ContactMode.init(rawValue:))
        if mode == nil { errors.append(.init(pointer: "/mode", detail: "must be one of \(ContactMode.allCases.map(\.rawValue).joined(separator: ", "))")) }
        let party = self.party.map(ContactParty.init(rawValue:)) ?? .client
        if party == nil { errors.append(.init(pointer: "/party", detail: "must be one of \(ContactParty.allCases.map(\.rawValue).joined(separator: ", "))")) }
        if reached == nil { errors.append(.init(pointer: "/reached", detail: "is required")) }
        if let minutes, !CaseworkLimits.contactMinutes.contains(minutes) {
            errors.append(.init(pointer: "/minutes", detail: "must be between 0 and \(CaseworkLimits.contactMinutes.upperBound)"))
        } else if minutes == nil {
            errors.append(.init(pointer: "/minutes", detail: "is required"))
        }
        if occurredAtIsNull { errors.append(.init(pointer: "/occurredAt", detail: "must be a date-time when given")) }
        let occurredAt = self.occurredAt ?? now
        if occurredAt.timeIntervalSince(now) > CaseworkLimits.futureTolerance {
            errors.append(.init(pointer: "/occurredAt", detail: "must not be in the future"))
        }
        let note = Self.text(note, at: "/note", limit: CaseworkLimits.contactNote, required: false, into: &errors)
        guard errors.isEmpty, let mode, let party, let reached, let minutes else { throw ProblemDetails.validation(errors) }
        return Valid(occurredAt: occurredAt, mode: mode, party: party, reached: reached, minutes: minutes, note: note)
    }

    /// Trimmed text; blank is none. `required` makes none an error. The limit counts the text
    /// as sent, in Unicode scalars, as the contract's `maxLength` does.
    static func text(_ value: String?, at pointer: String, limit: Int, required: Bool, into errors: inout [ProblemDetails.FieldError]) -> String? {
        let trimmed = value?.trimmingWhitespace().nilIfEmpty
        if trimmed == nil, required { errors.append(.init(pointer: pointer, detail: "is required")) }
        if let value, value.unicodeScalars.count > limit { errors.append(.init(pointer: pointer, detail: "must be at most \(limit) characters")) }
        return trimmed
    }
}

struct PlanRequest: Decodable, Sendable {
    var whatMatters: String?

    func validated() throws(ProblemDetails) -> String {
        var errors: [ProblemDetails.FieldError] = []
        let text = ContactRequest.text(whatMatters, at: "/whatMatters", limit: CaseworkLimits.whatMatters, required: true, into: &errors)
        guard errors.isEmpty, let text else { throw ProblemDetails.validation(errors) }
        return text
    }
}

struct GoalRequest: Decodable, Sendable {
    var lifeDomain: String?
    var description: String?
    var progress: String?

    struct Valid: Sendable {
        var lifeDomain: LifeDomain
        var description: String
        var progress: GoalProgress
    }

    func validated() throws(ProblemDetails) -> Valid {
        var errors: [ProblemDetails.FieldError] = []
        let domain = lifeDomain.flatMap { try? LifeDomain(code: $0) }
        if domain == nil { errors.append(.init(pointer: "/lifeDomain", detail: "must be one of \(LifeDomain.allCodes.joined(separator: ", "))")) }
        let text = ContactRequest.text(description, at: "/description", limit: CaseworkLimits.goalDescription, required: true, into: &errors)
        let progress = self.progress.map(GoalProgress.init(rawValue:)) ?? .notStarted
        if progress == nil {
            errors.append(.init(pointer: "/progress", detail: "must be one of \(GoalProgress.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        guard errors.isEmpty, let domain, let text, let progress else { throw ProblemDetails.validation(errors) }
        return Valid(lifeDomain: domain, description: text, progress: progress)
    }
}

struct GoalReviewRequest: Decodable, Sendable {
    var progress: String?
    var note: String?

    func validated() throws(ProblemDetails) -> (progress: GoalProgress, note: String?) {
        var errors: [ProblemDetails.FieldError] = []
        let progress = self.progress.flatMap(GoalProgress.init(rawValue:))
        if progress == nil {
            errors.append(.init(pointer: "/progress", detail: "must be one of \(GoalProgress.allCases.map(\.rawValue).joined(separator: ", "))"))
        }
        let note = ContactRequest.text(note, at: "/note", limit: CaseworkLimits.reviewNote, required: false, into: &errors)
        guard errors.isEmpty, let progress else { throw ProblemDetails.validation(errors) }
        return (progress, note)
    }
}

struct NoteRequest: Decodable, Sendable {
    var body: String?

    func validated() throws(ProblemDetails) -> String {
        var errors: [ProblemDetails.FieldError] = []
        let text = ContactRequest.text(body, at: "/body", limit: CaseworkLimits.noteBody, required: true, into: &errors)
        guard errors.isEmpty, let text else { throw ProblemDetails.validation(errors) }
        return text
    }
}

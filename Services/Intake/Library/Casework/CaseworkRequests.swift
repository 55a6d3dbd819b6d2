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
    static let supportLevelReason = 500
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
        var checks = FieldChecks()
        let mode = checks.choice(mode, ContactMode.self, at: "/mode")
        let party = checks.choice(party, ContactParty.self, at: "/party", fallback: .client)
        let reached = checks.required(reached, at: "/reached")
        if let minutes, !CaseworkLimits.contactMinutes.contains(minutes) {
            checks.fail("/minutes", "must be between 0 and \(CaseworkLimits.contactMinutes.upperBound)")
        }
        let minutes = checks.required(minutes, at: "/minutes")
        if occurredAtIsNull { checks.fail("/occurredAt", "must be a date-time when given") }
        let occurredAt = self.occurredAt ?? now
        if occurredAt.timeIntervalSince(now) > CaseworkLimits.futureTolerance { checks.fail("/occurredAt", "must not be in the future") }
        let note = checks.text(note, at: "/note", max: CaseworkLimits.contactNote, required: false)
        try checks.check()
        guard let mode, let party, let reached, let minutes else { throw ProblemDetails.validation(checks.errors) }
        return Valid(occurredAt: occurredAt, mode: mode, party: party, reached: reached, minutes: minutes, note: note)
    }
}

struct PlanRequest: Decodable, Sendable {
    var whatMatters: String?

    func validated() throws(ProblemDetails) -> String {
        var checks = FieldChecks()
        let text = checks.text(whatMatters, at: "/whatMatters", max: CaseworkLimits.whatMatters)
        try checks.check()
        guard let text else { throw ProblemDetails.validation(checks.errors) }
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
        var checks = FieldChecks()
        let domain = lifeDomain.flatMap { try? LifeDomain(code: $0) }
        if domain == nil { checks.fail("/lifeDomain", "must be one of \(LifeDomain.allCodes.joined(separator: ", "))") }
        let text = checks.text(description, at: "/description", max: CaseworkLimits.goalDescription)
        let progress = checks.choice(progress, GoalProgress.self, at: "/progress", fallback: .notStarted)
        try checks.check()
        guard let domain, let text, let progress else { throw ProblemDetails.validation(checks.errors) }
        return Valid(lifeDomain: domain, description: text, progress: progress)
    }
}

struct GoalReviewRequest: Decodable, Sendable {
    var progress: String?
    var note: String?

    func validated() throws(ProblemDetails) -> (progress: GoalProgress, note: String?) {
        var checks = FieldChecks()
        let progress = checks.choice(progress, GoalProgress.self, at: "/progress")
        let note = checks.text(note, at: "/note", max: CaseworkLimits.reviewNote, required: false)
        try checks.check()
        guard let progress else { throw ProblemDetails.validation(checks.errors) }
        return (progress, note)
    }
}

struct NoteRequest: Decodable, Sendable {
    var body: String?

    func validated() throws(ProblemDetails) -> String {
        var checks = FieldChecks()
        let text = checks.text(body, at: "/body", max: CaseworkLimits.noteBody)
        try checks.check()
        guard let text else { throw ProblemDetails.validation(checks.errors) }
        return text
    }
}

struct SupportLevelRequest: Decodable, Sendable {
    var supportLevel: String?
    var reason: String?

    func validated() throws(ProblemDetails) -> (level: SupportLevel, reason: String) {
        var checks = FieldChecks()
        let level = checks.choice(supportLevel, SupportLevel.self, at: "/supportLevel")
        let reason = checks.text(reason, at: "/reason", max: CaseworkLimits.supportLevelReason)
        try checks.check()
        guard let level, let reason else { throw ProblemDetails.validation(checks.errors) }
        return (level, reason)
    }
}

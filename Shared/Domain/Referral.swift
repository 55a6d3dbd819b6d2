import Foundation

/// "Gamme du soutien": how much support the link worker gives.
public enum SupportLevel: String, Codable, Sendable, CaseIterable {
    /// Affichage: point the client to a resource.
    case signposting
    /// Léger: one or two conversations and a connection.
    case light
    /// Moyen: several meetings, goals, follow-up.
    case medium
    /// Global: sustained, holistic support.
    case holistic
}

public enum ReferralPriority: String, Codable, Sendable, CaseIterable {
    case routine
    case urgent
}

/// Who sent the referral.
public enum ReferrerRole: String, Codable, Sendable, CaseIterable {
    case physician
    case nursePractitioner = "nurse-practitioner"
    case nurse
    case socialWorker = "social-worker"
    case alliedHealth = "allied-health"
    case selfReferral = "self"
    case communityPartner = "community-partner"
}

public struct Referrer: Codable, Sendable, Equatable {
    public var id: String
    public var role: ReferrerRole
    public var organisation: String?

    public init(id: String, role: ReferrerRole, organisation: String? = nil) {
        self.id = id
        self.role = role
        self.organisation = organisation
    }
}

/// What the client agreed to; every message, share and evaluation use is checked against it.
public struct Consent: Codable, Sendable, Equatable {
    /// May Passerelle contact the client at all.
    public var contact: Bool
    /// May community partners receive the client's first name and contact.
    public var shareWithPartners: Bool
    /// May de-identified data about the client's pathway be used for evaluation.
    public var evaluationUse: Bool

    public init(contact: Bool, shareWithPartners: Bool, evaluationUse: Bool) {
        self.contact = contact
        self.shareWithPartners = shareWithPartners
        self.evaluationUse = evaluationUse
    }
}

/// A social prescription: the unit that moves through the closed loop.
public struct Referral: Codable, Sendable, Equatable, Identifiable {
    public var id: UUID
    public var externalID: String?
    public var clientID: UUID
    public var referrer: Referrer
    public var site: String
    public var needs: [NeedCategory]
    public var interests: [String]
    public var supportLevel: SupportLevel
    public var priority: ReferralPriority
    public var consent: Consent
    public var notes: String?
    public var screeningAnswers: [String: String]
    public var status: ReferralStatus
    /// Grows by one with each change; events carry it so consumers can drop stale ones.
    public var version: Int
    public var receivedAt: Date
    public var updatedAt: Date

    public init(
        id: UUID, externalID: String? = nil, clientID: UUID, referrer: Referrer, site: String, needs: [NeedCategory],
        interests: [String] = [], supportLevel: SupportLevel, priority: ReferralPriority, consent: Consent,
        notes: String? = nil, screeningAnswers: [String: String] = [:], status: ReferralStatus = .received,
        version: Int = 1, receivedAt: Date, updatedAt: Date? = nil
    ) throws(DomainError) {
        guard !needs.isEmpty else { throw .invalid("a referral needs at least one need category") }
        guard Site.isValid(site) else { throw .invalid("site \"\(site)\" is not a valid site code") }
        self.id = id
        self.externalID = externalID
        self.clientID = clientID
        self.referrer = referrer
        self.site = site
        self.needs = needs
        self.interests = interests
        self.supportLevel = supportLevel
        self.priority = priority
        self.consent = consent
        self.notes = notes
        self.screeningAnswers = screeningAnswers
        self.status = status
        self.version = version
        self.receivedAt = receivedAt
        self.updatedAt = updatedAt ?? receivedAt
    }
}

/// Sites are short codes (`ottawa-west-chc`): lowercase letters, digits and dashes.
public enum Site {
    public static func isValid(_ code: String) -> Bool {
        (2...64).contains(code.count) && code.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}

/// A rule of the domain was broken. The message is for people (API clients, logs).
public enum DomainError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)
    case illegalTransition(from: ReferralStatus, action: ReferralAction, allowed: [ReferralAction])

    public var description: String {
        switch self {
        case .invalid(let message): return message
        case .illegalTransition(let from, let action, let allowed):
            return "cannot \(action.rawValue) a referral that is \(from.rawValue); allowed: \(allowed.map(\.rawValue).joined(separator: ", "))"
        }
    }
}

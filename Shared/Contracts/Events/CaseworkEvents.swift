import Domain
import Foundation

// Casework events: counts, codes and minutes only. What was said, what matters to the client
// and the goals' own words stay in intake's schema; evaluation reads these for the "dosage"
// of each pathway (contacts, minutes, goals set and reached).

/// `passerelle.contact.logged.v1`: a link worker logged a contact or an attempt at one.
public struct ContactLoggedV1: EventPayload {
    public static let eventType = "passerelle.contact.logged.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var referralVersion: Int
    public var site: String
    public var contactID: UUID
    public var mode: ContactMode
    public var party: ContactParty
    /// False for an attempt that did not reach anyone; attempts count toward the first-contact clock.
    public var reached: Bool
    public var minutes: Int
    public var occurredAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        referralID: UUID, referralVersion: Int, site: String, contactID: UUID, mode: ContactMode, party: ContactParty, reached: Bool, minutes: Int,
        occurredAt: Date
    ) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.site = site
        self.contactID = contactID
        self.mode = mode
        self.party = party
        self.reached = reached
        self.minutes = minutes
        self.occurredAt = occurredAt
    }
}

/// `passerelle.goal.set.v1`: a goal was agreed with the client.
public struct GoalSetV1: EventPayload {
    public static let eventType = "passerelle.goal.set.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var referralVersion: Int
    public var site: String
    public var goalID: UUID
    public var lifeDomain: LifeDomain
    public var progress: GoalProgress
    public var setAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, referralVersion: Int, site: String, goalID: UUID, lifeDomain: LifeDomain, progress: GoalProgress, setAt: Date) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.site = site
        self.goalID = goalID
        self.lifeDomain = lifeDomain
        self.progress = progress
        self.setAt = setAt
    }
}

/// `passerelle.goal.reviewed.v1`: a goal's progress was reviewed with the client.
public struct GoalReviewedV1: EventPayload {
    public static let eventType = "passerelle.goal.reviewed.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var referralVersion: Int
    public var site: String
    public var goalID: UUID
    public var lifeDomain: LifeDomain
    public var previousProgress: GoalProgress
    public var progress: GoalProgress
    public var reviewedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        referralID: UUID, referralVersion: Int, site: String, goalID: UUID, lifeDomain: LifeDomain, previousProgress: GoalProgress, progress: GoalProgress,
        reviewedAt: Date
    ) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.site = site
        self.goalID = goalID
        self.lifeDomain = lifeDomain
        self.previousProgress = previousProgress
        self.progress = progress
        self.reviewedAt = reviewedAt
    }
}

/// `passerelle.referral.overdue.v1`: a follow-up step passed its time (`overdue`), then its
/// escalation time (`escalated`); each is raised once per due step.
public struct ReferralOverdueV1: EventPayload {
    public static let eventType = "passerelle.referral.overdue.v1"
    public static let topic = TopicName.referrals

    public enum Level: String, Codable, Sendable, CaseIterable {
        /// The link worker is nudged.
        case overdue
        /// The site's coordinator is told.
        case escalated
    }

    public var referralID: UUID
    public var referralVersion: Int
    public var site: String
    /// The link worker who accepted the referral (a staff id), if one has.
    public var ownerID: String?
    /// first-contact, follow-up-<weeks>w or hold-review.
    public var step: String
    public var level: Level
    public var dueAt: Date
    public var raisedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, referralVersion: Int, site: String, ownerID: String?, step: String, level: Level, dueAt: Date, raisedAt: Date) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.site = site
        self.ownerID = ownerID
        self.step = step
        self.level = level
        self.dueAt = dueAt
        self.raisedAt = raisedAt
    }
}

/// `passerelle.referral.support-level-changed.v1`: after assessing the client, a link worker
/// changed how much support the pathway gets. The reason, in words, stays in intake.
public struct SupportLevelChangedV1: EventPayload {
    public static let eventType = "passerelle.referral.support-level-changed.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var referralVersion: Int
    public var site: String
    public var from: SupportLevel
    public var to: SupportLevel
    public var changedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, referralVersion: Int, site: String, from: SupportLevel, to: SupportLevel, changedAt: Date) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.site = site
        self.from = from
        self.to = to
        self.changedAt = changedAt
    }
}

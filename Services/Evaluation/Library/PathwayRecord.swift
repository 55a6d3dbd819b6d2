import Contracts
import Domain
import Foundation
import PostgresClient

/// One referral pathway as the `pathway` table holds it. Age band, language, area and the
/// sociodemographics the client answered are kept only while the client consents to evaluation use.
public struct PathwayRecord: Codable, Sendable, Equatable {
    public var referralID: UUID
    public var pathwayVersion: Int
    public var clientID: UUID
    public var site: String
    public var referrerID: String?
    public var referrerRole: String
    public var needs: [String]
    public var supportLevel: String
    public var priority: String
    public var status: String
    public var ageBand: String?
    public var area: String?
    public var language: String?
    public var gender: String?
    public var incomeBand: String?
    /// `yes` or `no`, as reports group by it.
    public var newcomer: String?
    public var disability: String?
    public var racialOrEthnicGroup: String?
    public var consentEvaluationUse: Bool
    public var receivedAt: Date
    public var acceptedAt: Date?
    public var firstContactAt: Date?
    public var connectedAt: Date?
    public var closedAt: Date?
    public var closureOutcome: String?
    public var closureReason: String?
    public var connectionCount: Int
    public var connectedResourceKind: String?
    public var connectedCategories: [String]?
    public var updatedAt: Date
    /// Casework "dosage", from intake's thin events (codes, counts and minutes only): contacts
    /// logged (attempts included), those that reached someone, and their minutes.
    public var contactsLogged = 0
    public var contactsReached = 0
    public var contactMinutes = 0
    /// The goals agreed with the client, as parallel lists: each goal's id, its progress when it
    /// was set, and its progress at the latest review (`GoalProgress` codes).
    public var goalIDs: [String] = []
    public var goalStartProgress: [String] = []
    public var goalProgress: [String] = []

    /// Column names: the table's, so a record round-trips through `jsonb_populate_record`.
    enum CodingKeys: String, CodingKey, CaseIterable {
        case referralID = "referral_id"
        case pathwayVersion = "pathway_version"
        case clientID = "client_id"
        case site
        case referrerID = "referrer_id"
        case referrerRole = "referrer_role"
        case needs
        case supportLevel = "support_level"
        case priority, status
        case ageBand = "age_band"
        case area, language, gender
        case incomeBand = "income_band"
        case newcomer, disability
        case racialOrEthnicGroup = "racial_ethnic_group"
        case consentEvaluationUse = "consent_evaluation_use"
        case receivedAt = "received_at"
        case acceptedAt = "accepted_at"
        case firstContactAt = "first_contact_at"
        case connectedAt = "connected_at"
        case closedAt = "closed_at"
        case closureOutcome = "closure_outcome"
        case closureReason = "closure_reason"
        case connectionCount = "connection_count"
        case connectedResourceKind = "connected_resource_kind"
        case connectedCategories = "connected_categories"
        case updatedAt = "updated_at"
        case contactsLogged = "contacts_logged"
        case contactsReached = "contacts_reached"
        case contactMinutes = "contact_minutes"
        case goalIDs = "goal_ids"
        case goalStartProgress = "goal_start_progress"
        case goalProgress = "goal_progress"
    }

    static let columns = CodingKeys.allCases.map(\.rawValue)

    /// The values of `columns`, in their order, for a bulk COPY.
    var columnValues: [(any PostgresEncodable)?] {
        CodingKeys.allCases.map { key -> (any PostgresEncodable)? in
            switch key {
            case .referralID: return referralID
            case .pathwayVersion: return pathwayVersion
            case .clientID: return clientID
            case .site: return site
            case .referrerID: return referrerID
            case .referrerRole: return referrerRole
            case .needs: return needs
            case .supportLevel: return supportLevel
            case .priority: return priority
            case .status: return status
            case .ageBand: return ageBand
            case .area: return area
            case .language: return language
            case .gender: return gender
            case .incomeBand: return incomeBand
            case .newcomer: return newcomer
            case .disability: return disability
            case .racialOrEthnicGroup: return racialOrEthnicGroup
            case .consentEvaluationUse: return consentEvaluationUse
            case .receivedAt: return receivedAt
            case .acceptedAt: return acceptedAt
            case .firstContactAt: return firstContactAt
            case .connectedAt: return connectedAt
            case .closedAt: return closedAt
            case .closureOutcome: return closureOutcome
            case .closureReason: return closureReason
            case .connectionCount: return connectionCount
            case .connectedResourceKind: return connectedResourceKind
            case .connectedCategories: return connectedCategories
            case .updatedAt: return updatedAt
            case .contactsLogged: return contactsLogged
            case .contactsReached: return contactsReached
            case .contactMinutes: return contactMinutes
            case .goalIDs: return goalIDs
            case .goalStartProgress: return goalStartProgress
            case .goalProgress: return goalProgress
            }
        }
    }

    /// The latest change wins whatever order the topics were read in.
    mutating func touch(_ time: Date) {
        updatedAt = max(updatedAt, time)
    }

    /// Forgets the sociodemographics (consent withdrawn).
    mutating func withholdSociodemographics() {
        ageBand = nil
        area = nil
        language = nil
        gender = nil
        incomeBand = nil
        newcomer = nil
        disability = nil
        racialOrEthnicGroup = nil
    }

    /// A goal's progress now; its progress when set is kept from the first time it is seen.
    mutating func recordGoal(_ id: UUID, start: GoalProgress, now: GoalProgress) {
        let key = id.uuidString.lowercased()
        if let index = goalIDs.firstIndex(of: key) {
            goalProgress[index] = now.rawValue
        } else {
            goalIDs.append(key)
            goalStartProgress.append(start.rawValue)
            goalProgress.append(now.rawValue)
        }
    }

    mutating func keep(_ answers: Sociodemographics?) {
        func yesNo(_ flag: Bool?) -> String? { flag.map { $0 ? "yes" : "no" } }
        gender = answers?.gender?.rawValue
        incomeBand = answers?.incomeBand?.rawValue
        newcomer = yesNo(answers?.newcomer)
        disability = yesNo(answers?.disability)
        racialOrEthnicGroup = answers?.racialOrEthnicGroup?.rawValue
    }
}

/// A need nobody in the catalogue could meet, by category and area.
public struct UnmetNeedRecord: Codable, Sendable, Equatable {
    public var referralID: UUID
    public var category: String
    public var site: String
    public var area: String?
    public var recordedAt: Date

    enum CodingKeys: String, CodingKey, CaseIterable {
        case referralID = "referral_id"
        case category, site, area
        case recordedAt = "recorded_at"
    }

    static let columns = CodingKeys.allCases.map(\.rawValue)

    /// The values of `columns`, in their order, for a bulk COPY.
    var columnValues: [(any PostgresEncodable)?] {
        CodingKeys.allCases.map { key -> (any PostgresEncodable)? in
            switch key {
            case .referralID: return referralID
            case .category: return category
            case .site: return site
            case .area: return area
            case .recordedAt: return recordedAt
            }
        }
    }
}

/// Everything the projection holds about one referral.
public struct PathwayState: Sendable, Equatable {
    public var pathway: PathwayRecord?
    public var unmetNeeds: [UnmetNeedRecord] = []
    /// Set by an erasure: nothing may be kept, and outcome answers go too. Only a signal to
    /// whoever stores the state; later events start again from nothing, as on a deleted row.
    public var erased = false

    public init(pathway: PathwayRecord? = nil, unmetNeeds: [UnmetNeedRecord] = [], erased: Bool = false) {
        self.pathway = pathway
        self.unmetNeeds = unmetNeeds
        self.erased = erased
    }
}

/// The events the projection reads, decoded once. Live consumption and the rebuild apply
/// them with the same `apply`, so a rebuilt projection equals the live one. Fields read from the
/// matching topic never depend on the order of the referrals topic's events, only on the pathway
/// being there, which it is: matching acts on referrals it has read, and the rebuild reads the
/// referrals topic first.
public enum ProjectionEvent: Sendable {
    case received(ReferralReceivedV1)
    case statusChanged(ReferralStatusChangedV1)
    case connectionProposed(ConnectionProposedV1)
    case connectionChanged(ConnectionChangedV1)
    case needUnmet(NeedUnmetV1)
    case consentChanged(ClientConsentChangedV1)
    case erased(ClientErasedV1)
    case contactLogged(ContactLoggedV1)
    case goalSet(GoalSetV1)
    case goalReviewed(GoalReviewedV1)
    case supportLevelChanged(SupportLevelChangedV1)

    /// The event types read; every other type is skipped.
    public static let eventTypes: Set<String> = [
        ReferralReceivedV1.eventType, ReferralStatusChangedV1.eventType, ConnectionProposedV1.eventType, ConnectionChangedV1.eventType,
        NeedUnmetV1.eventType, ClientConsentChangedV1.eventType, ClientErasedV1.eventType, ContactLoggedV1.eventType, GoalSetV1.eventType,
        GoalReviewedV1.eventType, SupportLevelChangedV1.eventType,
    ]

    /// `nil` for an event type the projection does not read; throws when the body does not
    /// decode as its type (a permanent failure).
    public init?(_ event: CloudEvent) throws {
        switch event.type {
        case ReferralReceivedV1.eventType: self = .received(try event.decode(ReferralReceivedV1.self))
        case ReferralStatusChangedV1.eventType: self = .statusChanged(try event.decode(ReferralStatusChangedV1.self))
        case ConnectionProposedV1.eventType: self = .connectionProposed(try event.decode(ConnectionProposedV1.self))
        case ConnectionChangedV1.eventType: self = .connectionChanged(try event.decode(ConnectionChangedV1.self))
        case NeedUnmetV1.eventType: self = .needUnmet(try event.decode(NeedUnmetV1.self))
        case ClientConsentChangedV1.eventType: self = .consentChanged(try event.decode(ClientConsentChangedV1.self))
        case ClientErasedV1.eventType: self = .erased(try event.decode(ClientErasedV1.self))
        case ContactLoggedV1.eventType: self = .contactLogged(try event.decode(ContactLoggedV1.self))
        case GoalSetV1.eventType: self = .goalSet(try event.decode(GoalSetV1.self))
        case GoalReviewedV1.eventType: self = .goalReviewed(try event.decode(GoalReviewedV1.self))
        case SupportLevelChangedV1.eventType: self = .supportLevelChanged(try event.decode(SupportLevelChangedV1.self))
        default: return nil
        }
    }

    public var referralID: UUID {
        switch self {
        case .received(let e): e.referralID
        case .statusChanged(let e): e.referralID
        case .connectionProposed(let e): e.referralID
        case .connectionChanged(let e): e.referralID
        case .needUnmet(let e): e.referralID
        case .consentChanged(let e): e.referralID
        case .erased(let e): e.referralID
        case .contactLogged(let e): e.referralID
        case .goalSet(let e): e.referralID
        case .goalReviewed(let e): e.referralID
        case .supportLevelChanged(let e): e.referralID
        }
    }

    /// Whether the change it makes goes to the analyst stream: casework counts are reported in
    /// aggregate only, and a contact's time must not move what analysts see of the pathway.
    var reachesAnalysts: Bool {
        switch self {
        case .contactLogged, .goalSet, .goalReviewed: false
        default: true
        }
    }

    /// Whether applying needs the referral's unmet needs (the others leave them alone).
    var touchesUnmetNeeds: Bool {
        switch self {
        case .needUnmet, .erased: true
        default: false
        }
    }

    /// Applies the event. Status events older than the version already applied are ignored
    /// (redelivery can reorder them); events about a pathway not (or no longer) held change nothing.
    public func apply(to state: inout PathwayState) {
        switch self {
        case .received(let referral):
            guard state.pathway == nil else { return }
            var record = PathwayRecord(
                referralID: referral.referralID, pathwayVersion: referral.referralVersion, clientID: referral.clientID, site: referral.site,
                referrerID: referral.referrerID, referrerRole: referral.referrerRole, needs: referral.needs, supportLevel: referral.supportLevel,
                priority: referral.priority, status: ReferralStatus.received.rawValue, ageBand: referral.ageBand, area: referral.postalArea,
                language: referral.preferredLanguage, consentEvaluationUse: referral.consent.evaluationUse, receivedAt: referral.receivedAt,
                connectionCount: 0, updatedAt: referral.receivedAt)
            record.keep(referral.sociodemographics)
            if !referral.consent.evaluationUse { record.withholdSociodemographics() }
            state.pathway = record
        case .statusChanged(let change):
            guard var record = state.pathway, record.pathwayVersion < change.referralVersion else { return }
            record.status = change.to
            record.pathwayVersion = change.referralVersion
            if change.to == ReferralStatus.accepted.rawValue, record.acceptedAt == nil { record.acceptedAt = change.changedAt }
            if change.to == ReferralStatus.inProgress.rawValue, record.firstContactAt == nil { record.firstContactAt = change.changedAt }
            if ReferralStatus(rawValue: change.to)?.isTerminal == true {
                record.closedAt = change.changedAt
                record.closureOutcome = change.outcome
                record.closureReason = change.reason
            }
            record.touch(change.changedAt)
            state.pathway = record
        case .connectionProposed(let proposed):
            guard var record = state.pathway else { return }
            record.connectionCount += 1
            record.connectedResourceKind = proposed.resourceKind
            record.connectedCategories = proposed.categories
            record.touch(proposed.proposedAt)
            state.pathway = record
        case .connectionChanged(let changed):
            guard changed.to == ConnectionStatus.enrolled.rawValue, var record = state.pathway, record.connectedAt == nil else { return }
            record.connectedAt = changed.changedAt
            record.touch(changed.changedAt)
            state.pathway = record
        case .needUnmet(let unmet):
            // Matching reports unmet needs of referrals it has read, so the pathway is held
            // unless the client was erased since (then nothing may be kept).
            guard state.pathway != nil else { return }
            for category in unmet.categories where !state.unmetNeeds.contains(where: { $0.category == category }) {
                state.unmetNeeds.append(
                    UnmetNeedRecord(referralID: unmet.referralID, category: category, site: unmet.site, area: unmet.area, recordedAt: unmet.recordedAt))
            }
        case .consentChanged(let change):
            guard var record = state.pathway else { return }
            record.consentEvaluationUse = change.consent.evaluationUse
            if !change.consent.evaluationUse { record.withholdSociodemographics() }
            record.touch(change.changedAt)
            state.pathway = record
        case .erased:
            state = PathwayState(erased: true)
        // Casework moves the referral's version as status changes do: an event already applied
        // (a redelivery, a replay) changes nothing; one about a pathway not (or no longer) held,
        // e.g. an erased client's, is dropped.
        case .contactLogged(let contact):
            guard var record = state.pathway, record.pathwayVersion < contact.referralVersion else { return }
            record.pathwayVersion = contact.referralVersion
            record.contactsLogged += 1
            if contact.reached { record.contactsReached += 1 }
            record.contactMinutes += max(0, contact.minutes)
            state.pathway = record
        case .goalSet(let goal):
            guard var record = state.pathway, record.pathwayVersion < goal.referralVersion else { return }
            record.pathwayVersion = goal.referralVersion
            record.recordGoal(goal.goalID, start: goal.progress, now: goal.progress)
            state.pathway = record
        case .goalReviewed(let review):
            guard var record = state.pathway, record.pathwayVersion < review.referralVersion else { return }
            record.pathwayVersion = review.referralVersion
            // A goal reviewed but never seen set (set before evaluation read the topic) starts
            // where the review says it was.
            record.recordGoal(review.goalID, start: review.previousProgress, now: review.progress)
            state.pathway = record
        case .supportLevelChanged(let change):
            guard var record = state.pathway, record.pathwayVersion < change.referralVersion else { return }
            record.pathwayVersion = change.referralVersion
            record.supportLevel = change.to.rawValue
            record.touch(change.changedAt)
            state.pathway = record
        }
    }
}

import Domain
import Foundation

/// `passerelle.referral.assigned.v1`: a link worker owns the referral's follow-up.
public struct ReferralAssignedV1: EventPayload {
    public static let eventType = "passerelle.referral.assigned.v1"
    public static let topic = TopicName.matching

    public var referralID: UUID
    public var referralVersion: Int
    public var linkWorkerID: UUID
    public var site: String
    public var priority: String
    public var assignedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, referralVersion: Int, linkWorkerID: UUID, site: String, priority: String, assignedAt: Date) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.linkWorkerID = linkWorkerID
        self.site = site
        self.priority = priority
        self.assignedAt = assignedAt
    }
}

public struct ProposedMatch: Codable, Sendable, Equatable {
    public var resourceID: UUID
    public var rank: Int
    public var score: Double
    public var resourceKind: String
    public var categories: [String]
    public var reasons: [String]

    public init(resourceID: UUID, rank: Int, score: Double, resourceKind: String, categories: [String], reasons: [String]) {
        self.resourceID = resourceID
        self.rank = rank
        self.score = score
        self.resourceKind = resourceKind
        self.categories = categories
        self.reasons = reasons
    }
}

/// `passerelle.matches.proposed.v1`: ranked, explained community resources for a referral.
public struct MatchesProposedV1: EventPayload {
    public static let eventType = "passerelle.matches.proposed.v1"
    public static let topic = TopicName.matching

    public var referralID: UUID
    public var referralVersion: Int
    public var matches: [ProposedMatch]
    public var proposedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, referralVersion: Int, matches: [ProposedMatch], proposedAt: Date) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.matches = matches
        self.proposedAt = proposedAt
    }
}

/// `passerelle.need.unmet.v1`: nothing in the catalogue fits a need (commissioners see gaps).
public struct NeedUnmetV1: EventPayload {
    public static let eventType = "passerelle.need.unmet.v1"
    public static let topic = TopicName.matching

    public var referralID: UUID
    public var referralVersion: Int
    public var site: String
    public var categories: [String]
    public var reason: String
    public var area: String?
    public var recordedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, referralVersion: Int, site: String, categories: [String], reason: String, area: String?, recordedAt: Date) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.site = site
        self.categories = categories
        self.reason = reason
        self.area = area
        self.recordedAt = recordedAt
    }
}

/// `passerelle.connection.proposed.v1`: a seat was reserved for the client at a resource.
public struct ConnectionProposedV1: EventPayload {
    public static let eventType = "passerelle.connection.proposed.v1"
    public static let topic = TopicName.matching

    public var connectionID: UUID
    public var referralID: UUID
    public var referralVersion: Int
    public var resourceID: UUID
    public var resourceKind: String
    public var categories: [String]
    /// What the client is told: the resource's name, where and when (optional; older events lack them).
    public var resourceName: String?
    public var address: String?
    public var schedule: String?
    public var proposedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        connectionID: UUID, referralID: UUID, referralVersion: Int, resourceID: UUID, resourceKind: String, categories: [String],
        resourceName: String? = nil, address: String? = nil, schedule: String? = nil, proposedAt: Date
    ) {
        self.connectionID = connectionID
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.resourceID = resourceID
        self.resourceKind = resourceKind
        self.categories = categories
        self.resourceName = resourceName
        self.address = address
        self.schedule = schedule
        self.proposedAt = proposedAt
    }
}

/// `passerelle.connection.changed.v1`: accepted, enrolled, attended, dropped or declined.
public struct ConnectionChangedV1: EventPayload {
    public static let eventType = "passerelle.connection.changed.v1"
    public static let topic = TopicName.matching

    public var connectionID: UUID
    public var referralID: UUID
    public var referralVersion: Int
    public var resourceID: UUID
    public var from: String
    public var to: String
    /// A code (`EventCode`); absent when a link worker wrote the reason in words (the words stay
    /// in matching's schema).
    public var reason: String?
    /// The resource's name, kind and need categories (optional; older events lack them).
    public var resourceName: String?
    public var resourceKind: String?
    public var categories: [String]?
    public var changedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        connectionID: UUID, referralID: UUID, referralVersion: Int, resourceID: UUID, from: String, to: String, reason: String?,
        resourceName: String? = nil, resourceKind: String? = nil, categories: [String]? = nil, changedAt: Date
    ) {
        self.connectionID = connectionID
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.resourceID = resourceID
        self.from = from
        self.to = to
        self.reason = EventCode.code(reason)
        self.resourceName = resourceName
        self.resourceKind = resourceKind
        self.categories = categories
        self.changedAt = changedAt
    }
}

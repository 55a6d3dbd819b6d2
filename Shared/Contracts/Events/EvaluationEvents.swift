import Foundation

/// `passerelle.pathway.updated.v1` on the analyst topic: one referral pathway, de-identified.
/// Only for clients who consented to evaluation use. No ids (keyed-HMAC pseudonyms instead),
/// no names, contacts, birth dates, addresses or free text. Every time is the start of its week
/// (Monday 00:00 in the network's time zone), and the area, language and age band are left out
/// when too few clients share them (see the evaluation service's `QuasiIdentifiers`).
public struct PathwayUpdatedV1: EventPayload {
    public static let eventType = "passerelle.pathway.updated.v1"
    public static let topic = TopicName.evaluation

    /// HMAC-SHA256 of the referral id under the deployment's key.
    public var pathway: String
    /// HMAC-SHA256 of the client id under the deployment's key.
    public var client: String
    public var pathwayVersion: Int
    public var site: String
    public var referrerRole: String
    public var needs: [String]
    public var supportLevel: String
    public var priority: String
    public var status: String
    public var ageBand: String?
    public var area: String?
    public var language: String?
    public var receivedAt: Date
    public var acceptedAt: Date?
    public var firstContactAt: Date?
    public var connectedAt: Date?
    public var closedAt: Date?
    public var connectionCount: Int
    public var closureOutcome: String?
    public var updatedAt: Date

    public var subject: String { pathway }

    public init(
        pathway: String, client: String, pathwayVersion: Int, site: String, referrerRole: String, needs: [String], supportLevel: String,
        priority: String, status: String, ageBand: String?, area: String?, language: String?, receivedAt: Date, acceptedAt: Date?,
        firstContactAt: Date?, connectedAt: Date?, closedAt: Date?, connectionCount: Int, closureOutcome: String?, updatedAt: Date
    ) {
        self.pathway = pathway
        self.client = client
        self.pathwayVersion = pathwayVersion
        self.site = site
        self.referrerRole = referrerRole
        self.needs = needs
        self.supportLevel = supportLevel
        self.priority = priority
        self.status = status
        self.ageBand = ageBand
        self.area = area
        self.language = language
        self.receivedAt = receivedAt
        self.acceptedAt = acceptedAt
        self.firstContactAt = firstContactAt
        self.connectedAt = connectedAt
        self.closedAt = closedAt
        self.connectionCount = connectionCount
        self.closureOutcome = closureOutcome
        self.updatedAt = updatedAt
    }
}

/// `passerelle.outcome.recorded.v1` on the analyst topic: a scored outcome measure, recorded in
/// the week `recordedAt` starts.
public struct OutcomeRecordedV1: EventPayload {
    public static let eventType = "passerelle.outcome.recorded.v1"
    public static let topic = TopicName.evaluation

    public var pathway: String
    public var client: String
    public var site: String
    public var instrument: String
    public var timepoint: String
    public var scores: [String: Double]
    public var recordedAt: Date

    public var subject: String { pathway }

    public init(pathway: String, client: String, site: String, instrument: String, timepoint: String, scores: [String: Double], recordedAt: Date) {
        self.pathway = pathway
        self.client = client
        self.site = site
        self.instrument = instrument
        self.timepoint = timepoint
        self.scores = scores
        self.recordedAt = recordedAt
    }
}

/// `passerelle.pathway.retracted.v1` on the analyst topic: the client was erased; analysts drop
/// everything they hold under this pathway pseudonym (its updates and outcome measures).
public struct PathwayRetractedV1: EventPayload {
    public static let eventType = "passerelle.pathway.retracted.v1"
    public static let topic = TopicName.evaluation

    public var pathway: String

    public var subject: String { pathway }

    public init(pathway: String) {
        self.pathway = pathway
    }
}

/// Every event type, for schema checks and routing tables.
public enum EventCatalogue {
    public static let payloadTypes: [any EventPayload.Type] = [
        ReferralReceivedV1.self, ReferralStatusChangedV1.self, ClientConsentChangedV1.self, ClientErasedV1.self,
        ClientProfileV1.self, ReferralAssignedV1.self, MatchesProposedV1.self, NeedUnmetV1.self,
        ConnectionProposedV1.self, ConnectionChangedV1.self, NotificationSentV1.self, NotificationFailedV1.self,
        PathwayUpdatedV1.self, OutcomeRecordedV1.self, PathwayRetractedV1.self, ContactLoggedV1.self, GoalSetV1.self, GoalReviewedV1.self,
        ReferralOverdueV1.self, SupportLevelChangedV1.self,
    ]
}

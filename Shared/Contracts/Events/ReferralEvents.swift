import Domain
import Foundation

/// `passerelle.referral.received.v1`: a referral entered the loop. Thin: what matching and
/// notification need and no more (no name, no contact, no birth date, no address).
public struct ReferralReceivedV1: EventPayload {
    public static let eventType = "passerelle.referral.received.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var referralVersion: Int
    public var clientID: UUID
    public var site: String
    public var referrerID: String
    public var referrerRole: String
    public var needs: [String]
    public var interests: [String]
    public var supportLevel: String
    public var priority: String
    public var preferredLanguage: String
    /// First three characters of the postal code.
    public var postalArea: String?
    /// The client's location snapped to a 0.01° grid (`Coordinates.gridCell`, about 1 km): enough
    /// to rank resources by distance, never an address.
    public var coordinates: Coordinates?
    public var ageBand: String
    /// Codes only (`wheelchair-access`, …); what the referrer wrote in words stays in intake.
    public var accessibilityNeeds: [String]
    public var preferredChannel: String
    /// The client's consent as recorded (a second referral does not reset it; it may only narrow
    /// contact for itself).
    public var consent: Consent
    /// Only when the client consented to evaluation use; evaluation keeps it for equity analysis.
    public var sociodemographics: Sociodemographics?
    public var receivedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        referralID: UUID, referralVersion: Int, clientID: UUID, site: String, referrerID: String, referrerRole: String,
        needs: [String], interests: [String], supportLevel: String, priority: String, preferredLanguage: String,
        postalArea: String?, coordinates: Coordinates?, ageBand: String, accessibilityNeeds: [String], preferredChannel: String,
        consent: Consent, sociodemographics: Sociodemographics? = nil, receivedAt: Date
    ) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.clientID = clientID
        self.site = site
        self.referrerID = referrerID
        self.referrerRole = referrerRole
        self.needs = needs
        self.interests = interests
        self.supportLevel = supportLevel
        self.priority = priority
        self.preferredLanguage = preferredLanguage
        self.postalArea = postalArea
        // Enforced here, so no caller can publish more than the contract allows.
        self.coordinates = coordinates?.gridCell
        self.ageBand = ageBand
        self.accessibilityNeeds = accessibilityNeeds.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter(EventCode.isCode)
        self.preferredChannel = preferredChannel
        self.consent = consent
        self.sociodemographics = consent.evaluationUse ? sociodemographics : nil
        self.receivedAt = receivedAt
    }
}

/// `passerelle.referral.status-changed.v1`: one step of the closed loop.
public struct ReferralStatusChangedV1: EventPayload {
    public static let eventType = "passerelle.referral.status-changed.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var referralVersion: Int
    public var site: String
    public var from: String
    public var to: String
    public var action: String
    public var actorRole: String
    public var actorID: String?
    /// A code (`EventCode`): the reason or outcome when it was given as one; absent when a
    /// person wrote it in words (the words stay in intake's history).
    public var reason: String?
    public var outcome: String?
    public var changedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        referralID: UUID, referralVersion: Int, site: String, from: String, to: String, action: String, actorRole: String, actorID: String?, reason: String?,
        outcome: String?, changedAt: Date
    ) {
        self.referralID = referralID
        self.referralVersion = referralVersion
        self.site = site
        self.from = from
        self.to = to
        self.action = action
        self.actorRole = actorRole
        self.actorID = actorID
        self.reason = EventCode.code(reason)
        self.outcome = EventCode.code(outcome)
        self.changedAt = changedAt
    }
}

/// `passerelle.client.consent-changed.v1`, on the referrals topic keyed by each of the
/// client's referrals, so it is ordered with their other events.
public struct ClientConsentChangedV1: EventPayload {
    public static let eventType = "passerelle.client.consent-changed.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var clientID: UUID
    public var clientVersion: Int
    public var consent: Consent
    public var changedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, clientID: UUID, clientVersion: Int, consent: Consent, changedAt: Date) {
        self.referralID = referralID
        self.clientID = clientID
        self.clientVersion = clientVersion
        self.consent = consent
        self.changedAt = changedAt
    }
}

/// `passerelle.client.erased.v1`: downstream services drop what they hold about the client's referral.
public struct ClientErasedV1: EventPayload {
    public static let eventType = "passerelle.client.erased.v1"
    public static let topic = TopicName.referrals

    public var referralID: UUID
    public var clientID: UUID
    public var erasedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(referralID: UUID, clientID: UUID, erasedAt: Date) {
        self.referralID = referralID
        self.clientID = clientID
        self.erasedAt = erasedAt
    }
}

/// `passerelle.client.profile.v1` on the compacted clients topic: the latest identity and
/// contact of a client. Read by notification alone; erased by a tombstone.
public struct ClientProfileV1: EventPayload {
    public static let eventType = "passerelle.client.profile.v1"
    public static let topic = TopicName.clients

    public var clientID: UUID
    public var clientVersion: Int
    public var givenName: String
    public var familyName: String
    public var phone: String?
    public var email: String?
    public var preferredLanguage: String
    public var preferredChannel: String
    public var consent: Consent
    public var updatedAt: Date

    public var subject: String { clientID.uuidString.lowercased() }

    public init(
        clientID: UUID, clientVersion: Int, givenName: String, familyName: String, phone: String?, email: String?, preferredLanguage: String,
        preferredChannel: String, consent: Consent, updatedAt: Date
    ) {
        self.clientID = clientID
        self.clientVersion = clientVersion
        self.givenName = givenName
        self.familyName = familyName
        self.phone = phone
        self.email = email
        self.preferredLanguage = preferredLanguage
        self.preferredChannel = preferredChannel
        self.consent = consent
        self.updatedAt = updatedAt
    }
}

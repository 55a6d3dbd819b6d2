import Foundation

/// `passerelle.notification.sent.v1`: a message left Passerelle (gateway accepted it).
public struct NotificationSentV1: EventPayload {
    public static let eventType = "passerelle.notification.sent.v1"
    public static let topic = TopicName.notifications

    public var notificationID: UUID
    public var referralID: UUID
    public var sourceEventID: UUID
    /// `link-worker`, `client`, `referrer` or `partner`.
    public var recipientKind: String
    public var channel: String
    public var template: String
    public var language: String
    public var attempts: Int
    public var sentAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        notificationID: UUID, referralID: UUID, sourceEventID: UUID, recipientKind: String, channel: String, template: String, language: String, attempts: Int,
        sentAt: Date
    ) {
        self.notificationID = notificationID
        self.referralID = referralID
        self.sourceEventID = sourceEventID
        self.recipientKind = recipientKind
        self.channel = channel
        self.template = template
        self.language = language
        self.attempts = attempts
        self.sentAt = sentAt
    }
}

/// `passerelle.notification.failed.v1`: every attempt failed, or the failure was permanent.
public struct NotificationFailedV1: EventPayload {
    public static let eventType = "passerelle.notification.failed.v1"
    public static let topic = TopicName.notifications

    public var notificationID: UUID
    public var referralID: UUID
    public var sourceEventID: UUID
    public var recipientKind: String
    public var channel: String
    public var template: String
    public var attempts: Int
    public var error: String
    public var permanent: Bool
    public var failedAt: Date

    public var subject: String { referralID.uuidString.lowercased() }

    public init(
        notificationID: UUID, referralID: UUID, sourceEventID: UUID, recipientKind: String, channel: String, template: String, attempts: Int, error: String,
        permanent: Bool, failedAt: Date
    ) {
        self.notificationID = notificationID
        self.referralID = referralID
        self.sourceEventID = sourceEventID
        self.recipientKind = recipientKind
        self.channel = channel
        self.template = template
        self.attempts = attempts
        self.error = error
        self.permanent = permanent
        self.failedAt = failedAt
    }
}

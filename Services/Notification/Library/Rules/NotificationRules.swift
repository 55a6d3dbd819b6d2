import Domain

/// Who a notification is for.
public enum RecipientKind: String, Codable, Sendable, CaseIterable {
    case linkWorker = "link-worker"
    case client
    case referrer
    case partner
    /// A coordinator of the referral's site (registered per site).
    case coordinator
}

/// What happened to a referral, as far as telling people goes.
public enum Occasion: Sendable, Equatable {
    case assigned
    case referralStatus(ReferralStatus)
    case connectionProposed
    case connectionStatus(ConnectionStatus)
    /// A follow-up step of the referral passed its time (`referral.overdue`, level overdue).
    case followUpOverdue
    /// The same step passed its escalation time (level escalated).
    case followUpEscalated
}

/// One rule: on this occasion, tell this recipient with this template.
public struct NotificationRule: Sendable {
    public var occasion: @Sendable (Occasion) -> Bool
    public var recipient: RecipientKind
    public var template: TemplateKey
}

/// Every rule in one place. Consent, language, channel and quiet hours are applied to what
/// these rules produce (`NotificationPlanner`, `DeliveryLoop`), not here.
public enum NotificationRules {
    public static let all: [NotificationRule] = [
        // The link worker: a new item in their inbox (the template flags urgent ones).
        NotificationRule(occasion: { $0 == .assigned }, recipient: .linkWorker, template: .referralAssigned),
        // The client: who will call them, what is proposed, that they are enrolled.
        NotificationRule(occasion: { $0 == .referralStatus(.accepted) }, recipient: .client, template: .clientReferralAccepted),
        NotificationRule(occasion: { $0 == .connectionProposed }, recipient: .client, template: .clientConnectionProposed),
        NotificationRule(occasion: { $0 == .connectionStatus(.enrolled) }, recipient: .client, template: .clientEnrolled),
        // The referrer: the loop back to the clinician.
        NotificationRule(occasion: { $0 == .referralStatus(.accepted) }, recipient: .referrer, template: .referrerReferralAccepted),
        NotificationRule(occasion: { $0 == .connectionStatus(.enrolled) }, recipient: .referrer, template: .referrerConnected),
        NotificationRule(
            occasion: { if case .referralStatus(let status) = $0 { return status.isTerminal } else { return false } },
            recipient: .referrer, template: .referrerReferralClosed),
        // The community partner or Health Champion lead: a new participant.
        NotificationRule(occasion: { $0 == .connectionStatus(.enrolled) }, recipient: .partner, template: .partnerParticipantEnrolled),
        // Follow-up clocks: the owning link worker is nudged first; past the escalation time the
        // site's coordinators are told, so a referral nobody follows up does not go unseen.
        NotificationRule(occasion: { $0 == .followUpOverdue }, recipient: .linkWorker, template: .linkWorkerFollowUpOverdue),
        NotificationRule(occasion: { $0 == .followUpEscalated }, recipient: .coordinator, template: .coordinatorFollowUpEscalated),
    ]

    public static func rules(for occasion: Occasion) -> [NotificationRule] {
        all.filter { $0.occasion(occasion) }
    }
}

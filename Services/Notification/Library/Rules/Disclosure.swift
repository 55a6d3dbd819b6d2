import Domain

/// What each kind of recipient may learn about the client, decided once, by the purpose for
/// which they are told anything at all (the minimum necessary):
///
/// - the client: addressed by their own first name; nothing else about them is needed.
/// - a partner (a community resource welcoming a participant): the first name and the contact
///   details to reach them — only if the client consented to sharing with partners; without it
///   the partner is not told at all.
/// - a referrer: the referral's reference, its status and coded reasons; nothing identifying
///   beyond what they sent (they know whom they referred).
/// - a link worker: the reference; the client's identity is in the console, behind access
///   control and the audit log, not in a message that may be forwarded.
/// - a coordinator (told of a follow-up past its escalation time): the reference, the step and
///   its due date; never the client's name or contact — they act through the console.
///
/// Templates can only use the variables their message declares (`TemplateKey.variables`); the
/// variables below are the only ones that carry the client's identity or contact, and a test
/// checks that no template sent to a recipient kind declares one this rule does not give it.
enum Disclosure {
    enum Decision: Sendable, Equatable {
        /// Template variables about the client for this recipient.
        case disclose([String: TemplateValue])
        case withhold(String)
    }

    /// The client-identifying variables each recipient kind may be given.
    static let personalVariables: [RecipientKind: Set<String>] = [
        .client: ["recipientName"],
        .partner: ["participantFirstName", "participantPhone", "participantEmail"],
        .referrer: [],
        .linkWorker: [],
        .coordinator: [],
    ]

    /// Every variable that may identify or reach the client, whoever it is for.
    static var identifying: Set<String> { ["participantFirstName", "participantPhone", "participantEmail"] }

    static func about(_ client: ClaimedNotification.ClientContact, to recipient: RecipientKind) -> Decision {
        switch recipient {
        case .client:
            return .disclose(["recipientName": .text(client.givenName)])
        case .partner:
            guard client.consentShareWithPartners else { return .withhold("the client withdrew consent to sharing with partners before sending") }
            return .disclose([
                "participantFirstName": .text(client.givenName), "participantPhone": .text(client.phone ?? ""),
                "participantEmail": .text(client.email ?? ""),
            ])
        case .referrer, .linkWorker, .coordinator:
            return .disclose([:])
        }
    }
}

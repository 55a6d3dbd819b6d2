import Domain
import Foundation
import PostgresClient

/// A step of a referral's pathway that falls due at a time: the first contact after a link
/// worker accepts it, each follow-up after the work starts, the review of a long hold.
enum FollowUpStep: Sendable, Hashable, CustomStringConvertible {
    case firstContact
    case followUp(weeks: Int)
    case holdReview

    var description: String {
        switch self {
        case .firstContact: return "first-contact"
        case .followUp(let weeks): return "follow-up-\(weeks)w"
        case .holdReview: return "hold-review"
        }
    }

    init?(_ text: String) {
        switch text {
        case "first-contact": self = .firstContact
        case "hold-review": self = .holdReview
        default:
            guard text.hasPrefix("follow-up-"), text.hasSuffix("w"), let weeks = Int(text.dropFirst("follow-up-".count).dropLast()), weeks > 0 else {
                return nil
            }
            self = .followUp(weeks: weeks)
        }
    }

    /// How long before a follow-up's due time a contact with the client counts for it.
    static let followUpWindow: TimeInterval = 14 * 86_400
}

/// How the referral's steps move with what happens to it: opened when the pathway reaches
/// them, met by the contact or transition they wait for, closed when the pathway no longer
/// needs them. Runs in the transaction of the change, on the referral's locked row.
enum FollowUpSteps {
    static func open(_ step: FollowUpStep, referral: UUID, from start: Date, policy: FollowUpPolicy, on session: borrowing PostgresSession) throws {
        let (due, escalate) = policy.due(step, from: start)
        // A step opened again (a second hold) is a new due step with clocks of its own.
        try session.execute(
            """
            INSERT INTO follow_up_step (referral_id, step, opened_at, due_at, escalate_at)
            VALUES (\(referral)::uuid, \(step.description), \(start)::timestamptz, \(due)::timestamptz, \(escalate)::timestamptz)
            ON CONFLICT (referral_id, step) DO UPDATE SET opened_at = excluded.opened_at, due_at = excluded.due_at,
                escalate_at = excluded.escalate_at, met_at = NULL, closed_at = NULL, overdue_at = NULL, escalated_at = NULL
            """)
    }

    /// The transition `action` moved the referral to `status` at `now`.
    static func follow(
        _ action: ReferralAction, to status: ReferralStatus, referral: UUID, site: String, at now: Date, on session: borrowing PostgresSession
    ) throws {
        let policy = try FollowUpPolicy.read(site: site, on: session)
        if status.isTerminal {
            try session.execute(
                "UPDATE follow_up_step SET closed_at = \(now)::timestamptz WHERE referral_id = \(referral)::uuid AND met_at IS NULL AND closed_at IS NULL")
            return
        }
        switch action {
        case .accept:
            try open(.firstContact, referral: referral, from: now, policy: policy, on: session)
        case .start:
            // In progress means the client was contacted: the first contact is met, if the
            // contact log has not met it already.
            try met(.firstContact, referral: referral, at: now, on: session)
            for weeks in policy.followUpWeeks {
                try open(.followUp(weeks: weeks), referral: referral, from: now, policy: policy, on: session)
            }
        case .hold:
            try open(.holdReview, referral: referral, from: now, policy: policy, on: session)
        case .resume:
            try met(.holdReview, referral: referral, at: now, on: session)
        default:
            break
        }
    }

    /// A contact was logged: any attempt to reach the client meets the first contact; a
    /// conversation with the client meets each follow-up whose window it falls in.
    static func contactLogged(party: ContactParty, reached: Bool, at occurred: Date, referral: UUID, on session: borrowing PostgresSession) throws {
        guard party == .client else { return }
        try met(.firstContact, referral: referral, at: occurred, on: session)
        guard reached else { return }
        try session.execute(
            """
            UPDATE follow_up_step SET met_at = \(occurred)::timestamptz
            WHERE referral_id = \(referral)::uuid AND step LIKE 'follow-up-%' AND met_at IS NULL AND closed_at IS NULL
              AND due_at - make_interval(secs => \(FollowUpStep.followUpWindow)) <= \(occurred)::timestamptz
            """)
    }

    private static func met(_ step: FollowUpStep, referral: UUID, at when: Date, on session: borrowing PostgresSession) throws {
        try session.execute(
            """
            UPDATE follow_up_step SET met_at = \(when)::timestamptz
            WHERE referral_id = \(referral)::uuid AND step = \(step.description) AND met_at IS NULL AND closed_at IS NULL
            """)
    }
}

import Contracts
import Domain
import Foundation
import Messaging
import PostgresClient

/// Keeps one row per referral pathway current from the events of every topic. Status events
/// older than the version already applied are ignored (redelivery can reorder them).
public enum PathwayProjection {
    public static func handlers() -> EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReferralReceivedV1.self) { referral, _, connection in
            try await connection.query("""
                INSERT INTO pathway (referral_id, pathway_version, client_id, site, referrer_role, needs, support_level, priority,
                    status, age_band, area, consent_evaluation_use, received_at)
                VALUES (\(referral.referralID)::uuid, \(referral.referralVersion), \(referral.clientID)::uuid, \(referral.site),
                    \(referral.referrerRole), \(referral.needs)::text[], \(referral.supportLevel), \(referral.priority), 'received',
                    \(referral.ageBand), \(referral.postalArea), \(referral.consent.evaluationUse), \(referral.receivedAt)::timestamptz)
                ON CONFLICT (referral_id) DO NOTHING
                """)
        }
        handlers.on(ReferralStatusChangedV1.self) { change, _, connection in
            let closing = ReferralStatus(rawValue: change.to)?.isTerminal == true
            try await connection.query("""
                UPDATE pathway SET status = \(change.to), pathway_version = \(change.referralVersion),
                    accepted_at = CASE WHEN \(change.to) = 'accepted' THEN coalesce(accepted_at, \(change.changedAt)::timestamptz) ELSE accepted_at END,
                    first_contact_at = CASE WHEN \(change.to) = 'in-progress' THEN coalesce(first_contact_at, \(change.changedAt)::timestamptz) ELSE first_contact_at END,
                    closed_at = CASE WHEN \(closing) THEN \(change.changedAt)::timestamptz ELSE closed_at END,
                    closure_outcome = CASE WHEN \(closing) THEN \(change.outcome) ELSE closure_outcome END,
                    closure_reason = CASE WHEN \(closing) THEN \(change.reason) ELSE closure_reason END
                WHERE referral_id = \(change.referralID)::uuid AND pathway_version < \(change.referralVersion)
                """)
        }
        handlers.on(ConnectionProposedV1.self) { proposed, _, connection in
            try await connection.query("""
                UPDATE pathway SET connection_count = connection_count + 1, connected_resource_kind = \(proposed.resourceKind)
                WHERE referral_id = \(proposed.referralID)::uuid
                """)
        }
        handlers.on(ConnectionChangedV1.self) { changed, _, connection in
            guard changed.to == ConnectionStatus.enrolled.rawValue else { return }
            try await connection.query("""
                UPDATE pathway SET connected_at = coalesce(connected_at, \(changed.changedAt)::timestamptz) WHERE referral_id = \(changed.referralID)::uuid
                """)
        }
        handlers.on(NeedUnmetV1.self) { unmet, _, connection in
            for category in unmet.categories {
                try await connection.query("""
                    INSERT INTO unmet_need (referral_id, category, site, area, recorded_at)
                    VALUES (\(unmet.referralID)::uuid, \(category), \(unmet.site), \(unmet.area), \(unmet.recordedAt)::timestamptz)
                    ON CONFLICT DO NOTHING
                    """)
            }
        }
        handlers.on(ClientConsentChangedV1.self) { change, _, connection in
            try await connection.query("UPDATE pathway SET consent_evaluation_use = \(change.consent.evaluationUse) WHERE referral_id = \(change.referralID)::uuid")
        }
        handlers.on(ClientErasedV1.self) { erased, _, connection in
            try await connection.query("DELETE FROM outcome_measure WHERE referral_id = \(erased.referralID)::uuid")
            try await connection.query("DELETE FROM pathway WHERE referral_id = \(erased.referralID)::uuid")
        }
        return handlers
    }
}

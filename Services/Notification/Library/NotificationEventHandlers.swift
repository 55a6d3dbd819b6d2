import Contracts
import Domain
import Foundation
import Messaging
import PostgresClient
import WireFormats

extension NotificationService {
    /// What each consumed event does: referrals and client profiles are kept as the audience of
    /// later messages, consent changes and erasures take effect at once, and each occasion
    /// (assignment, status change, connection) is planned into messages by the planner.
    static func eventHandlers(planner: NotificationPlanner) -> EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReferralReceivedV1.self) { referral, _, connection in
            try await planner.lock(referralID: referral.referralID, on: connection)
            // Nothing is kept for an erased client (a replay of the topic from its beginning).
            try await connection.execute(
                """
                INSERT INTO referral_audience (referral_id, referral_version, client_id, site, referrer_id, priority, preferred_language,
                    preferred_channel, consent_contact, consent_share_with_partners, received_at, needs)
                SELECT \(referral.referralID)::uuid, \(referral.referralVersion), \(referral.clientID)::uuid, \(referral.site),
                    \(referral.referrerID), \(referral.priority), \(referral.preferredLanguage), \(referral.preferredChannel),
                    \(referral.consent.contact), \(referral.consent.shareWithPartners), \(referral.receivedAt)::timestamptz, \(referral.needs)
                WHERE NOT EXISTS (SELECT 1 FROM erased_client WHERE client_id = \(referral.clientID)::uuid)
                ON CONFLICT (referral_id) DO UPDATE SET referral_version = EXCLUDED.referral_version,
                    consent_contact = EXCLUDED.consent_contact, consent_share_with_partners = EXCLUDED.consent_share_with_partners
                WHERE referral_audience.referral_version < EXCLUDED.referral_version
                """)
            try await planner.planParked(referralID: referral.referralID, on: connection)
        }
        handlers.on(ClientProfileV1.self) { profile, _, connection in
            try await connection.execute(
                """
                INSERT INTO client_contact (client_id, client_version, given_name, family_name, phone, email, preferred_language, preferred_channel,
                    consent_contact, consent_share_with_partners, updated_at)
                SELECT \(profile.clientID)::uuid, \(profile.clientVersion), \(profile.givenName), \(profile.familyName), \(profile.phone), \(profile.email),
                    \(profile.preferredLanguage), \(profile.preferredChannel), \(profile.consent.contact), \(profile.consent.shareWithPartners),
                    \(profile.updatedAt)::timestamptz
                -- A profile handled after the erasure (another topic, another lane) stays out.
                WHERE NOT EXISTS (SELECT 1 FROM erased_client WHERE client_id = \(profile.clientID)::uuid)
                ON CONFLICT (client_id) DO UPDATE SET client_version = EXCLUDED.client_version, given_name = EXCLUDED.given_name,
                    family_name = EXCLUDED.family_name, phone = EXCLUDED.phone, email = EXCLUDED.email, preferred_language = EXCLUDED.preferred_language,
                    preferred_channel = EXCLUDED.preferred_channel, consent_contact = EXCLUDED.consent_contact,
                    consent_share_with_partners = EXCLUDED.consent_share_with_partners, updated_at = EXCLUDED.updated_at
                WHERE client_contact.client_version < EXCLUDED.client_version
                """)
        }
        // Takes effect for every message not sent yet: sending re-reads consent.
        handlers.on(ClientConsentChangedV1.self) { change, _, connection in
            try await connection.execute(
                """
                UPDATE referral_audience SET consent_contact = \(change.consent.contact), consent_share_with_partners = \(change.consent.shareWithPartners)
                WHERE client_id = \(change.clientID)::uuid
                """)
            try await connection.execute(
                """
                UPDATE client_contact SET consent_contact = \(change.consent.contact), consent_share_with_partners = \(change.consent.shareWithPartners),
                    client_version = \(change.clientVersion)
                WHERE client_id = \(change.clientID)::uuid AND client_version <= \(change.clientVersion)
                """)
        }
        handlers.on(ClientErasedV1.self) { erased, _, connection in
            try await connection.execute(
                """
                UPDATE notification SET address = NULL, facts = '{}'::jsonb,
                    status = CASE WHEN status IN ('pending', 'deferred', 'sending') THEN 'withheld' ELSE status END,
                    last_error = CASE WHEN status IN ('pending', 'deferred', 'sending') THEN 'the client was erased' ELSE last_error END, updated_at = now()
                WHERE referral_id = \(erased.referralID)::uuid
                """)
            try await connection.execute("DELETE FROM referral_audience WHERE referral_id = \(erased.referralID)::uuid")
            // Remembered by id only, so an occasion arriving later is dropped rather than parked.
            try await connection.execute(
                """
                INSERT INTO erased_referral (referral_id, erased_at) VALUES (\(erased.referralID)::uuid, \(erased.erasedAt)::timestamptz)
                ON CONFLICT (referral_id) DO NOTHING
                """)
            try await connection.execute("DELETE FROM parked_occasion WHERE referral_id = \(erased.referralID)::uuid")
            try await forget(client: erased.clientID, at: erased.erasedAt, on: connection)
        }
        // The profile's tombstone on the clients topic erases the contact details even if the
        // referrals' erasure events are behind (or lost to a replay that starts later).
        handlers.onTombstone { key, consumed, connection in
            guard let clientID = UUID(uuidString: key) else { throw PermanentEventFailure("a tombstone whose key \(key.prefix(40)) is not a client id") }
            try await forget(client: clientID, at: consumed.event.time, on: connection)
        }
        handlers.on(ReferralAssignedV1.self) { assigned, consumed, connection in
            try await planner.plan(
                OccasionRecord(occasion: Occasion.assigned.code, facts: [:], linkWorkerID: assigned.linkWorkerID),
                referralID: assigned.referralID, sourceEventID: consumed.event.id, at: assigned.assignedAt, on: connection)
        }
        handlers.on(ReferralStatusChangedV1.self) { change, consumed, connection in
            guard let status = ReferralStatus(rawValue: change.to) else { return }
            var facts: [String: TemplateValue] = ["status": .text(change.to)]
            // Codes only: words a person wrote stay in intake and never arrive here.
            if let reason = change.reason { facts["reason"] = .text(reason) }
            if let outcome = change.outcome { facts["outcome"] = .text(outcome) }
            try await planner.plan(
                OccasionRecord(occasion: Occasion.referralStatus(status).code, facts: facts),
                referralID: change.referralID, sourceEventID: consumed.event.id, at: change.changedAt, on: connection)
        }
        handlers.on(ConnectionProposedV1.self) { proposed, consumed, connection in
            let facts: [String: TemplateValue] = [
                "resourceName": .text(proposed.resourceName ?? ""), "resourceKind": .text(proposed.resourceKind), "categories": .list(proposed.categories),
                "address": .text(proposed.address ?? ""), "schedule": .text(proposed.schedule ?? ""), "directions": .text(proposed.address ?? ""),
            ]
            try await planner.plan(
                OccasionRecord(occasion: Occasion.connectionProposed.code, facts: facts, resourceID: proposed.resourceID),
                referralID: proposed.referralID, sourceEventID: consumed.event.id, at: proposed.proposedAt, on: connection)
        }
        handlers.on(ConnectionChangedV1.self) { change, consumed, connection in
            guard let status = ConnectionStatus(rawValue: change.to) else { return }
            let facts: [String: TemplateValue] = [
                "resourceName": .text(change.resourceName ?? ""), "resourceKind": .text(change.resourceKind ?? ""),
                "categories": .list(change.categories ?? []),
            ]
            try await planner.plan(
                OccasionRecord(occasion: Occasion.connectionStatus(status).code, facts: facts, resourceID: change.resourceID),
                referralID: change.referralID, sourceEventID: consumed.event.id, at: change.changedAt, on: connection)
        }
        // A follow-up step past its time: the owner is nudged, then the site's coordinators are
        // told. Once per referral, step and level, whichever event id carries it.
        handlers.on(ReferralOverdueV1.self) { overdue, consumed, connection in
            let occasion: Occasion = overdue.level == .overdue ? .followUpOverdue : .followUpEscalated
            let facts: [String: TemplateValue] = ["step": .text(overdue.step), "dueDate": .text(String(UTCTimestamp.iso8601(overdue.dueAt).prefix(10)))]
            try await planner.plan(
                OccasionRecord(
                    occasion: occasion.code, facts: facts, ownerID: overdue.ownerID, once: "overdue|\(overdue.step)|\(overdue.level.rawValue)"),
                referralID: overdue.referralID, sourceEventID: consumed.event.id, at: overdue.raisedAt, on: connection)
        }
        return handlers
    }

    /// The client's contact details go and the client is remembered as erased, by id only.
    static func forget(client: UUID, at time: Date, on connection: PostgresConnection) async throws {
        try await connection.execute(
            "INSERT INTO erased_client (client_id, erased_at) VALUES (\(client)::uuid, \(time)::timestamptz) ON CONFLICT (client_id) DO NOTHING")
        try await connection.execute("DELETE FROM client_contact WHERE client_id = \(client)::uuid")
    }
}

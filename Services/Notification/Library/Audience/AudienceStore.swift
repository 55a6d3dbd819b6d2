import Contracts
import Domain
import Foundation
import PostgresClient

/// Writes what `NotificationEvent.step` decided about a referral's audience and its client.
/// The conditions that depend on what another lane may be writing at the same moment (an
/// erasure against a profile, a newer version against an older one) are kept in the statements,
/// where PostgreSQL decides them under its row locks.
enum AudienceStore {
    static func apply(_ change: AudienceChange, on connection: PostgresConnection) async throws {
        switch change {
        case .keepAudience(let referral):
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
        case .keepContact(let profile):
            try await connection.execute(
                """
                INSERT INTO client_contact (client_id, client_version, given_name, family_name, phone, email, preferred_language, preferred_channel,
                    consent_contact, consent_share_with_partners, updated_at)
                SELECT \(profile.clientID)::uuid, \(profile.clientVersion), \(profile.givenName), \(profile.familyName), \(profile.phone), \(profile.email),
                    \(profile.preferredLanguage), \(profile.preferredChannel), \(profile.consent.contact), \(profile.consent.shareWithPartners),
                    \(profile.updatedAt)::timestamptz
                WHERE NOT EXISTS (SELECT 1 FROM erased_client WHERE client_id = \(profile.clientID)::uuid)
                ON CONFLICT (client_id) DO UPDATE SET client_version = EXCLUDED.client_version, given_name = EXCLUDED.given_name,
                    family_name = EXCLUDED.family_name, phone = EXCLUDED.phone, email = EXCLUDED.email, preferred_language = EXCLUDED.preferred_language,
                    preferred_channel = EXCLUDED.preferred_channel, consent_contact = EXCLUDED.consent_contact,
                    consent_share_with_partners = EXCLUDED.consent_share_with_partners, updated_at = EXCLUDED.updated_at
                WHERE client_contact.client_version < EXCLUDED.client_version
                """)
        case .consent(let clientID, let clientVersion, let consent):
            try await connection.execute(
                """
                UPDATE referral_audience SET consent_contact = \(consent.contact), consent_share_with_partners = \(consent.shareWithPartners)
                WHERE client_id = \(clientID)::uuid
                """)
            try await connection.execute(
                """
                UPDATE client_contact SET consent_contact = \(consent.contact), consent_share_with_partners = \(consent.shareWithPartners),
                    client_version = \(clientVersion)
                WHERE client_id = \(clientID)::uuid AND client_version <= \(clientVersion)
                """)
        case .withholdMessages(let referralID):
            try await connection.execute(
                """
                UPDATE notification SET address = NULL, facts = '{}'::jsonb,
                    status = CASE WHEN status IN ('pending', 'deferred', 'sending') THEN 'withheld' ELSE status END,
                    last_error = CASE WHEN status IN ('pending', 'deferred', 'sending') THEN 'the client was erased' ELSE last_error END, updated_at = now()
                WHERE referral_id = \(referralID)::uuid
                """)
        case .forgetReferral(let referralID, let time):
            try await connection.execute("DELETE FROM referral_audience WHERE referral_id = \(referralID)::uuid")
            try await connection.execute(
                """
                INSERT INTO erased_referral (referral_id, erased_at) VALUES (\(referralID)::uuid, \(time)::timestamptz)
                ON CONFLICT (referral_id) DO NOTHING
                """)
            try await connection.execute("DELETE FROM parked_occasion WHERE referral_id = \(referralID)::uuid")
        case .forgetClient(let clientID, let time):
            try await connection.execute(
                "INSERT INTO erased_client (client_id, erased_at) VALUES (\(clientID)::uuid, \(time)::timestamptz) ON CONFLICT (client_id) DO NOTHING")
            try await connection.execute("DELETE FROM client_contact WHERE client_id = \(clientID)::uuid")
        }
    }
}

import Contracts
import Domain
import Foundation
import HTTPTypes
import Messaging
import PostgresClient
import ServiceRuntime

/// `PUT /v1/clients/{id}/consent`: the client changed what they agree to.
struct ConsentRequest: Decodable, Sendable {
    var contact: Bool?
    var shareWithPartners: Bool?
    var evaluationUse: Bool?

    func validated() throws(ProblemDetails) -> Consent {
        var errors: [ProblemDetails.FieldError] = []
        if contact == nil { errors.append(.init(pointer: "/contact", detail: "is required")) }
        if shareWithPartners == nil { errors.append(.init(pointer: "/shareWithPartners", detail: "is required")) }
        if evaluationUse == nil { errors.append(.init(pointer: "/evaluationUse", detail: "is required")) }
        guard errors.isEmpty, let contact, let shareWithPartners, let evaluationUse else { throw ProblemDetails.validation(errors) }
        return Consent(contact: contact, shareWithPartners: shareWithPartners, evaluationUse: evaluationUse)
    }
}

extension ReferralStore {
    /// Records the new consent and publishes it: on the clients topic (the profile notification
    /// reads) and on the referrals topic for each of the client's referrals, in order with them.
    func changeConsent(clientID: UUID, to consent: Consent, actor: Identity, requestID: String) async throws -> Consent {
        try await pool.transaction { connection in
            try await Self.requireReach(clientID, actor: actor, on: connection)
            guard
                let row = try await connection.query(
                    """
                    UPDATE client SET consent_contact = \(consent.contact), consent_share_with_partners = \(consent.shareWithPartners),
                        consent_evaluation_use = \(consent.evaluationUse), version = version + 1, updated_at = now(),
                        -- Sociodemographics are held only while the client consents to evaluation use.
                        sociodemographics = CASE WHEN \(consent.evaluationUse) THEN sociodemographics END
                    WHERE id = \(clientID)::uuid
                        AND (consent_contact, consent_share_with_partners, consent_evaluation_use)
                            IS DISTINCT FROM (\(consent.contact), \(consent.shareWithPartners), \(consent.evaluationUse))
                    RETURNING version, given_name, family_name, phone, email, preferred_language, preferred_channel
                    """
                ).first
            else {
                // The same consent again (a retried request whose answer was lost): nothing changes,
                // nothing is published a second time.
                guard try await connection.query("SELECT 1 FROM client WHERE id = \(clientID)::uuid").first != nil else {
                    throw ProblemDetails.noSuchResource
                }
                return consent
            }
            let version: Int = try row.decode("version")
            let now = Date()
            try await outbox.append(
                ClientProfileV1(
                    clientID: clientID, clientVersion: version, givenName: try row.decode("given_name"), familyName: try row.decode("family_name"),
                    phone: try row.decode("phone", as: String?.self), email: try row.decode("email", as: String?.self),
                    preferredLanguage: try row.decode("preferred_language"), preferredChannel: try row.decode("preferred_channel"),
                    consent: consent, updatedAt: now), on: connection)
            // Lock the referrals so their events keep commit order per key.
            let referrals = try await connection.query("SELECT id FROM referral WHERE client_id = \(clientID)::uuid ORDER BY received_at FOR UPDATE")
            for referral in referrals {
                let referralID: UUID = try referral.decode("id")
                try await outbox.append(
                    ClientConsentChangedV1(referralID: referralID, clientID: clientID, clientVersion: version, consent: consent, changedAt: now), on: connection
                )
            }
            try await audit("consent-change", referral: nil, client: clientID, actor: actor, requestID: requestID, on: connection)
            return consent
        }
    }

    struct AuditEntry: Codable, Sendable {
        var at: Date
        var actorId: String
        var actorRoles: String
        var action: String
        var referralId: UUID?
        var clientId: UUID?
        var requestId: String?
    }

    func auditTrail(referral: UUID) async throws -> [AuditEntry] {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT at, actor_id, actor_roles, action, referral_id, client_id, request_id FROM audit_log
                WHERE referral_id = \(referral)::uuid ORDER BY id
                """
            ).map { row in
                AuditEntry(
                    at: try row.decode("at"), actorId: try row.decode("actor_id"), actorRoles: try row.decode("actor_roles"),
                    action: try row.decode("action"), referralId: try row.decode("referral_id", as: UUID?.self),
                    clientId: try row.decode("client_id", as: UUID?.self), requestId: try row.decode("request_id", as: String?.self))
            }
        }
    }
}

extension ReferralStore {
    /// `DELETE /v1/clients/{id}`: the client's identity, contact and referrals are deleted here;
    /// a tombstone removes the profile from the compacted clients topic; `client.erased` tells
    /// every downstream service to drop what it holds for each referral.
    func erase(clientID: UUID, actor: Identity, requestID: String) async throws {
        try await pool.transaction { connection in
            guard try await !connection.query("SELECT 1 FROM client WHERE id = \(clientID)::uuid FOR UPDATE").isEmpty else {
                throw ProblemDetails.noSuchResource
            }
            try await Self.requireReach(clientID, actor: actor, on: connection)
            let now = Date()
            let referrals = try await connection.query("SELECT id FROM referral WHERE client_id = \(clientID)::uuid ORDER BY received_at FOR UPDATE")
            for referral in referrals {
                try await outbox.append(ClientErasedV1(referralID: try referral.decode("id"), clientID: clientID, erasedAt: now), on: connection)
            }
            try await outbox.appendTombstone(topic: .clients, key: clientID.uuidString.lowercased(), on: connection)
            // Profiles must not linger in the outbox either, published or not: the tombstone,
            // appended after them, supersedes them on the topic anyway.
            try await connection.query(
                """
                DELETE FROM outbox WHERE event_type = \(ClientProfileV1.eventType) AND record_key = \(clientID.uuidString.lowercased())
                """)
            // Patients posted for the client go too: those their FHIR referrals named, those linked
            // to them, and any posted with their identity that no referral named (their Tasks and
            // ServiceRequests go with the referrals).
            try await connection.query(
                """
                DELETE FROM fhir_patient p WHERE p.client_id = \(clientID)::uuid
                    OR p.identity_key = (SELECT identity_key FROM client WHERE id = \(clientID)::uuid)
                    OR EXISTS (
                        SELECT 1 FROM fhir_task t JOIN referral r ON r.id = t.referral_id
                        WHERE r.client_id = \(clientID)::uuid AND p.owner = t.submitted_by AND 'Patient/' || p.id = t.patient->>'reference')
                """)
            try await connection.query("DELETE FROM client WHERE id = \(clientID)::uuid")  // cascades to referrals and their history
            try await audit("erase", referral: nil, client: clientID, actor: actor, requestID: requestID, on: connection)
        }
    }

    /// A client is within reach of a caller bounded by sites when one of its referrals is at one
    /// of them; anyone else's client answers as an unknown one.
    static func requireReach(_ clientID: UUID, actor: Identity, on connection: PostgresConnection) async throws {
        guard let sites = actor.sitesInScope else { return }
        let reached = try await connection.query(
            "SELECT 1 FROM referral WHERE client_id = \(clientID)::uuid AND site = ANY(\(sites.sorted())::text[]) LIMIT 1")
        guard reached.first != nil else { throw ProblemDetails.noSuchResource }
    }
}

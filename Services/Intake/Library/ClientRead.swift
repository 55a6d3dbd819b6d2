import Domain
import Foundation
import PostgresClient
import ServiceRuntime

/// `GET /v1/clients/{id}`: who the client is and how to reach them, for the link workers and
/// coordinators of a site they were referred to. Sociodemographics stay out: they serve equity
/// analysis only.
struct ClientView: Encodable, Sendable {
    var id: UUID
    var givenName: String
    var familyName: String
    var birthDate: String
    var phone: String?
    var email: String?
    var preferredLanguage: String
    var preferredChannel: String
    var postalCode: String?
    var accessibilityNeeds: [String]
    var consent: Consent
}

extension ReferralStore {
    /// The client, the read audited in the same transaction; another site's client is unknown.
    func client(id clientID: UUID, actor: Identity, requestID: String) async throws -> ClientView {
        try await pool.transaction { connection in
            guard
                let row = try await connection.query(
                    """
                    SELECT given_name, family_name, birth_date::text AS birth_date, phone, email, preferred_language, preferred_channel, postal_code,
                        accessibility_needs, consent_contact, consent_share_with_partners, consent_evaluation_use
                    FROM client WHERE id = \(clientID)::uuid
                    """
                ).first
            else {
                throw ProblemDetails.noSuchResource
            }
            try await Self.requireReach(clientID, actor: actor, on: connection)
            try await audit("read:client", referral: nil, client: clientID, actor: actor, requestID: requestID, on: connection)
            return ClientView(
                id: clientID, givenName: try row.decode("given_name"), familyName: try row.decode("family_name"),
                birthDate: try row.decode("birth_date"), phone: try row.decode("phone", as: String?.self), email: try row.decode("email", as: String?.self),
                preferredLanguage: try row.decode("preferred_language"), preferredChannel: try row.decode("preferred_channel"),
                postalCode: try row.decode("postal_code", as: String?.self), accessibilityNeeds: try row.decode("accessibility_needs"),
                consent: Consent(
                    contact: try row.decode("consent_contact"), shareWithPartners: try row.decode("consent_share_with_partners"),
                    evaluationUse: try row.decode("consent_evaluation_use")))
        }
    }
}

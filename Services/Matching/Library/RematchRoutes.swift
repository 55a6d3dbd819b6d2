import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import Messaging
import OpenAPIRuntime
import PostgresClient
import ServiceRuntime
import WireFormats

/// `POST /v1/referrals/{id}/rematch`: ranks the catalogue again for a referral (after the
/// catalogue changed), replaces its matches and publishes a new `matches.proposed` through the
/// outbox. With an `Idempotency-Key` header a retried request of the same caller gets the first
/// answer and publishes nothing more.
struct RematchRoutes: Sendable {
    let pool: PostgresConnectionPool
    let matchmaker: Matchmaker

    struct Listed: Codable, Sendable {
        var rank: Int
        var resourceId: UUID
        var score: Double
        var reasons: [String]
    }
    struct Rematched: Codable, Sendable {
        var referralId: UUID
        var referralVersion: Int
        var matches: [Listed]
        var proposedAt: Date
    }

    func rematch(_ input: Operations.RematchReferral.Input) async throws -> Operations.RematchReferral.Output {
        let actor = try OperationRequest.caller()
        let referral = try OperationRequest.id(input.path.id)
        let key = try IdempotencyKey.validated(input.headers.idempotencyKey)
        let matchmaker = matchmaker
        let (body, replayed) = try await pool.transaction { connection -> (Rematched, Bool) in
            // The row lock orders concurrent rematches of one referral.
            guard
                let intake = try await connection.query(
                    """
                    SELECT referral_version, site, needs, interests, support_level, preferred_language, postal_area, latitude, longitude,
                        age_band, accessibility_needs FROM referral_intake WHERE referral_id = \(referral)::uuid FOR UPDATE
                    """
                ).first,
                try actor.mayWork(at: intake.decode("site", as: String.self))
            else { throw ProblemDetails.noSuchResource }
            // Keys are the caller's own: another caller's key never replays someone else's answer.
            if let key,
                let stored = try await connection.query(
                    """
                    SELECT response::text AS response FROM rematch
                    WHERE referral_id = \(referral)::uuid AND caller = \(actor.subject) AND idempotency_key = \(key)
                    """
                ).first
            {
                return (try JSONCoding.stored.decode(Rematched.self, from: try stored.decode("response", as: String.self)), true)
            }
            let latitude = try intake.decode("latitude", as: Double?.self)
            let longitude = try intake.decode("longitude", as: Double?.self)
            let request = MatchRequest(
                needs: try intake.decode("needs"), interests: try intake.decode("interests"), language: try intake.decode("preferred_language"),
                coordinates: try latitude.flatMap { lat in longitude.flatMap { try? Coordinates(latitude: lat, longitude: $0) } }
                    ?? matchmaker.postalAreas[intake.decode("postal_area", as: String?.self)],
                postalArea: try intake.decode("postal_area", as: String?.self), ageBand: AgeBand(rawValue: try intake.decode("age_band")),
                accessibilityNeeds: try intake.decode("accessibility_needs"),
                supportLevel: SupportLevel(rawValue: try intake.decode("support_level")) ?? .light)
            let ranked = try await matchmaker.rank(request, on: connection)
            let version: Int = try intake.decode("referral_version")
            let now = Date()
            try await connection.query("DELETE FROM referral_match WHERE referral_id = \(referral)::uuid")
            try await matchmaker.record(ranked, referral: referral, on: connection)
            try await matchmaker.outbox.append(
                MatchesProposedV1(
                    referralID: referral, referralVersion: version, matches: Matchmaker.proposed(ranked), proposedAt: now), on: connection)
            let body = Rematched(
                referralId: referral, referralVersion: version,
                matches: ranked.enumerated().map { Listed(rank: $0 + 1, resourceId: $1.resource.id, score: $1.score, reasons: $1.reasons) },
                proposedAt: now)
            if let key {
                let json = try JSONCoding.stored.encodeText(body)
                try await connection.query(
                    """
                    INSERT INTO rematch (referral_id, caller, idempotency_key, response) VALUES (\(referral)::uuid, \(actor.subject), \(key), \(json)::jsonb)
                    """)
            }
            return (body, false)
        }
        return .ok(
            .init(
                headers: .init(idempotentReplayed: replayed ? "true" : nil),
                body: .json(
                    .init(
                        referralId: body.referralId.uuidString, referralVersion: body.referralVersion,
                        matches: body.matches.map { .init(rank: $0.rank, resourceId: $0.resourceId.uuidString, score: $0.score, reasons: $0.reasons) },
                        proposedAt: body.proposedAt))))
    }
}

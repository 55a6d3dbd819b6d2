import Contracts
import Domain
import Foundation
import Messaging
import PostgresClient

/// What happens when a referral arrives: rank the catalogue, assign a link worker, and publish
/// the outcome — all in the consumer's transaction, so it happens once per referral in effect.
struct Matchmaker: Sendable {
    let store: CatalogueStore
    let outbox: Outbox
    var ranker = MatchRanker()

    /// Records what matching needs of the referral (latest version wins), then matches it.
    func receive(_ referral: ReferralReceivedV1, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO referral_intake (referral_id, referral_version, site, needs, interests, support_level, priority,
                preferred_language, postal_area, latitude, longitude, age_band, received_at)
            VALUES (\(referral.referralID)::uuid, \(referral.referralVersion), \(referral.site), \(referral.needs)::text[],
                \(referral.interests)::text[], \(referral.supportLevel), \(referral.priority), \(referral.preferredLanguage),
                \(referral.postalArea), \(referral.coordinates?.latitude), \(referral.coordinates?.longitude), \(referral.ageBand),
                \(referral.receivedAt)::timestamptz)
            ON CONFLICT (referral_id) DO UPDATE SET referral_version = EXCLUDED.referral_version, needs = EXCLUDED.needs,
                interests = EXCLUDED.interests, support_level = EXCLUDED.support_level, priority = EXCLUDED.priority
            WHERE referral_intake.referral_version < EXCLUDED.referral_version
            """)
        try await match(referral, on: connection)
    }

    func match(_ referral: ReferralReceivedV1, on connection: PostgresConnection) async throws {
        // A redelivered or re-sent referral already has its matches; never propose twice.
        guard try await connection.query("SELECT 1 FROM referral_match WHERE referral_id = \(referral.referralID)::uuid LIMIT 1").isEmpty,
            try await connection.query("SELECT 1 FROM assignment WHERE referral_id = \(referral.referralID)::uuid").isEmpty
        else { return }
        let now = Date()
        let request = MatchRequest(
            needs: referral.needs, interests: referral.interests, language: referral.preferredLanguage,
            coordinates: referral.coordinates.flatMap { try? Coordinates(latitude: $0.latitude, longitude: $0.longitude) },
            postalArea: referral.postalArea, ageBand: AgeBand(rawValue: referral.ageBand), accessibilityNeeds: referral.accessibilityNeeds,
            supportLevel: SupportLevel(rawValue: referral.supportLevel) ?? .light)
        let ranked = ranker.rank(request, candidates: try await store.candidates(for: referral.needs, on: connection))

        if let worker = try await store.assign(referral: referral.referralID, site: referral.site, language: referral.preferredLanguage, on: connection) {
            try await outbox.append(ReferralAssignedV1(
                referralID: referral.referralID, referralVersion: referral.referralVersion, linkWorkerID: worker.id, site: referral.site,
                priority: referral.priority, assignedAt: now), on: connection)
        }
        for (index, match) in ranked.enumerated() {
            try await connection.query("""
                INSERT INTO referral_match (referral_id, rank, resource_id, score, reasons)
                VALUES (\(referral.referralID)::uuid, \(index + 1), \(match.resource.id)::uuid, \(match.score), \(match.reasons)::text[])
                """)
        }
        if !ranked.isEmpty {
            try await outbox.append(MatchesProposedV1(
                referralID: referral.referralID, referralVersion: referral.referralVersion,
                matches: ranked.enumerated().map { index, match in
                    ProposedMatch(resourceID: match.resource.id, rank: index + 1, score: match.score, resourceKind: match.resource.kind.rawValue,
                        categories: match.resource.categories.map(\.code), reasons: match.reasons)
                }, proposedAt: now), on: connection)
        }
        // Needs no eligible resource serves: commissioners see the gaps.
        let served = Set(ranked.flatMap { $0.resource.categories.map(\.code) })
        let unmet = referral.needs.filter { !served.contains($0) }
        if !unmet.isEmpty {
            try await outbox.append(NeedUnmetV1(
                referralID: referral.referralID, referralVersion: referral.referralVersion, site: referral.site, categories: unmet,
                reason: ranked.isEmpty ? "no eligible community resource" : "no eligible resource among the best matches serves this need",
                area: referral.postalArea, recordedAt: now), on: connection)
        }
    }
}

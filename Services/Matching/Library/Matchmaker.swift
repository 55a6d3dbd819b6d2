import Contracts
import Domain
import Foundation
import Logging
import Messaging
import PostgresClient

/// What happens when a referral arrives: rank the catalogue, assign a link worker, and publish
/// the outcome — all in the consumer's transaction, so it happens once per referral in effect.
struct Matchmaker: Sendable {
    let store: CatalogueStore
    let outbox: Outbox
    var ranker: MatchRanker
    /// Where clients referred without coordinates are measured from.
    let postalAreas: PostalAreaCentroids
    let catalogue: CatalogueCache

    init(
        store: CatalogueStore, outbox: Outbox, weights: MatchWeights = MatchWeights(), postalAreas: PostalAreaCentroids = PostalAreaCentroids(),
        catalogue: CatalogueCache? = nil
    ) {
        self.store = store
        self.outbox = outbox
        self.ranker = MatchRanker(weights: weights)
        self.postalAreas = postalAreas
        self.catalogue = catalogue ?? CatalogueCache(pool: store.pool, logger: Logger(label: "passerelle.matching"))
    }

    /// Records what matching needs of the referral (latest version wins), then matches it.
    func receive(_ referral: ReferralReceivedV1, on connection: PostgresConnection) async throws {
        // An erased client's referral, seen again (a redelivery, a replay), stays forgotten.
        guard try await connection.query("SELECT 1 FROM erased_referral WHERE referral_id = \(referral.referralID)::uuid").isEmpty else { return }
        try await connection.execute(
            """
            INSERT INTO referral_intake (referral_id, referral_version, site, needs, interests, support_level, priority,
                preferred_language, postal_area, latitude, longitude, age_band, accessibility_needs, received_at)
            VALUES (\(referral.referralID)::uuid, \(referral.referralVersion), \(referral.site), \(referral.needs)::text[],
                \(referral.interests)::text[], \(referral.supportLevel), \(referral.priority), \(referral.preferredLanguage),
                \(referral.postalArea), \(referral.coordinates?.latitude), \(referral.coordinates?.longitude), \(referral.ageBand),
                \(referral.accessibilityNeeds)::text[], \(referral.receivedAt)::timestamptz)
            ON CONFLICT (referral_id) DO UPDATE SET referral_version = EXCLUDED.referral_version, needs = EXCLUDED.needs,
                interests = EXCLUDED.interests, support_level = EXCLUDED.support_level, priority = EXCLUDED.priority,
                accessibility_needs = EXCLUDED.accessibility_needs
            WHERE referral_intake.referral_version < EXCLUDED.referral_version
            """)
        try await match(referral, on: connection)
    }

    func match(_ referral: ReferralReceivedV1, on connection: PostgresConnection) async throws {
        // A redelivered or re-sent referral already has its matches; never propose twice. The
        // catalogue's version comes in the same round trip.
        guard
            let state = try await connection.query(
                """
                SELECT EXISTS (SELECT 1 FROM referral_match WHERE referral_id = \(referral.referralID)::uuid
                               UNION ALL SELECT 1 FROM assignment WHERE referral_id = \(referral.referralID)::uuid) AS seen,
                    (SELECT version FROM catalogue_version) AS catalogue_version
                """
            ).first, try !state.decode("seen", as: Bool.self)
        else { return }
        let now = Date()
        let request = MatchRequest(
            needs: referral.needs, interests: referral.interests, language: referral.preferredLanguage,
            coordinates: referral.coordinates ?? postalAreas[referral.postalArea],
            postalArea: referral.postalArea, ageBand: AgeBand(rawValue: referral.ageBand), accessibilityNeeds: referral.accessibilityNeeds,
            supportLevel: SupportLevel(rawValue: referral.supportLevel) ?? .light)
        let ranked = try await rank(request, catalogueVersion: try state.decode("catalogue_version"), on: connection)

        if let worker = try await store.assign(referral: referral.referralID, site: referral.site, language: referral.preferredLanguage, on: connection) {
            try await outbox.append(
                ReferralAssignedV1(
                    referralID: referral.referralID, referralVersion: referral.referralVersion, linkWorkerID: worker.id, site: referral.site,
                    priority: referral.priority, assignedAt: now), on: connection)
        }
        try await record(ranked, referral: referral.referralID, on: connection)
        if !ranked.isEmpty {
            try await outbox.append(
                MatchesProposedV1(
                    referralID: referral.referralID, referralVersion: referral.referralVersion, matches: Self.proposed(ranked), proposedAt: now),
                on: connection)
        }
        // Needs no eligible resource serves: commissioners see the gaps.
        let served = Set(ranked.flatMap { $0.resource.categories.map(\.code) })
        let unmet = referral.needs.filter { !served.contains($0) }
        if !unmet.isEmpty {
            try await outbox.append(
                NeedUnmetV1(
                    referralID: referral.referralID, referralVersion: referral.referralVersion, site: referral.site, categories: unmet,
                    reason: ranked.isEmpty ? "no eligible community resource" : "no eligible resource among the best matches serves this need",
                    area: referral.postalArea, recordedAt: now), on: connection)
        }
    }

    /// One statement for all of a referral's matches (their reasons, arrays of differing
    /// lengths, travel as JSON).
    func record(_ ranked: [RankedResource], referral: UUID, on connection: PostgresConnection) async throws {
        guard !ranked.isEmpty else { return }
        struct Row: Encodable {
            var rank: Int
            var resource: UUID
            var score: Double
            var reasons: [String]
        }
        let rows = ranked.enumerated().map { Row(rank: $0 + 1, resource: $1.resource.id, score: $1.score, reasons: $1.reasons) }
        try await connection.execute(
            """
            INSERT INTO referral_match (referral_id, rank, resource_id, score, reasons)
            SELECT \(referral)::uuid, m.rank, m.resource, m.score, ARRAY(SELECT jsonb_array_elements_text(m.reasons))
            FROM jsonb_to_recordset(\(try PostgresJSON(encoding: rows))::jsonb) AS m(rank int, resource uuid, score float8, reasons jsonb)
            """)
    }

    static func proposed(_ ranked: [RankedResource]) -> [ProposedMatch] {
        ranked.enumerated().map { index, match in
            ProposedMatch(
                resourceID: match.resource.id, rank: index + 1, score: match.score, resourceKind: match.resource.kind.rawValue,
                categories: match.resource.categories.map(\.code), reasons: match.reasons)
        }
    }

    /// The top N for a request against the in-memory catalogue, with capacity checked in the
    /// database for the resources kept: seats taken change with every connection, so a
    /// resource full in the snapshot may have room now and the other way round.
    /// `catalogueVersion`, when the caller read it in this transaction, saves reading it again.
    func rank(_ request: MatchRequest, catalogueVersion: Int64? = nil, on connection: PostgresConnection) async throws -> [RankedResource] {
        let snapshot =
            if let catalogueVersion {
                try await catalogue.current(version: catalogueVersion, on: connection)
            } else {
                try await catalogue.current(on: connection)
            }
        let wanted = ranker.weights.topN
        var limit = wanted + 8
        while true {
            let best = snapshot.best(request, ranker: ranker, limit: limit)
            let limited = best.map { snapshot.resources[$0.position] }.filter { $0.capacity.seats != nil }.map(\.id)
            var capacity: [UUID: CommunityResource.Capacity] = [:]
            if !limited.isEmpty {
                for row in try await connection.query(
                    PostgresQuery(
                        unsafeSQL: "SELECT id, seats, seats_taken, waitlist_allowed FROM community_resource WHERE id = ANY ($1::uuid[])",
                        parameters: [limited.postgresText]))
                {
                    capacity[try row.decode("id")] = .init(
                        seats: try row.decode("seats", as: Int?.self), seatsTaken: try row.decode("seats_taken"),
                        waitlistAllowed: try row.decode("waitlist_allowed"))
                }
            }
            var ranked: [RankedResource] = []
            for candidate in best {
                var resource = snapshot.resources[candidate.position]
                if resource.capacity.seats != nil, let fresh = capacity[resource.id] { resource.capacity = fresh }
                guard resource.capacity.hasRoom || resource.capacity.waitlistAllowed else { continue }
                ranked.append(ranker.explain(resource, for: request))
                if ranked.count == wanted { break }
            }
            // Full resources dropped below N while more candidates exist: look further down.
            if ranked.count == wanted || best.count < limit { return ranked }
            limit *= 4
        }
    }

    /// A referral that ends (completed, cancelled, failed, rejected) releases what it held: open
    /// connections are closed and their seats freed, and the link worker's caseload goes down,
    /// once. Older versions than the one already applied are ignored.
    func statusChanged(_ change: ReferralStatusChangedV1, on connection: PostgresConnection) async throws {
        let outbox = outbox
        try await connection.withSession { session in
            let applied = try session.query(
                """
                UPDATE referral_intake SET referral_version = \(change.referralVersion)
                WHERE referral_id = \(change.referralID)::uuid AND referral_version < \(change.referralVersion)
                """
            ).affectedRows
            guard applied == 1, let status = ReferralStatus(rawValue: change.to), status.isTerminal else { return }
            let now = Date()
            let reason = "referral-\(change.to)"
            for closed in try Self.release(change.referralID, reason: reason, on: session) {
                try outbox.append(
                    ConnectionChangedV1(
                        connectionID: closed.id, referralID: change.referralID, referralVersion: change.referralVersion,
                        resourceID: closed.resource, from: closed.previous, to: ConnectionStatus.dropped.rawValue,
                        reason: reason, changedAt: now), on: session)
            }
        }
    }

    /// Frees what a referral holds, once: its open connections are closed and their seats
    /// given back, and its link worker's caseload goes down. Says which connections it closed.
    static func release(_ referralID: UUID, reason: String, on session: borrowing PostgresSession) throws -> [(id: UUID, resource: UUID, previous: String)] {
        let open = try session.query(
            """
            UPDATE connection SET status = 'dropped', reason = \(reason), updated_at = now()
            WHERE referral_id = \(referralID)::uuid AND status IN ('proposed', 'accepted', 'enrolled', 'attended')
            RETURNING id, resource_id, (SELECT status FROM connection c2 WHERE c2.id = connection.id) AS previous
            """)
        var closed: [(id: UUID, resource: UUID, previous: String)] = []
        for row in open {
            let resource: UUID = try row.decode("resource_id")
            try session.execute("UPDATE community_resource SET seats_taken = greatest(seats_taken - 1, 0) WHERE id = \(resource)::uuid")
            closed.append((try row.decode("id"), resource, try row.decode("previous")))
        }
        if let worker = try session.query(
            """
            UPDATE assignment SET released_at = now() WHERE referral_id = \(referralID)::uuid AND released_at IS NULL
            RETURNING link_worker_id
            """
        ).first {
            try session.execute(
                "UPDATE link_worker SET current_caseload = greatest(current_caseload - 1, 0) WHERE id = \(try worker.decode("link_worker_id", as: UUID.self))::uuid"
            )
        }
        return closed
    }

    /// The client of `erased` was erased: the referral gives back its seats and caseload, then
    /// everything kept about it goes (connections with the reasons written for them, matches,
    /// assignment, rematch answers), leaving only its id as erased. Nothing is published: the
    /// other services hear of the erasure from intake.
    func erase(_ erased: ClientErasedV1, on connection: PostgresConnection) async throws {
        try await connection.withSession { session in
            try session.execute(
                """
                INSERT INTO erased_referral (referral_id, erased_at) VALUES (\(erased.referralID)::uuid, \(erased.erasedAt)::timestamptz)
                ON CONFLICT (referral_id) DO NOTHING
                """)
            _ = try Self.release(erased.referralID, reason: "client-erased", on: session)
            for table in ["connection", "referral_match", "assignment", "rematch", "referral_intake"] {
                try session.execute("DELETE FROM \(identifier: table) WHERE referral_id = \(erased.referralID)::uuid")
            }
        }
    }
}

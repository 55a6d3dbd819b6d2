import Contracts
import Domain
import Foundation
import Messaging
import PostgresClient
import WireFormats

/// Keeps one row per referral pathway (and its unmet needs) current from the events of every
/// topic: load what is held about the referral, apply the event (`ProjectionEvent.apply`, the
/// same code the rebuild runs), store what changed, and tell analysts when a consenting
/// client's pathway changed.
public enum PathwayProjection {
    public static func handlers(stream: AnalystStream?) -> EventHandlers {
        var handlers = EventHandlers()
        let apply: @Sendable (ProjectionEvent, ConsumedEvent, PostgresConnection) async throws -> Void = { event, _, connection in
            let before = try await load(event.referralID, unmetNeeds: event.touchesUnmetNeeds, on: connection)
            var after = before
            event.apply(to: &after)
            try await store(before: before, after: after, referral: event.referralID, on: connection)
            if let stream, event.reachesAnalysts, let pathway = after.pathway, pathway.consentEvaluationUse, pathway != before.pathway {
                try await stream.publish(pathway, on: connection)
            }
            // Whatever reached the analysts about an erased client's pathway is retracted.
            if let stream, after.erased, before.pathway != nil {
                try await stream.retract(event.referralID, on: connection)
            }
        }
        handlers.on(ReferralReceivedV1.self) { try await apply(.received($0), $1, $2) }
        handlers.on(ReferralStatusChangedV1.self) { try await apply(.statusChanged($0), $1, $2) }
        handlers.on(ConnectionProposedV1.self) { try await apply(.connectionProposed($0), $1, $2) }
        handlers.on(ConnectionChangedV1.self) { try await apply(.connectionChanged($0), $1, $2) }
        handlers.on(NeedUnmetV1.self) { try await apply(.needUnmet($0), $1, $2) }
        handlers.on(ClientConsentChangedV1.self) { try await apply(.consentChanged($0), $1, $2) }
        handlers.on(ClientErasedV1.self) { try await apply(.erased($0), $1, $2) }
        handlers.on(ContactLoggedV1.self) { try await apply(.contactLogged($0), $1, $2) }
        handlers.on(GoalSetV1.self) { try await apply(.goalSet($0), $1, $2) }
        handlers.on(GoalReviewedV1.self) { try await apply(.goalReviewed($0), $1, $2) }
        handlers.on(SupportLevelChangedV1.self) { try await apply(.supportLevelChanged($0), $1, $2) }
        return handlers
    }

    static let selectPathway: PostgresQuery = PostgresQuery(
        unsafeSQL: """
            SELECT \(PathwayRecord.columns.joined(separator: ", ")) FROM pathway WHERE referral_id = $1::uuid FOR UPDATE
            """)

    /// What is held about `referral`, its row locked for the rest of the transaction.
    static func load(_ referral: UUID, unmetNeeds: Bool, on connection: PostgresConnection) async throws -> PathwayState {
        var query = selectPathway
        query.parameters = [referral.postgresText]
        var state = PathwayState()
        if let row = try await connection.query(query).first {
            state.pathway = try PathwayRecord(row: row)
        }
        if unmetNeeds {
            state.unmetNeeds = try await connection.query(
                """
                SELECT referral_id, category, site, area, recorded_at FROM unmet_need WHERE referral_id = \(referral)::uuid ORDER BY recorded_at, category
                """
            ).map { row in
                UnmetNeedRecord(
                    referralID: try row.decode("referral_id"), category: try row.decode("category"), site: try row.decode("site"),
                    area: try row.decode("area", as: String?.self), recordedAt: try row.decode("recorded_at"))
            }
        }
        return state
    }

    /// Writes what changed between `before` and `after`.
    static func store(before: PathwayState, after: PathwayState, referral: UUID, on connection: PostgresConnection) async throws {
        if after.erased {
            for table in ["pathway", "unmet_need", "outcome_measure", "service_use"] {
                try await connection.query("DELETE FROM \(identifier: table) WHERE referral_id = \(referral)::uuid")
            }
            return
        }
        if let pathway = after.pathway, pathway != before.pathway {
            try await connection.query(upsert(pathway))
        }
        let added = after.unmetNeeds.filter { !before.unmetNeeds.contains($0) }
        if !added.isEmpty {
            try await connection.query(
                """
                INSERT INTO unmet_need SELECT * FROM jsonb_populate_recordset(NULL::unmet_need, \(try ProjectionJSON.encode(added))::jsonb)
                ON CONFLICT DO NOTHING
                """)
        }
    }

    static func upsert(_ pathway: PathwayRecord) throws -> PostgresQuery {
        let updates = PathwayRecord.columns.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        return PostgresQuery(
            unsafeSQL: """
                INSERT INTO pathway SELECT * FROM jsonb_populate_record(NULL::pathway, $1::jsonb)
                ON CONFLICT (referral_id) DO UPDATE SET \(updates)
                """, parameters: [try ProjectionJSON.encode(pathway)])
    }
}

/// The JSON records travel to PostgreSQL in (`jsonb_populate_record[set]`): column-named keys,
/// ISO-8601 timestamps with microseconds, as `timestamptz` stores them.
enum ProjectionJSON {
    static let encoder = StreamingJSONEncoder(dates: .text { $0.postgresText })

    static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension PathwayRecord {
    init(row: PostgresRow) throws {
        self.init(
            referralID: try row.decode("referral_id"), pathwayVersion: try row.decode("pathway_version"), clientID: try row.decode("client_id"),
            site: try row.decode("site"), referrerID: try row.decode("referrer_id", as: String?.self), referrerRole: try row.decode("referrer_role"),
            needs: try row.decode("needs"), supportLevel: try row.decode("support_level"), priority: try row.decode("priority"),
            status: try row.decode("status"), ageBand: try row.decode("age_band", as: String?.self), area: try row.decode("area", as: String?.self),
            language: try row.decode("language", as: String?.self), gender: try row.decode("gender", as: String?.self),
            incomeBand: try row.decode("income_band", as: String?.self), newcomer: try row.decode("newcomer", as: String?.self),
            disability: try row.decode("disability", as: String?.self), racialOrEthnicGroup: try row.decode("racial_ethnic_group", as: String?.self),
            consentEvaluationUse: try row.decode("consent_evaluation_use"),
            receivedAt: try row.decode("received_at"), acceptedAt: try row.decode("accepted_at", as: Date?.self),
            firstContactAt: try row.decode("first_contact_at", as: Date?.self), connectedAt: try row.decode("connected_at", as: Date?.self),
            closedAt: try row.decode("closed_at", as: Date?.self), closureOutcome: try row.decode("closure_outcome", as: String?.self),
            closureReason: try row.decode("closure_reason", as: String?.self), connectionCount: try row.decode("connection_count"),
            connectedResourceKind: try row.decode("connected_resource_kind", as: String?.self),
            connectedCategories: try row.decode("connected_categories", as: [String]?.self), updatedAt: try row.decode("updated_at"),
            contactsLogged: try row.decode("contacts_logged"), contactsReached: try row.decode("contacts_reached"),
            contactMinutes: try row.decode("contact_minutes"), goalIDs: try row.decode("goal_ids"),
            goalStartProgress: try row.decode("goal_start_progress"), goalProgress: try row.decode("goal_progress"))
    }
}

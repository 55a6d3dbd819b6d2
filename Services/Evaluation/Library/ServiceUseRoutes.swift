import Domain
import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime

/// `PUT /v1/referrals/{id}/service-use`: how often the client used primary care and emergency
/// care in the six months before the referral and the six months after, for the "fewer repeat
/// visits" question. Every count is optional (unknown is not zero); a period sent again replaces
/// the one stored, a period left out keeps what was stored.
struct ServiceUseRoutes: Sendable {
    let pool: PostgresConnectionPool

    /// Visits in six months; more than one a day is a typing error, not a client.
    static let plausibleVisits = 0...183

    struct Counts: Codable, Sendable, Equatable {
        var primaryCareVisits: Int?
        var emergencyVisits: Int?
    }

    struct Body: Decodable, Sendable {
        var before: Counts?
        var after: Counts?
    }

    typealias Recorded = Components.Schemas.ServiceUse

    func record(_ input: Operations.RecordServiceUse.Input) async throws -> Operations.RecordServiceUse.Output {
        let actor = try OperationRequest.caller()
        let referral = try OperationRequest.id(input.path.id)
        // Checked here: before, after or both, each with a count.
        let body: Body
        switch input.body {
        case .json(let submission): body = try convertJSON(submission, to: Body.self)
        }
        var errors: [ProblemDetails.FieldError] = []
        if body.before == nil && body.after == nil {
            errors.append(.init(pointer: "", detail: "give before, after or both"))
        }
        for (period, counts) in [("before", body.before), ("after", body.after)] {
            guard let counts else { continue }
            if counts.primaryCareVisits == nil && counts.emergencyVisits == nil {
                errors.append(.init(pointer: "/\(period)", detail: "give primaryCareVisits, emergencyVisits or both"))
            }
            for (field, value) in [("primaryCareVisits", counts.primaryCareVisits), ("emergencyVisits", counts.emergencyVisits)] {
                if let value, !Self.plausibleVisits.contains(value) {
                    errors.append(
                        .init(pointer: "/\(period)/\(field)", detail: "must be a count of visits in six months, 0 to \(Self.plausibleVisits.upperBound)"))
                }
            }
        }
        guard errors.isEmpty else { throw ProblemDetails.validation(errors) }
        let subject = actor.subject
        let recorded = try await pool.sessionTransaction { session -> Recorded in
            try Self.requireVisible(referral, to: actor, session)
            for (period, counts) in [("before", body.before), ("after", body.after)] {
                guard let counts else { continue }
                try session.query(
                    """
                    INSERT INTO service_use (referral_id, period, primary_care_visits, emergency_visits, recorded_by)
                    VALUES (\(referral)::uuid, \(period), \(counts.primaryCareVisits), \(counts.emergencyVisits), \(subject))
                    ON CONFLICT (referral_id, period) DO UPDATE SET primary_care_visits = excluded.primary_care_visits,
                        emergency_visits = excluded.emergency_visits, recorded_by = excluded.recorded_by, recorded_at = now()
                    """)
            }
            return try Self.load(referral, session)
        }
        return .ok(.init(body: .json(recorded)))
    }

    func read(_ input: Operations.GetServiceUse.Input) async throws -> Operations.GetServiceUse.Output {
        // Analysts see aggregates only: the contract gives them no per-referral operation.
        let actor = try OperationRequest.caller()
        let referral = try OperationRequest.id(input.path.id)
        let recorded = try await pool.sessionTransaction { session -> Recorded in
            try Self.requireVisible(referral, to: actor, session)
            return try Self.load(referral, session)
        }
        return .ok(.init(body: .json(recorded)))
    }

    /// Link workers reach the referrals of their own site only; an unknown referral and one
    /// out of reach answer the same.
    static func requireVisible(_ referral: UUID, to actor: Identity, _ session: borrowing PostgresSession) throws {
        guard let site = try session.query("SELECT site FROM pathway WHERE referral_id = \(referral)::uuid").first?.decode("site", as: String.self),
            actor.mayWork(at: site)
        else { throw ProblemDetails.noSuchResource }
    }

    static func load(_ referral: UUID, _ session: borrowing PostgresSession) throws -> Recorded {
        var periods: [String: Counts] = [:]
        for row in try session.query("SELECT period, primary_care_visits, emergency_visits FROM service_use WHERE referral_id = \(referral)::uuid") {
            periods[try row.decode("period", as: String.self)] = Counts(
                primaryCareVisits: try row.decode("primary_care_visits", as: Int?.self), emergencyVisits: try row.decode("emergency_visits", as: Int?.self))
        }
        var change: Recorded.ChangePayload?
        if let before = periods["before"], let after = periods["after"] {
            func difference(_ a: Int?, _ b: Int?) -> Int? { if let a, let b { return b - a } else { return nil } }
            let computed = Recorded.ChangePayload(
                primaryCareVisits: difference(before.primaryCareVisits, after.primaryCareVisits),
                emergencyVisits: difference(before.emergencyVisits, after.emergencyVisits))
            if computed.primaryCareVisits != nil || computed.emergencyVisits != nil { change = computed }
        }
        func counts(_ period: String) -> Components.Schemas.ServiceUseCounts? {
            periods[period].map { .init(primaryCareVisits: $0.primaryCareVisits, emergencyVisits: $0.emergencyVisits) }
        }
        return Recorded(referralId: referral.uuidString, before: counts("before"), after: counts("after"), change: change)
    }
}

import Domain
import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime
import WireFormats

/// `POST /v1/referrals/{id}/outcomes`: a validated instrument answered at a timepoint, scored
/// here (never trusted from the client), with the change from baseline when there is one.
/// `GET` lists them back, scores and changes only, to the same readers as may record them.
struct OutcomeRoutes: Sendable {
    let pool: PostgresConnectionPool
    let stream: AnalystStream?

    static let timepoints = ["baseline", "follow-up-6w", "follow-up-12w", "closure"]

    struct Body: Decodable, Sendable {
        var instrument: String?
        var timepoint: String?
        var answers: [Int?]?
    }

    typealias Recorded = Components.Schemas.RecordedOutcome

    /// One measure as listed: the answers stay here.
    struct Listed: Sendable {
        var instrument: String
        var timepoint: String
        var scores: [String: Double]
        var changeFromBaseline: [String: Double]?
        var recordedAt: Date
        var recordedBy: String
    }

    /// The same site rule as recording: another site's referral and an unknown one are both 404.
    func list(_ input: Operations.ListOutcomes.Input) async throws -> Operations.ListOutcomes.Output {
        let actor = try OperationRequest.caller()
        let referral = try OperationRequest.id(input.path.id)
        let outcomes = try await pool.sessionTransaction { session -> [Listed] in
            try ServiceUseRoutes.requireVisible(referral, to: actor, session)
            var measures: [Listed] = []
            for row in try session.query(
                """
                SELECT instrument, timepoint, scores::text AS scores, recorded_at, recorded_by FROM outcome_measure
                WHERE referral_id = \(referral)::uuid ORDER BY instrument,
                    array_position(ARRAY['baseline', 'follow-up-6w', 'follow-up-12w', 'closure'], timepoint)
                """)
            {
                measures.append(
                    Listed(
                        instrument: try row.decode("instrument"), timepoint: try row.decode("timepoint"),
                        scores: try JSONCoding.stored.decode([String: Double].self, from: try row.decode("scores", as: String.self)),
                        recordedAt: try row.decode("recorded_at"), recordedBy: try row.decode("recorded_by")))
            }
            // The change as recording computes it: this measure's scores minus its instrument's baseline.
            let baselines = Dictionary(
                measures.filter { $0.timepoint == "baseline" }.map { ($0.instrument, $0.scores) }, uniquingKeysWith: { first, _ in first })
            for index in measures.indices where measures[index].timepoint != "baseline" {
                guard let before = baselines[measures[index].instrument] else { continue }
                measures[index].changeFromBaseline = measures[index].scores.reduce(into: [:]) { result, entry in
                    if let old = before[entry.key] { result[entry.key] = ((entry.value - old) * 100).rounded() / 100 }
                }
            }
            return measures
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        referralId: referral.uuidString,
                        outcomes: outcomes.map { measure in
                            .init(
                                instrument: measure.instrument, timepoint: measure.timepoint, scores: .init(additionalProperties: measure.scores),
                                changeFromBaseline: measure.changeFromBaseline.map { .init(additionalProperties: $0) }, recordedAt: measure.recordedAt,
                                recordedBy: measure.recordedBy)
                        }))))
    }

    func record(_ input: Operations.RecordOutcome.Input) async throws -> Operations.RecordOutcome.Output {
        let actor = try OperationRequest.caller()
        let referral = try OperationRequest.id(input.path.id)
        // Scored and checked here: how many answers, and their range, depend on the instrument.
        let body: Body
        switch input.body {
        case .json(let submission): body = try convertJSON(submission, to: Body.self)
        }
        var errors: [ProblemDetails.FieldError] = []
        let instrument = OutcomeInstrument.all.first { $0.code == body.instrument }
        if instrument == nil {
            errors.append(.init(pointer: "/instrument", detail: "must be one of \(OutcomeInstrument.all.map(\.code).joined(separator: ", "))"))
        }
        if !Self.timepoints.contains(body.timepoint ?? "") {
            errors.append(.init(pointer: "/timepoint", detail: "must be one of \(Self.timepoints.joined(separator: ", "))"))
        }
        if body.answers == nil { errors.append(.init(pointer: "/answers", detail: "is required")) }
        var scores: [String: Double] = [:]
        if let instrument, let answers = body.answers {
            switch instrument.score(answers) {
            case .success(let scored): scores = scored
            case .failure(let failure):
                errors += failure.problems.map { .init(pointer: $0.item.map { "/answers/\($0)" } ?? "/answers", detail: $0.message) }
            }
        }
        guard errors.isEmpty, let instrument, let timepoint = body.timepoint, let answers = body.answers else {
            throw ProblemDetails.validation(errors)
        }
        let scored = scores
        let json = try JSONCoding.stored.encodeText(scored)
        let stream = stream
        let recorded = try await pool.sessionTransaction { session -> Recorded in
            guard
                let pathway = try session.query(
                    """
                    SELECT site, client_id, consent_evaluation_use, now() AS recorded_at FROM pathway WHERE referral_id = \(referral)::uuid FOR SHARE
                    """
                ).first,
                case let site = try pathway.decode("site", as: String.self),
                actor.mayWork(at: site)
            else { throw ProblemDetails.noSuchResource }
            let inserted = try session.query(
                """
                INSERT INTO outcome_measure (referral_id, instrument, timepoint, answers, scores, recorded_by)
                VALUES (\(referral)::uuid, \(instrument.code), \(timepoint), \(answers.map { $0! })::int[], \(json)::jsonb, \(actor.subject))
                ON CONFLICT DO NOTHING
                """
            ).affectedRows
            guard inserted == 1 else {
                throw ProblemDetails(
                    status: .conflict, title: "Already recorded", detail: "\(instrument.code) at \(timepoint) is already recorded for this referral")
            }
            var change: [String: Double]?
            if timepoint != "baseline",
                let baseline = try session.query(
                    """
                    SELECT scores::text AS scores FROM outcome_measure WHERE referral_id = \(referral)::uuid AND instrument = \(instrument.code) AND timepoint = 'baseline'
                    """
                ).first
            {
                let before = try JSONCoding.stored.decode([String: Double].self, from: try baseline.decode("scores", as: String.self))
                change = scored.reduce(into: [:]) { result, entry in
                    if let old = before[entry.key] { result[entry.key] = ((entry.value - old) * 100).rounded() / 100 }
                }
            }
            if let stream, try pathway.decode("consent_evaluation_use", as: Bool.self) {
                try stream.publishOutcome(
                    referral: referral, client: try pathway.decode("client_id"), site: site, instrument: instrument.code, timepoint: timepoint,
                    scores: scored, recordedAt: try pathway.decode("recorded_at"), on: session)
            }
            return Recorded(
                referralId: referral.uuidString, instrument: instrument.code, timepoint: timepoint,
                scores: .init(additionalProperties: scored), changeFromBaseline: change.map { .init(additionalProperties: $0) })
        }
        return .created(.init(body: .json(recorded)))
    }
}

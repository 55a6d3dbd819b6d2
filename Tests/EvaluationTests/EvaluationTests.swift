import Contracts
import Domain
import EvaluationService
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaClient
import Logging
import Messaging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@Suite("Evaluation: pathway projection and outcome measures against PostgreSQL", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct EvaluationTests {
    @Test("a scripted pathway produces the right projection, ignoring a stale status event")
    func pathway() async throws {
        let test = try await Fixture.host()
        let host = test.host
        let referral = UUID()
        let t0 = Date(timeIntervalSince1970: 1_795_000_000)
        func status(_ version: Int, _ from: String, _ to: String, _ action: String, hours: Double, outcome: String? = nil) -> ReferralStatusChangedV1 {
            ReferralStatusChangedV1(
                referralID: referral, referralVersion: version, site: "ottawa-west-chc", from: from, to: to, action: action,
                actorRole: "link-worker", actorID: "lw", reason: nil, outcome: outcome, changedAt: t0.addingTimeInterval(hours * 3600))
        }
        let connection = UUID()
        let resource = UUID()
        try await Fixture.deliver(
            [
                ReferralReceivedV1(
                    referralID: referral, referralVersion: 1, clientID: UUID(), site: "ottawa-west-chc", referrerID: "dr", referrerRole: "physician",
                    needs: ["loneliness", "housing"], interests: [], supportLevel: "medium", priority: "routine", preferredLanguage: "fr", postalArea: "K1Y",
                    coordinates: nil, ageBand: "75+", accessibilityNeeds: [], preferredChannel: "sms",
                    consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), receivedAt: t0),
                status(2, "received", "accepted", "accept", hours: 2),
                status(3, "accepted", "in-progress", "start", hours: 26),
                NeedUnmetV1(
                    referralID: referral, referralVersion: 1, site: "ottawa-west-chc", categories: ["housing"], reason: "none", area: "K1Y", recordedAt: t0),
                ConnectionProposedV1(
                    connectionID: connection, referralID: referral, referralVersion: 3, resourceID: resource, resourceKind: "health-champion-group",
                    categories: ["loneliness"], proposedAt: t0.addingTimeInterval(30 * 3600)),
                ConnectionChangedV1(
                    connectionID: connection, referralID: referral, referralVersion: 3, resourceID: resource, from: "accepted", to: "enrolled",
                    reason: nil, changedAt: t0.addingTimeInterval(48 * 3600)),
                status(4, "in-progress", "completed", "complete", hours: 500, outcome: "connected"),
                status(2, "received", "accepted", "accept", hours: 2),  // redelivered out of order
            ], to: test)
        let row = try #require(
            try await host.components.pool.withConnection { connection -> PostgresRow? in
                try await connection.query(
                    """
                    SELECT status, pathway_version, extract(epoch FROM first_contact_at - received_at)::int AS contact_seconds,
                           extract(epoch FROM connected_at - received_at)::int AS connect_seconds, connection_count, connected_resource_kind,
                           closure_outcome, closed_at IS NOT NULL AS closed
                    FROM pathway
                    """
                ).first
            })
        #expect(try row.decode("status", as: String.self) == "completed")
        #expect(try row.decode("pathway_version", as: Int.self) == 4)
        #expect(try row.decode("contact_seconds", as: Int.self) == 26 * 3600)
        #expect(try row.decode("connect_seconds", as: Int.self) == 48 * 3600)
        #expect(try row.decode("connection_count", as: Int.self) == 1)
        #expect(try row.decode("connected_resource_kind", as: String.self) == "health-champion-group")
        #expect(try row.decode("closure_outcome", as: String.self) == "connected")
        let unmet = try await host.components.pool.withConnection {
            try await $0.query("SELECT category FROM unmet_need").map { try $0.decode("category", as: String.self) }
        }
        #expect(unmet == ["housing"])
        await test.tearDown()
    }

    @Test("outcome measures are validated (every problem listed), scored server-side, and compared with baseline")
    func outcomes() async throws {
        let test = try await Fixture.host()
        let host = test.host
        let referral = UUID()
        try await Fixture.deliver(
            [
                ReferralReceivedV1(
                    referralID: referral, referralVersion: 1, clientID: UUID(), site: "ottawa-west-chc", referrerID: "dr",
                    referrerRole: "physician", needs: ["loneliness"], interests: [], supportLevel: "light", priority: "routine", preferredLanguage: "en",
                    postalArea: nil, coordinates: nil, ageBand: "45-64", accessibilityNeeds: [], preferredChannel: "sms",
                    consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), receivedAt: Date())
            ], to: test)
        let worker = try await test.token(.linkWorker, subject: "lw", site: "ottawa-west-chc")
        try await host.application.test(.router) { client in
            func post(_ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/referrals/\(referral)/outcomes", method: .post,
                    headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"], body: ByteBuffer(string: body))
            }
            let invalid = try await post(#"{"instrument": "ucla3", "timepoint": "baseline", "answers": [1, 0, 7, 2]}"#)
            #expect(invalid.status == .unprocessableContent)
            let errors =
                try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: invalid.body).utf8)) as? [String: Any])["errors"] as? [[String: String]]
            #expect(Set(errors?.compactMap { $0["pointer"] } ?? []) == ["/answers", "/answers/1", "/answers/2"])
            #expect(try await post(#"{"instrument": "mood", "timepoint": "later", "answers": []}"#).status == .unprocessableContent)

            let baseline = try await post(#"{"instrument": "ucla3", "timepoint": "baseline", "answers": [3, 3, 2]}"#)
            #expect(baseline.status == .created)
            #expect(try await post(#"{"instrument": "ucla3", "timepoint": "baseline", "answers": [1, 1, 1]}"#).status == .conflict)
            let followUp = try await post(#"{"instrument": "ucla3", "timepoint": "follow-up-12w", "answers": [2, 1, 1]}"#)
            #expect(followUp.status == .created)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: followUp.body).utf8)) as? [String: Any])
            #expect((body["scores"] as? [String: Double])?["total"] == 4)
            #expect((body["changeFromBaseline"] as? [String: Double])?["total"] == -4)
            let swemwbs = try await post(#"{"instrument": "swemwbs", "timepoint": "baseline", "answers": [3, 3, 3, 3, 3, 3, 3]}"#)
            let metric =
                try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: swemwbs.body).utf8)) as? [String: Any])["scores"] as? [String: Double]
            #expect(metric?["raw"] == 21)
            #expect(metric?["metric"] == 19.25)
        }
        await test.tearDown()
    }

    @Test("recorded outcomes are listed back by instrument and timepoint, with their change from baseline, to their site only")
    func listedOutcomes() async throws {
        let test = try await Fixture.host()
        let host = test.host
        let referral = UUID()
        try await Fixture.deliver(
            [
                ReferralReceivedV1(
                    referralID: referral, referralVersion: 1, clientID: UUID(), site: "ottawa-west-chc", referrerID: "dr",
                    referrerRole: "physician", needs: ["loneliness"], interests: [], supportLevel: "light", priority: "routine", preferredLanguage: "fr",
                    postalArea: nil, coordinates: nil, ageBand: "45-64", accessibilityNeeds: [], preferredChannel: "sms",
                    consent: Consent(contact: true, shareWithPartners: false, evaluationUse: false), receivedAt: Date())
            ], to: test)
        let worker = try await test.token(.linkWorker, subject: "lw", site: "ottawa-west-chc")
        let elsewhere = try await test.token(.linkWorker, subject: "lw-east", site: "rural-east")
        try await host.application.test(.router) { client in
            func list(_ token: String, _ id: UUID = referral) async throws -> TestResponse {
                try await client.execute(uri: "/v1/referrals/\(id)/outcomes", method: .get, headers: [.authorization: "Bearer \(token)"])
            }
            func listed(_ response: TestResponse) throws -> [[String: Any]] {
                let body = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
                #expect((body["referralId"] as? String) == referral.uuidString)
                return try #require(body["outcomes"] as? [[String: Any]])
            }
            let empty = try await list(worker)
            #expect(empty.status == .ok)
            #expect(try listed(empty).isEmpty)
            // Recorded out of order: the six-week measure before its baseline, ONS4 between them.
            for body in [
                #"{"instrument": "ucla3", "timepoint": "follow-up-6w", "answers": [2, 1, 2]}"#,
                #"{"instrument": "ons4", "timepoint": "closure", "answers": [7, 8, 6, 3]}"#,
                #"{"instrument": "ucla3", "timepoint": "baseline", "answers": [3, 2, 3]}"#,
            ] {
                let recorded = try await client.execute(
                    uri: "/v1/referrals/\(referral)/outcomes", method: .post,
                    headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"], body: ByteBuffer(string: body))
                #expect(recorded.status == .created)
            }
            let outcomes = try listed(try await list(worker))
            #expect(outcomes.map { "\($0["instrument"] ?? "")/\($0["timepoint"] ?? "")" } == ["ons4/closure", "ucla3/baseline", "ucla3/follow-up-6w"])
            #expect((outcomes[1]["scores"] as? [String: Double])?["total"] == 8)
            #expect(outcomes[1]["changeFromBaseline"] == nil)
            #expect((outcomes[2]["scores"] as? [String: Double])?["total"] == 5)
            #expect((outcomes[2]["changeFromBaseline"] as? [String: Double])?["total"] == -3)
            // ONS4 has no baseline: no change, only its scores; the answers never come back.
            #expect(outcomes[0]["changeFromBaseline"] == nil && (outcomes[0]["scores"] as? [String: Double])?["anxiety"] == 3)
            #expect(outcomes.allSatisfy { $0["answers"] == nil && ($0["recordedBy"] as? String) == "lw" && $0["recordedAt"] is String })
            // Another site's link worker, and a referral no one has heard of: the same 404.
            #expect(try await list(elsewhere).status == .notFound)
            #expect(try await list(worker, UUID()).status == .notFound)
            let noToken = try await client.execute(uri: "/v1/referrals/\(referral)/outcomes", method: .get)
            #expect(noToken.status == .unauthorized)
        }
        await test.tearDown()
    }
}

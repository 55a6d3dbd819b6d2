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
}

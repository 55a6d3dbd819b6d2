import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceRuntime
import TestSupport
import Testing

@Suite("Evaluation: service use before and after a referral", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct ServiceUseTests {
    @Test("counts are validated (every problem listed), stored per period, merged, and compared")
    func serviceUse() async throws {
        let test = try await Fixture.host()
        let referral = UUID()
        try await Fixture.deliver([Fixture.received(referral)], to: test)
        let worker = try await test.token(.linkWorker, subject: "lw", site: Fixture.site)
        let elsewhere = try await test.token(.linkWorker, subject: "lw2", site: "another-site")
        try await test.host.application.test(.router) { client in
            func put(_ body: String, token: String? = nil, id: UUID? = nil) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/referrals/\(id ?? referral)/service-use", method: .put,
                    headers: [.authorization: "Bearer \(token ?? worker)", .contentType: "application/json"], body: ByteBuffer(string: body))
            }
            let invalid = try await put(#"{"before": {"primaryCareVisits": -1, "emergencyVisits": 400}, "after": {}}"#)
            #expect(invalid.status == .unprocessableContent)
            let errors =
                try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: invalid.body).utf8)) as? [String: Any])["errors"] as? [[String: String]]
            #expect(Set(errors?.compactMap { $0["pointer"] } ?? []) == ["/before/primaryCareVisits", "/before/emergencyVisits", "/after"])
            #expect(try await put("{}").status == .unprocessableContent)
            #expect(try await put(#"{"before": {"emergencyVisits": 1}}"#, token: elsewhere).status == .notFound)
            #expect(try await put(#"{"before": {"emergencyVisits": 1}}"#, id: UUID()).status == .notFound)

            #expect(try await put(#"{"before": {"primaryCareVisits": 6, "emergencyVisits": 3}}"#).status == .ok)
            let both = try await put(#"{"after": {"primaryCareVisits": 2}}"#)
            #expect(both.status == .ok)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: both.body).utf8)) as? [String: Any])
            #expect((body["before"] as? [String: Int]) == ["primaryCareVisits": 6, "emergencyVisits": 3])
            #expect((body["change"] as? [String: Int]) == ["primaryCareVisits": -4])
            let coordinator = try await test.token(.networkCoordinator)
            let read = try await client.execute(uri: "/v1/referrals/\(referral)/service-use", method: .get, headers: [.authorization: "Bearer \(coordinator)"])
            #expect(read.status == .ok)
            // Analysts see aggregates only, never one referral's counts.
            let analyst = try await test.token(.analyst)
            let refused = try await client.execute(uri: "/v1/referrals/\(referral)/service-use", method: .get, headers: [.authorization: "Bearer \(analyst)"])
            #expect(refused.status == .forbidden)
        }
        await test.tearDown()
    }
}

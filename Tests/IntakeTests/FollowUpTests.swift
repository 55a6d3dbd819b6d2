import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Messaging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import IntakeService

@Suite("Intake: follow-up clocks", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct FollowUpTests {
    static let site = "ottawa-west-chc"

    func accepted(_ fixture: IntakeFixture, _ client: some TestClientProtocol, worker: String = "lw-amina") async throws -> String {
        let created = try await client.post("/v1/referrals", token: try await fixture.token(.referrer), body: referralBody())
        let id = try #require(try json(created)["id"] as? String)
        try await act(fixture, client, id, #"{"action": "accept"}"#, worker: worker)
        return id
    }

    func act(_ fixture: IntakeFixture, _ client: some TestClientProtocol, _ id: String, _ body: String, worker: String = "lw-amina") async throws {
        let token = try await fixture.token(.linkWorker, subject: worker, site: Self.site)
        let response = try await client.post("/v1/referrals/\(id)/transitions", token: token, body: ByteBuffer(string: body))
        #expect(response.status == .ok, "\(body): \(String(buffer: response.body))")
    }

    func step(_ fixture: IntakeFixture, _ id: String, _ step: String) async throws -> PostgresRow? {
        try await fixture.pool.withConnection {
            try await $0.query(
                PostgresQuery(
                    unsafeSQL: "SELECT * FROM \"\(fixture.schema)\".follow_up_step WHERE referral_id = $1::uuid AND step = $2", parameters: [id, step])
            ).first
        }
    }

    func clock(_ fixture: IntakeFixture) -> FollowUpClock {
        FollowUpClock(pool: fixture.pool, outbox: fixture.host.components.outbox, gate: ReadinessGate(), logger: TestEnvironment.logger)
    }

    func overdueEvents(_ fixture: IntakeFixture) async throws -> [[String: Any]] {
        try await fixture.events("passerelle.referral.overdue.v1").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    @Test("a first contact not made in time is raised once and escalated once, whatever the replicas, rounds and restarts")
    func overdueOnce() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await accepted(fixture, client)
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let read = try json(try await client.get("/v1/referrals/\(id)", token: worker))
            let next = try #require(read["nextStep"] as? [String: Any])
            #expect(next["step"] as? String == "first-contact")
            #expect(next["overdue"] as? Bool == false)
            #expect(read["ownerId"] as? String == "lw-amina")

            let row = try #require(try await step(fixture, id, "first-contact"))
            let due: Date = try row.decode("due_at")
            let escalate: Date = try row.decode("escalate_at")
            #expect(due > Date().addingTimeInterval(86_400), "two working days, at least a day away")
            #expect(escalate > due)

            #expect(try await clock(fixture).round(now: due.addingTimeInterval(-60)) == 0)
            // Three replicas at the moment it falls due, then a restarted one.
            let late = due.addingTimeInterval(60)
            let first = clock(fixture)
            let second = clock(fixture)
            let third = clock(fixture)
            async let a = first.round(now: late)
            async let b = second.round(now: late)
            async let c = third.round(now: late)
            _ = try await (a, b, c)
            try await clock(fixture).round(now: late)
            var events = try await overdueEvents(fixture)
            #expect(events.count == 1)
            #expect(events.first?["level"] as? String == "overdue")
            #expect(events.first?["step"] as? String == "first-contact")
            #expect(events.first?["ownerID"] as? String == "lw-amina")

            let later = escalate.addingTimeInterval(60)
            async let d = first.round(now: later)
            async let e = second.round(now: later)
            _ = try await (d, e)
            try await clock(fixture).round(now: later.addingTimeInterval(86_400 * 30))
            events = try await overdueEvents(fixture)
            #expect(events.map { $0["level"] as? String } == ["overdue", "escalated"])
            // Each raise moved the referral's version on, in order.
            #expect(events.map { $0["referralVersion"] as? Int } == [3, 4])
            // A contact now meets the step: nothing more is due.
            let contact = try await client.post(
                "/v1/referrals/\(id)/contacts", token: worker, body: ByteBuffer(string: #"{"mode": "phone", "reached": false, "minutes": 1}"#))
            #expect(contact.status == .created)
            #expect(try json(try await client.get("/v1/referrals/\(id)", token: worker))["nextStep"] == nil)
        }
        await fixture.tearDown()
    }

    @Test("an attempt meets the first contact; starting opens the follow-ups; a conversation in a follow-up's window meets it; closing closes the rest")
    func stepsFollowThePathway() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await accepted(fixture, client)
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            // A call to the referrer is not a contact with the client.
            _ = try await client.post(
                "/v1/referrals/\(id)/contacts", token: worker,
                body: ByteBuffer(string: #"{"mode": "phone", "party": "referrer", "reached": true, "minutes": 5}"#))
            #expect(try await step(fixture, id, "first-contact")?.decode("met_at", as: Date?.self) == nil)
            _ = try await client.post(
                "/v1/referrals/\(id)/contacts", token: worker, body: ByteBuffer(string: #"{"mode": "phone", "reached": false, "minutes": 1}"#))
            #expect(try await step(fixture, id, "first-contact")?.decode("met_at", as: Date?.self) != nil)

            try await act(fixture, client, id, #"{"action": "start"}"#)
            let sixWeeks = try #require(try await step(fixture, id, "follow-up-6w"))
            let opened: Date = try sixWeeks.decode("opened_at")
            #expect(abs(try sixWeeks.decode("due_at", as: Date.self).timeIntervalSince(opened) - 42 * 86_400) < 1)
            #expect(try await step(fixture, id, "follow-up-12w") != nil)
            let next = try #require(try json(try await client.get("/v1/referrals/\(id)", token: worker))["nextStep"] as? [String: Any])
            #expect(next["step"] as? String == "follow-up-6w")

            // Too early to count as the six-week follow-up.
            let talk = ByteBuffer(string: #"{"mode": "in-person", "reached": true, "minutes": 30}"#)
            _ = try await client.post("/v1/referrals/\(id)/contacts", token: worker, body: talk)
            #expect(try await step(fixture, id, "follow-up-6w")?.decode("met_at", as: Date?.self) == nil)
            // Five weeks on (the step's clock moved back a week short of due), it does.
            try await fixture.pool.withConnection {
                try await $0.execute(
                    PostgresQuery(
                        unsafeSQL:
                            "UPDATE \"\(fixture.schema)\".follow_up_step SET due_at = now() + interval '7 days' WHERE referral_id = $1::uuid AND step = 'follow-up-6w'",
                        parameters: [id]))
            }
            _ = try await client.post("/v1/referrals/\(id)/contacts", token: worker, body: talk)
            #expect(try await step(fixture, id, "follow-up-6w")?.decode("met_at", as: Date?.self) != nil)
            #expect(try await step(fixture, id, "follow-up-12w")?.decode("met_at", as: Date?.self) == nil)

            try await act(fixture, client, id, #"{"action": "complete", "outcome": "connected"}"#)
            #expect(try await step(fixture, id, "follow-up-12w")?.decode("closed_at", as: Date?.self) != nil)
            try await clock(fixture).round(now: Date().addingTimeInterval(86_400 * 400))
            #expect(try await overdueEvents(fixture).isEmpty)
        }
        await fixture.tearDown()
    }

    @Test("a long hold is raised once per hold: resuming meets it, holding again starts a new clock")
    func holdReview() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await accepted(fixture, client)
            try await act(fixture, client, id, #"{"action": "hold", "reason": "in hospital"}"#)
            let due: Date = try #require(try await step(fixture, id, "hold-review")).decode("due_at")
            try await clock(fixture).round(now: due.addingTimeInterval(1))
            try await clock(fixture).round(now: due.addingTimeInterval(2))
            // (The first contact, never made, is raised and escalated too.)
            func holdReviews() async throws -> [String?] {
                try await overdueEvents(fixture).filter { $0["step"] as? String == "hold-review" }.map { $0["level"] as? String }
            }
            #expect(try await holdReviews() == ["overdue"])
            try await act(fixture, client, id, #"{"action": "resume"}"#)
            #expect(try await step(fixture, id, "hold-review")?.decode("met_at", as: Date?.self) != nil)
            try await act(fixture, client, id, #"{"action": "hold", "reason": "travelling"}"#)
            let again: Date = try #require(try await step(fixture, id, "hold-review")).decode("due_at")
            try await clock(fixture).round(now: again.addingTimeInterval(1))
            #expect(try await holdReviews() == ["overdue", "overdue"])
        }
        await fixture.tearDown()
    }

    @Test("a site's coordinators set its clocks, its link workers read them; anyone else's site is unknown; the caseload filters by owner")
    func policyAndCaseload() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let standard = try json(try await client.get("/v1/sites/\(Self.site)/follow-up-policy", token: worker))
            #expect(standard["custom"] as? Bool == false)
            #expect((standard["policy"] as? [String: Any])?["followUpWeeks"] as? [Int] == [6, 12])
            #expect(try await client.get("/v1/sites/rural-east/follow-up-policy", token: worker).status == .notFound)
            #expect(try await client.get("/v1/sites/NOT_A_SITE/follow-up-policy", token: worker).status == .notFound)

            let policy = #"{"firstContactWorkingDays": 5, "followUpWeeks": [12, 4], "maxHoldDays": 14, "escalateAfterWorkingDays": 2, "holidays": "none"}"#
            func put(_ token: String, _ body: String = policy, site: String = Self.site) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/sites/\(site)/follow-up-policy", method: .put, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                    body: ByteBuffer(string: body))
            }
            #expect(try await put(worker).status == .forbidden)
            let coordinator = try await fixture.token(.coordinator, subject: "coord", site: Self.site)
            let set = try await put(coordinator)
            #expect(set.status == .ok)
            #expect((try json(set)["policy"] as? [String: Any])?["followUpWeeks"] as? [Int] == [4, 12])
            let bad = try await put(
                coordinator,
                #"{"firstContactWorkingDays": 0, "followUpWeeks": [6, 6], "maxHoldDays": 14, "escalateAfterWorkingDays": 2, "timeZone": "Mars/Olympus"}"#)
            #expect(bad.status == .unprocessableContent)
            for pointer in ["/firstContactWorkingDays", "/followUpWeeks", "/timeZone"] {
                #expect(String(buffer: bad.body).contains(#""pointer":"\#(pointer)""#), "\(pointer)")
            }

            // The site's policy times the next acceptance: five working days, weekends only.
            let id = try await accepted(fixture, client)
            let row = try #require(try await step(fixture, id, "first-contact"))
            let opened: Date = try row.decode("opened_at")
            let expected = WorkingCalendar(rule: .none).addingWorkingDays(5, to: opened)
            #expect(abs(try row.decode("due_at", as: Date.self).timeIntervalSince(expected)) < 1)
            #expect(expected.timeIntervalSince(opened) > 5 * 86_400, "five whole working days, not the standard two")

            _ = try await accepted(fixture, client, worker: "lw-ben")
            let mine = try json(try await client.get("/v1/referrals?owner=me", token: worker))
            #expect((mine["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            #expect(try await client.get("/v1/referrals?owner=%01", token: worker).status == .unprocessableContent)
        }
        await fixture.tearDown()
    }
}

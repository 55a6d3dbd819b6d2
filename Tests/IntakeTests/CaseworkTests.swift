import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IntakeService
import ServiceRuntime
import TestSupport
import Testing

@Suite("Intake: casework — contacts, plan, goals, notes", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct CaseworkTests {
    static let site = "ottawa-west-chc"

    /// A referral at `site`, accepted by a link worker unless `accept` is false; returns its id.
    func referral(_ fixture: IntakeFixture, _ client: some TestClientProtocol, accept: Bool = true, given: String = "Élodie") async throws -> String {
        let referrer = try await fixture.token(.referrer)
        let created = try await client.post("/v1/referrals", token: referrer, body: referralBody(given: given))
        #expect(created.status == .created)
        let id = try #require(try json(created)["id"] as? String)
        if accept {
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let accepted = try await client.post("/v1/referrals/\(id)/transitions", token: worker, body: ByteBuffer(string: #"{"action": "accept"}"#))
            #expect(accepted.status == .ok)
        }
        return id
    }

    func array(_ response: TestResponse) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [[String: Any]])
    }

    func put(_ client: some TestClientProtocol, _ uri: String, token: String, body: String) async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .put, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: ByteBuffer(string: body))
    }

    @Test("a link worker logs contacts, agrees a plan with goals and reviews one; events carry codes and minutes, never the words")
    func caseworkDay() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await referral(fixture, client)
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let attempt = try await client.post(
                "/v1/referrals/\(id)/contacts", token: worker,
                body: ByteBuffer(string: #"{"mode": "phone", "reached": false, "minutes": 2, "note": "voicemail, left my number"}"#))
            #expect(attempt.status == .created)
            #expect(attempt.headers[.location] == "/v1/referrals/\(id.lowercased())/contacts")
            let reached = try await client.post(
                "/v1/referrals/\(id)/contacts", token: worker,
                body: ByteBuffer(
                    string: #"{"mode": "in-person", "party": "client", "reached": true, "minutes": 45, "note": "worried about her late husband's bills"}"#))
            #expect(reached.status == .created)
            let contacts = try array(try await client.get("/v1/referrals/\(id)/contacts", token: worker))
            #expect(contacts.map { $0["reached"] as? Bool } == [false, true])
            #expect(contacts.map { $0["minutes"] as? Int } == [2, 45])
            #expect(contacts[0]["party"] as? String == "client")
            #expect(contacts[1]["authorId"] as? String == "lw-amina")

            let plan = try await put(client, "/v1/referrals/\(id)/plan", token: worker, body: #"{"whatMatters": "  Seeing people again on Sundays  "}"#)
            #expect(plan.status == .ok)
            #expect(try json(plan)["whatMatters"] as? String == "Seeing people again on Sundays")
            var goalIDs: [String] = []
            for (domain, words) in [("social-connection", "join the Sunday choir"), ("money", "apply for the survivor pension")] {
                let goal = try await client.post(
                    "/v1/referrals/\(id)/goals", token: worker, body: ByteBuffer(string: #"{"lifeDomain": "\#(domain)", "description": "\#(words)"}"#))
                #expect(goal.status == .created)
                #expect(try json(goal)["progress"] as? String == "not-started")
                goalIDs.append(try #require(try json(goal)["id"] as? String))
            }
            let review = try await client.post(
                "/v1/referrals/\(id)/goals/\(goalIDs[0])/reviews", token: worker, body: ByteBuffer(string: #"{"progress": "partly-achieved"}"#))
            #expect(review.status == .ok)
            #expect(try json(review)["progress"] as? String == "partly-achieved")
            #expect(try json(review)["reviewedAt"] != nil)
            let read = try json(try await client.get("/v1/referrals/\(id)/plan", token: worker))
            #expect((read["goals"] as? [[String: Any]])?.map { $0["lifeDomain"] as? String } == ["social-connection", "money"])

            // Thin events, in the referral's version order: codes, counts and minutes only.
            let logged = try await fixture.events("passerelle.contact.logged.v1")
            let set = try await fixture.events("passerelle.goal.set.v1")
            let reviewed = try await fixture.events("passerelle.goal.reviewed.v1")
            #expect((logged.count, set.count, reviewed.count) == (2, 2, 1))
            for event in logged + set + reviewed {
                for words in ["voicemail", "husband", "Sunday", "choir", "pension", "Élodie"] {
                    #expect(!event.contains(words), "an event carries \(words): \(event)")
                }
            }
            let versions = try (logged + set + reviewed).map { event in
                try #require(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any])["referralVersion"] as? Int
            }
            // received = 1, accepted = 2, then one per casework event.
            #expect(versions == [3, 4, 5, 6, 7])
            #expect(reviewed[0].contains(#""previousProgress":"not-started""#) && reviewed[0].contains(#""progress":"partly-achieved""#))
            let after = try json(try await client.get("/v1/referrals/\(id)", token: worker))
            #expect(after["version"] as? Int == 7)
        }
        await fixture.tearDown()
    }

    @Test("only the casework team of the referral's site reaches it; private notes are read by them alone, each read audited")
    func access() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await referral(fixture, client)
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let note = try await client.post("/v1/referrals/\(id)/notes", token: worker, body: ByteBuffer(string: #"{"body": "Prefers calls after 2 pm."}"#))
            #expect(note.status == .created)
            let colleague = try await fixture.token(.linkWorker, subject: "lw-ben", site: Self.site)
            #expect(
                try array(try await client.get("/v1/referrals/\(id)/notes", token: colleague)).map { $0["body"] as? String } == ["Prefers calls after 2 pm."])
            #expect(try await fixture.count("audit_log", where: "action = 'read:notes'") == 1)

            let outsiders: [(Role, String, String?, HTTPResponse.Status)] = [
                (.linkWorker, "lw-east", "rural-east", .notFound),  // another site's referral is an unknown one
                (.linkWorker, "lw-nowhere", nil, .notFound),
                (.referrer, "dr-tremblay", nil, .forbidden),  // even the referral's own referrer
                (.analyst, "analyst", nil, .forbidden),
                (.service, "matching", nil, .forbidden),
            ]
            for (role, subject, site, expected) in outsiders {
                let token = try await fixture.token(role, subject: subject, site: site)
                for path in ["notes", "contacts", "plan"] {
                    #expect(try await client.get("/v1/referrals/\(id)/\(path)", token: token).status == expected, "\(role) \(subject) GET \(path)")
                }
                let posted = try await client.post(
                    "/v1/referrals/\(id)/contacts", token: token, body: ByteBuffer(string: #"{"mode": "phone", "reached": true, "minutes": 5}"#))
                #expect(posted.status == expected, "\(role) \(subject) POST contacts")
            }
            #expect(try await client.get("/v1/referrals/\(id)/notes", token: nil).status == .unauthorized)
            // An unknown referral answers as another site's does.
            #expect(try await client.get("/v1/referrals/\(UUID())/notes", token: worker).status == .notFound)
            #expect(try await fixture.count("casework_contact") == 0)
        }
        await fixture.tearDown()
    }

    @Test("casework changes only while the referral is open; notes are kept whatever the status")
    func openReferralsOnly() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await referral(fixture, client, accept: false)
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let contact = ByteBuffer(string: #"{"mode": "phone", "reached": true, "minutes": 5}"#)
            let early = try await client.post("/v1/referrals/\(id)/contacts", token: worker, body: contact)
            #expect(early.status == .conflict)
            #expect(String(buffer: early.body).contains("received"))
            #expect(try await put(client, "/v1/referrals/\(id)/plan", token: worker, body: #"{"whatMatters": "x"}"#).status == .conflict)
            let reject = try await client.post(
                "/v1/referrals/\(id)/transitions", token: worker, body: ByteBuffer(string: #"{"action": "reject", "reason": "already supported"}"#))
            #expect(reject.status == .ok)
            #expect(
                try await client.post("/v1/referrals/\(id)/notes", token: worker, body: ByteBuffer(string: #"{"body": "Seen by the CHC's social worker."}"#))
                    .status == .created)
            #expect(
                try await client.post("/v1/referrals/\(id)/goals", token: worker, body: ByteBuffer(string: #"{"lifeDomain": "money", "description": "x"}"#))
                    .status == .conflict)
            #expect(try await fixture.events("passerelle.contact.logged.v1").isEmpty)
        }
        await fixture.tearDown()
    }

    @Test("a retried request with the same key is logged once; another caller's key is their own; bad input is a 422 at its field")
    func retriesAndBadInput() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await referral(fixture, client)
            let other = try await referral(fixture, client, given: "Marc")
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let colleague = try await fixture.token(.linkWorker, subject: "lw-ben", site: Self.site)
            let body = #"{"mode": "video", "reached": true, "minutes": 30}"#
            let first = try await client.post("/v1/referrals/\(id)/contacts", token: worker, body: ByteBuffer(string: body), headers: [.idempotencyKey: "1"])
            let again = try await client.post("/v1/referrals/\(id)/contacts", token: worker, body: ByteBuffer(string: body), headers: [.idempotencyKey: "1"])
            #expect((first.status, again.status) == (.created, .ok))
            #expect(try json(first)["id"] as? String == json(again)["id"] as? String)
            let theirs = try await client.post(
                "/v1/referrals/\(id)/contacts", token: colleague, body: ByteBuffer(string: body), headers: [.idempotencyKey: "1"])
            #expect(theirs.status == .created)
            #expect(try json(theirs)["id"] as? String != json(first)["id"] as? String)
            #expect(try await fixture.count("casework_contact") == 2)
            #expect(try await fixture.events("passerelle.contact.logged.v1").count == 2)
            // A key is taken as sent, percent signs and all: %00 is three characters, not a NUL,
            // and names another request than %2500.
            var keyed: [String] = []
            for key in ["%00+a,b", "%00+a,b", "%2500+a,b"] {
                let note = try await client.post(
                    "/v1/referrals/\(other)/notes", token: worker, body: ByteBuffer(string: #"{"body": "keyed"}"#), headers: [.idempotencyKey: key])
                #expect(note.status == (keyed.isEmpty || key != "%00+a,b" ? .created : .ok), "\(key)")
                keyed.append(try #require(try json(note)["id"] as? String))
            }
            #expect(keyed[0] == keyed[1] && keyed[1] != keyed[2])

            let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
            let invalid: [(String, String, String)] = [
                ("contacts", #"{"mode": "phone", "reached": true, "minutes": 601}"#, "/minutes"),
                ("contacts", #"{"mode": "pigeon", "reached": true, "minutes": 1}"#, "/mode"),
                ("contacts", #"{"mode": "phone", "reached": true, "minutes": 1, "occurredAt": "\#(future)"}"#, "/occurredAt"),
                ("contacts", #"{"mode": "phone", "reached": true, "minutes": 1, "occurredAt": "2001-01-01T00:00:00Z"}"#, "/occurredAt"),
                ("contacts", #"{"mode": "phone", "reached": true, "minutes": 1, "occurredAt": null}"#, "/occurredAt"),
                ("contacts", #"{"mode": "phone", "reached": true, "minutes": 1, "note": "\#(String(repeating: "é", count: 501))"}"#, "/note"),
                ("contacts", #"{"mode": "phone", "reached": true, "minutes": 1, "note": "a\u0000b"}"#, "/note"),
                ("goals", #"{"lifeDomain": "astrology", "description": "x"}"#, "/lifeDomain"),
                ("goals", #"{"lifeDomain": "money", "description": " \n "}"#, "/description"),
                ("notes", #"{"body": ""}"#, "/body"),
            ]
            for (path, body, pointer) in invalid {
                let response = try await client.post("/v1/referrals/\(id)/\(path)", token: worker, body: ByteBuffer(string: body))
                #expect(response.status == .unprocessableContent, "\(body)")
                #expect(String(buffer: response.body).contains(#""pointer":"\#(pointer)""#), "\(body): \(String(buffer: response.body))")
            }
            // A required member missing is refused as the body is read (400 at its pointer).
            let unreached = try await client.post("/v1/referrals/\(id)/contacts", token: worker, body: ByteBuffer(string: #"{"mode": "phone", "minutes": 1}"#))
            #expect(unreached.status == .badRequest)
            #expect(String(buffer: unreached.body).contains(#""pointer":"/reached""#))
            // A 10 MB note is refused before it is read.
            let huge = try await client.post(
                "/v1/referrals/\(id)/notes", token: worker, body: ByteBuffer(string: #"{"body": "\#(String(repeating: "x", count: 10_000_000))"}"#))
            #expect(huge.status == .contentTooLarge)
            // A goal is reviewed only through its own referral.
            let goal = try await client.post(
                "/v1/referrals/\(id)/goals", token: worker, body: ByteBuffer(string: #"{"lifeDomain": "money", "description": "budget"}"#))
            let goalID = try #require(try json(goal)["id"] as? String)
            let crossed = try await client.post(
                "/v1/referrals/\(other)/goals/\(goalID)/reviews", token: worker, body: ByteBuffer(string: #"{"progress": "achieved"}"#))
            #expect(crossed.status == .notFound)
            #expect(
                try await client.post("/v1/referrals/\(id)/goals/not-a-uuid/reviews", token: worker, body: ByteBuffer(string: #"{"progress": "achieved"}"#))
                    .status == .notFound)
            #expect(try await fixture.events("passerelle.goal.reviewed.v1").isEmpty)
            #expect(try await fixture.count("casework_contact") == 2)
            #expect(try await fixture.count("casework_note") == 2, "the two keyed notes, none of the refused ones")
        }
        await fixture.tearDown()
    }

    @Test("after assessment the support level is revised with a reason: the event carries the two levels, never the words")
    func supportLevelRevision() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await referral(fixture, client)
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            let path = "/v1/referrals/\(id)/support-level"
            let revised = try await put(client, path, token: worker, body: #"{"supportLevel": "holistic", "reason": "lives alone since her husband died"}"#)
            #expect(revised.status == .ok)
            #expect(try json(revised)["supportLevel"] as? String == "holistic")
            #expect(try json(revised)["version"] as? Int == 3, "received 1, accepted 2, revised 3")
            // The same level again: nothing changes, nothing is published.
            let again = try await put(client, path, token: worker, body: #"{"supportLevel": "holistic", "reason": "checked again"}"#)
            #expect(again.status == .ok)
            #expect(try json(again)["version"] as? Int == 3)
            let events = try await fixture.events("passerelle.referral.support-level-changed.v1")
            #expect(events.count == 1)
            #expect(events.first?.contains(#""from":"light""#) == true && events.first?.contains(#""to":"holistic""#) == true)
            #expect(events.first?.contains("husband") == false)
            #expect(try await fixture.count("support_level_revision", where: "reason = 'lives alone since her husband died'") == 1)

            // Bad input is a 422 at its field; nothing is changed.
            let unknown = try await put(client, path, token: worker, body: #"{"supportLevel": "maximal", "reason": "x"}"#)
            #expect(unknown.status == .unprocessableContent)
            let blank = try await put(client, path, token: worker, body: #"{"supportLevel": "medium", "reason": "  "}"#)
            #expect(blank.status == .unprocessableContent)
            #expect(String(buffer: blank.body).contains("/reason"))
            let nul = try await put(client, path, token: worker, body: #"{"supportLevel": "medium", "reason": "a\u0000b"}"#)
            #expect(nul.status == .unprocessableContent)
            let long = try await put(client, path, token: worker, body: #"{"supportLevel": "medium", "reason": "\#(String(repeating: "x", count: 501))"}"#)
            #expect(long.status == .unprocessableContent)
            let huge = try await put(
                client, path, token: worker, body: #"{"supportLevel": "medium", "reason": "\#(String(repeating: "x", count: 10_000_000))"}"#)
            #expect(huge.status == .contentTooLarge)
            // Another site's link worker, and the referrer, cannot.
            let stranger = try await fixture.token(.linkWorker, subject: "lw-rural", site: "rural-east")
            #expect(try await put(client, path, token: stranger, body: #"{"supportLevel": "medium", "reason": "x"}"#).status == .notFound)
            let referrer = try await fixture.token(.referrer)
            #expect(try await put(client, path, token: referrer, body: #"{"supportLevel": "medium", "reason": "x"}"#).status == .forbidden)
            // A referral not yet accepted is not assessed yet.
            let waiting = try await referral(fixture, client, accept: false, given: "Paul")
            #expect(
                try await put(client, "/v1/referrals/\(waiting)/support-level", token: worker, body: #"{"supportLevel": "medium", "reason": "x"}"#).status
                    == .conflict)
            #expect(try await fixture.events("passerelle.referral.support-level-changed.v1").count == 1)
        }
        await fixture.tearDown()
    }

    @Test("erasing the client takes their casework with them")
    func erasure() async throws {
        let fixture = try await IntakeFixture.make()
        try await fixture.host.application.test(.router) { client in
            let id = try await referral(fixture, client)
            let worker = try await fixture.token(.linkWorker, subject: "lw-amina", site: Self.site)
            _ = try await client.post(
                "/v1/referrals/\(id)/contacts", token: worker, body: ByteBuffer(string: #"{"mode": "phone", "reached": true, "minutes": 5, "note": "n"}"#))
            _ = try await put(client, "/v1/referrals/\(id)/plan", token: worker, body: #"{"whatMatters": "her garden"}"#)
            let goal = try await client.post(
                "/v1/referrals/\(id)/goals", token: worker, body: ByteBuffer(string: #"{"lifeDomain": "housing", "description": "fix the roof"}"#))
            _ = try await client.post(
                "/v1/referrals/\(id)/goals/\(try #require(try json(goal)["id"] as? String))/reviews", token: worker,
                body: ByteBuffer(string: #"{"progress": "started", "note": "quote received"}"#))
            _ = try await client.post("/v1/referrals/\(id)/notes", token: worker, body: ByteBuffer(string: #"{"body": "lives alone"}"#))
            let clientID = try #require(try json(try await client.get("/v1/referrals/\(id)", token: worker))["clientId"] as? String)
            let coordinator = try await fixture.token(.coordinator, subject: "coord", site: Self.site)
            #expect(
                try await client.execute(uri: "/v1/clients/\(clientID)", method: .delete, headers: [.authorization: "Bearer \(coordinator)"]).status
                    == .noContent)
            for table in ["casework_contact", "casework_plan", "casework_goal", "casework_goal_review", "casework_note"] {
                #expect(try await fixture.count(table) == 0, "\(table) keeps rows of an erased client")
            }
        }
        await fixture.tearDown()
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IntakeService
import NIOCore
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

/// What the single read of a referral adds to the view (the screening answers), and the status
/// history its readers follow; both only for those who may read the referral.
@Suite("Intake: a referral's screening answers and status history", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct ReferralHistoryTests {
    /// Codes and answers as a careless or foreign-language referrer types them: accents, other
    /// scripts, emoji, quotes and backslashes, the longest code and answer intake takes.
    static let answers: [String: String] = [
        "isolement-1": "Souvent — elle ne sort plus depuis l'hiver",
        "lives-alone": "oui",
        "langue_préférée": "français (créole haïtien à la maison)",
        "社交": "很少见朋友 🙂",
        "quote\"and\\slash": "« guillemets » et \"doubles\" \\ barre",
        String(repeating: "q", count: 64): String(repeating: "é", count: 500),
        "empty": "",
        // Decomposed (e + combining acute): Swift's == would take the composed form for it.
        "de\u{301}compose\u{301}": "re\u{301}ponse",
    ]

    /// The answers as UTF-8 bytes, so that a normalisation on the way would show.
    static func bytes(_ answers: [String: String]?) -> [[UInt8]] {
        (answers ?? [:]).sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }.flatMap { [Array($0.key.utf8), Array($0.value.utf8)] }
    }

    static func body(answers: [String: String]?, given: String = "Élodie", referrer: String = "dr-tremblay") throws -> ByteBuffer {
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(String(buffer: referralBody(given: given, referrer: referrer)).utf8)) as? [String: Any])
        if let answers { object["screeningAnswers"] = answers }
        return ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    @Test("the screening answers come back exactly on the single read only, to its readers; no event, list or change answer carries them")
    func screeningAnswers() async throws {
        let fixture = try await IntakeFixture.make()
        let referrer = try await fixture.token(.referrer)
        let worker = try await fixture.token(.linkWorker, subject: "lw-1", site: "ottawa-west-chc")
        try await fixture.host.application.test(.router) { client in
            let created = try await client.post("/v1/referrals", token: referrer, body: try Self.body(answers: Self.answers))
            #expect(created.status == .created)
            #expect(try json(created)["screeningAnswers"] == nil, "the submission's answer is the view, without the answers")
            let id = try #require(try json(created)["id"] as? String)

            for (token, who) in [
                (referrer, "the referrer who sent it"), (worker, "a link worker of its site"),
                (try await fixture.token(.coordinator, subject: "coord", site: "ottawa-west-chc"), "its site's coordinator"),
                (try await fixture.token(.networkCoordinator, subject: "net", site: nil), "a network coordinator"),
            ] {
                let read = try await client.get("/v1/referrals/\(id.lowercased())", token: token)
                #expect(read.status == .ok, "\(who)")
                #expect(try json(read)["screeningAnswers"] as? [String: String] == Self.answers, "\(who) reads the answers as sent")
                #expect(Self.bytes(try json(read)["screeningAnswers"] as? [String: String]) == Self.bytes(Self.answers), "byte for byte")
                #expect(try json(read)["id"] as? String == id)
            }
            for (token, who) in [
                (try await fixture.token(.referrer, subject: "dr-other"), "another referrer of the site"),
                (try await fixture.token(.linkWorker, subject: "lw-9", site: "rural-east"), "another site's link worker"),
            ] {
                let read = try await client.get("/v1/referrals/\(id)", token: token)
                #expect(read.status == .notFound, "\(who)")
                #expect(!String(buffer: read.body).contains("oui"))
            }

            // Lists carry no free text about the person, and neither do the answers of changes.
            let inbox = try await client.get("/v1/referrals", token: worker)
            let items = try #require(try json(inbox)["items"] as? [[String: Any]])
            #expect(items.contains { $0["id"] as? String == id })
            #expect(items.allSatisfy { $0["screeningAnswers"] == nil })
            #expect(!String(buffer: inbox.body).contains("isolement"))
            let accepted = try await client.post("/v1/referrals/\(id)/transitions", token: worker, body: ByteBuffer(string: #"{"action": "accept"}"#))
            #expect(accepted.status == .ok)
            #expect(try json(accepted)["screeningAnswers"] == nil)

            // A referral sent without answers reads with none.
            let bare = try json(try await client.post("/v1/referrals", token: referrer, body: try Self.body(answers: nil, given: "Sans")))["id"] as! String
            #expect(try json(try await client.get("/v1/referrals/\(bare)", token: worker))["screeningAnswers"] as? [String: String] == [:])
        }
        // No event of any kind holds an answer or a code.
        let outbox = try await fixture.pool.withConnection {
            try await $0.query(PostgresQuery(unsafeSQL: "SELECT payload FROM \"\(fixture.schema)\".outbox")).map { try $0.decode("payload", as: String.self) }
        }
        #expect(!outbox.isEmpty)
        for payload in outbox {
            for word in ["isolement", "lives-alone", "Souvent", "guillemets", "社交", "很少见朋友", "créole"] {
                #expect(!payload.contains(word), "an event carries « \(word) »")
            }
        }
        #expect(try await fixture.count("audit_log", where: "action = 'read'") == 5, "each successful read is audited, refused ones are not")
        await fixture.tearDown()
    }

    @Test("the status history lists every step in order with who took it and why, for those who may read the referral")
    func statusHistory() async throws {
        let fixture = try await IntakeFixture.make()
        let referrer = try await fixture.token(.referrer)
        let worker = try await fixture.token(.linkWorker, subject: "lw-1", site: "ottawa-west-chc")
        let coordinator = try await fixture.token(.coordinator, subject: "coord", site: "ottawa-west-chc")
        try await fixture.host.application.test(.router) { client in
            let id = try json(try await client.post("/v1/referrals", token: referrer, body: try Self.body(answers: Self.answers)))["id"] as! String
            let steps: [(action: String, reason: String?, outcome: String?, token: String)] = [
                ("accept", nil, nil, worker), ("start", nil, nil, worker),
                ("hold", "Hospitalisée à Montfort — « reprise » dans 2 semaines", nil, worker),
                ("resume", nil, nil, coordinator), ("complete", nil, "Va au café des aînés deux fois par semaine", worker),
            ]
            for step in steps {
                var fields: [String: String] = ["action": step.action]
                fields["reason"] = step.reason
                fields["outcome"] = step.outcome
                let response = try await client.post(
                    "/v1/referrals/\(id)/transitions", token: step.token, body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: fields)))
                #expect(response.status == .ok, "\(step.action)")
            }

            let response = try await client.get("/v1/referrals/\(id)/history", token: worker)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            let history = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [[String: Any]])
            #expect(history.count == 6)
            #expect(history.map { $0["version"] as? Int } == [1, 2, 3, 4, 5, 6])
            #expect(history.map { $0["from"] as? String } == [nil, "received", "accepted", "in-progress", "on-hold", "in-progress"])
            #expect(history.map { $0["to"] as? String } == ["received", "accepted", "in-progress", "on-hold", "in-progress", "completed"])
            #expect(history.map { $0["action"] as? String } == [nil, "accept", "start", "hold", "resume", "complete"])
            #expect(history.map { $0["reason"] as? String } == [nil, nil, nil, steps[2].reason, nil, nil])
            #expect(history.map { $0["outcome"] as? String } == [nil, nil, nil, nil, nil, steps[4].outcome])
            #expect(history.map { $0["actorId"] as? String } == ["dr-tremblay", "lw-1", "lw-1", "lw-1", "coord", "lw-1"])
            #expect(history.map { $0["actorRoles"] as? String } == ["referrer", "link-worker", "link-worker", "link-worker", "coordinator", "link-worker"])
            let times = history.compactMap { ($0["at"] as? String).flatMap { try? Date($0, strategy: .iso8601) } }
            #expect(times.count == 6 && times == times.sorted(), "each step has its time, in order")
            // The steps say who took them; nothing of the client (nor their screening answers).
            for word in ["Élodie", "Gagnon", "1948", "isolement", "Souvent"] { #expect(!String(buffer: response.body).contains(word)) }

            // Who may read it: who may read the referral.
            let readers: [(Role, String, String?, HTTPResponse.Status)] = [
                (.referrer, "dr-tremblay", "ottawa-west-chc", .ok), (.referrer, "dr-other", "ottawa-west-chc", .notFound),
                (.referrer, "dr-tremblay", "rural-east", .notFound),
                (.linkWorker, "lw-2", "ottawa-west-chc", .ok), (.linkWorker, "lw-9", "rural-east", .notFound),
                (.coordinator, "coord", "ottawa-west-chc", .ok), (.coordinator, "coord-rural", "rural-east", .notFound),
                (.coordinator, "coord-siteless", nil, .notFound), (.networkCoordinator, "coord-network", nil, .ok),
                (.analyst, "analyst", "ottawa-west-chc", .forbidden), (.service, "svc", "ottawa-west-chc", .forbidden),
                (.ehrIntegration, "ehr", "ottawa-west-chc", .forbidden),
            ]
            for (role, subject, site, expected) in readers {
                let read = try await client.get("/v1/referrals/\(id)/history", token: try await fixture.token(role, subject: subject, site: site))
                #expect(read.status == expected, "\(role) \(subject) at \(site ?? "no site")")
                if expected != .ok {
                    #expect(!String(buffer: read.body).contains("Montfort"), "a refusal says nothing of the history")
                    #expect(read.headers[.contentType] == "application/problem+json")
                }
            }
            #expect(try await client.get("/v1/referrals/\(id)/history", token: nil).status == .unauthorized)
            #expect(try await client.get("/v1/referrals/\(UUID().uuidString)/history", token: worker).status == .notFound, "an unknown referral")
            #expect(try await client.get("/v1/referrals/not-a-uuid/history", token: worker).status == .notFound, "an id that names nothing")
            #expect(try await client.get("/v1/referrals/\(id.lowercased())/history", token: worker).status == .ok, "ids are case-insensitive")

            // A new referral's history is its submission alone.
            let fresh = try json(try await client.post("/v1/referrals", token: referrer, body: try Self.body(answers: nil, given: "Nouvelle")))["id"] as! String
            let first = try #require(
                try JSONSerialization.jsonObject(with: Data(String(buffer: try await client.get("/v1/referrals/\(fresh)/history", token: referrer).body).utf8))
                    as? [[String: Any]])
            #expect(first.count == 1 && first[0]["to"] as? String == "received" && first[0]["from"] == nil && first[0]["action"] == nil)
        }
        // Each successful read is audited; refused ones are not.
        #expect(try await fixture.count("audit_log", where: "action = 'read:history'") == 7)
        await fixture.tearDown()
    }
}

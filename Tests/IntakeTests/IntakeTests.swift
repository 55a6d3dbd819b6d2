import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IntakeService
import KafkaClient
import Logging
import Messaging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

/// Intake on a schema and topic prefix of its own; the relay is not running, so the outbox
/// shows exactly which events each request wrote.
struct IntakeFixture {
    let test: ServiceTestHost
    var host: ServiceHost { test.host }
    var schema: String { test.schema }
    var id: String { String(schema.dropFirst("intake_".count)) }
    var pool: PostgresConnectionPool { test.pool }

    static func make(environment: [String: String] = [:]) async throws -> IntakeFixture {
        IntakeFixture(test: try await ServiceTestHost.make(IntakeService.self, environment: environment))
    }

    func token(_ role: Role, subject: String = "dr-tremblay", site: String? = ServiceTestHost.fixtureSite, sites: [String]? = nil) async throws -> String {
        try await test.token(role, subject: subject, site: site, sites: sites)
    }

    func count(_ table: String, where condition: String = "true") async throws -> Int {
        try await pool.withConnection {
            try await $0.query(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \"\(schema)\".\(table) WHERE \(condition)")).first!.decode("n", as: Int.self)
        }
    }

    func events(_ type: String) async throws -> [String] {
        try await pool.withConnection {
            try await $0.query(PostgresQuery(unsafeSQL: "SELECT payload FROM \"\(schema)\".outbox WHERE event_type = $1 ORDER BY id", parameters: [type]))
                .map { try $0.decode("payload", as: String.self) }
        }
    }

    func tearDown() async {
        await test.tearDown()
    }
}

func referralBody(
    given: String = "Élodie", family: String = "Gagnon", postal: String = "K1Y 4E9", site: String = "ottawa-west-chc", priority: String = "routine",
    externalId: String? = nil, referrer: String = "dr-tremblay", interests: [String] = ["Walking"]
) -> ByteBuffer {
    let external = externalId.map { "\"externalId\": \"\($0)\"," } ?? ""
    let interests = String(decoding: try! JSONEncoder().encode(interests), as: UTF8.self)
    return ByteBuffer(
        string: """
            {\(external) "client": {"givenName": "\(given)", "familyName": "\(family)", "birthDate": "1948-05-12", "contact": {"phone": "+1 613 555 0142"},
                        "preferredLanguage": "fr", "postalCode": "\(postal)", "preferredChannel": "sms"},
             "referrer": {"id": "\(referrer)", "role": "physician"}, "site": "\(site)", "needs": ["loneliness", "physical-activity"],
             "interests": \(interests), "supportLevel": "light", "priority": "\(priority)",
             "consent": {"contact": true, "shareWithPartners": false, "evaluationUse": true}}
            """)
}

func json(_ response: TestResponse) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
}

extension TestClientProtocol {
    func post(_ uri: String, token: String, body: ByteBuffer, headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
        headers.append(contentsOf: extra)
        return try await execute(uri: uri, method: .post, headers: headers, body: body)
    }

    func get(_ uri: String, token: String?) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: token.map { [.authorization: "Bearer \($0)"] } ?? [:])
    }
}

@Suite("Intake: referrals, transitions, consent and access", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct IntakeTests {
    @Test("interests are kept as typed, and only the codes of the interest list travel on the event")
    func interestsStayAsTyped() async throws {
        let fixture = try await IntakeFixture.make()
        let referrer = try await fixture.token(.referrer)
        try await fixture.host.application.test(.router) { client in
            let typed = ["Walking", "Board games", "visiting Marc at Maison Bruyère", "walking"]
            let created = try await client.post("/v1/referrals", token: referrer, body: referralBody(interests: typed))
            #expect(created.status == .created)
            #expect(try json(created)["interests"] as? [String] == ["walking", "board games", "visiting marc at maison bruyère", "walking"])
            let received = try #require(try await fixture.events("passerelle.referral.received.v1").first)
            let event = try #require(try JSONSerialization.jsonObject(with: Data(received.utf8)) as? [String: Any])
            #expect(event["interests"] as? [String] == ["walking", "board-games"])
            #expect(!received.lowercased().contains("marc") && !received.lowercased().contains("bruy"))
        }
        await fixture.tearDown()
    }

    @Test("a referral is stored with a thin received event and a client profile; the right people can read it")
    func submitAndRead() async throws {
        let fixture = try await IntakeFixture.make()
        let referrer = try await fixture.token(.referrer)
        try await fixture.host.application.test(.router) { client in
            let created = try await client.post("/v1/referrals", token: referrer, body: referralBody())
            #expect(created.status == .created)
            let body = try json(created)
            let id = try #require(body["id"] as? String)
            #expect(created.headers[.location] == "/v1/referrals/\(id.lowercased())")
            #expect(body["status"] as? String == "received")
            #expect(body["interests"] as? [String] == ["walking"])

            let received = try await fixture.events("passerelle.referral.received.v1")
            #expect(received.count == 1)
            // Whole values: a fragment such as "555" also turns up in random ids.
            for forbidden in ["Élodie", "Gagnon", "1948-05-12", "555 0142", "5550142", "K1Y 4E9"] {
                #expect(!received[0].contains(forbidden), "the received event carries no \(forbidden)")
            }
            #expect(received[0].contains("\"postalArea\":\"K1Y\""))
            #expect(received[0].contains("\"ageBand\":\"75+\""))
            #expect(try await fixture.events("passerelle.client.profile.v1").count == 1)

            let readers: [(Role, String, String?, HTTPResponse.Status)] = [
                (.referrer, "dr-tremblay", "ottawa-west-chc", .ok), (.referrer, "dr-other", "ottawa-west-chc", .notFound),
                (.referrer, "dr-tremblay", "rural-east", .notFound),
                (.linkWorker, "lw-1", "ottawa-west-chc", .ok), (.linkWorker, "lw-2", "rural-east", .notFound),
                (.coordinator, "coord", "ottawa-west-chc", .ok), (.coordinator, "coord-rural", "rural-east", .notFound),
                (.coordinator, "coord-siteless", nil, .notFound), (.networkCoordinator, "coord-network", nil, .ok),
                (.analyst, "analyst", "ottawa-west-chc", .forbidden),
            ]
            for (role, subject, site, expected) in readers {
                let response = try await client.get("/v1/referrals/\(id)", token: try await fixture.token(role, subject: subject, site: site))
                #expect(response.status == expected, "\(role) \(subject)")
            }
            #expect(try await client.get("/v1/referrals/\(id)", token: nil).status == .unauthorized)

            // Who may send: referrers in their own name, coordinators, services; each to their own sites.
            for (role, subject, site, expected) in [
                (Role.analyst, "an", "ottawa-west-chc", HTTPResponse.Status.forbidden), (.linkWorker, "lw-1", "ottawa-west-chc", .forbidden),
                (.referrer, "dr-someone-else", "ottawa-west-chc", .forbidden), (.service, "svc", "ottawa-west-chc", .created),
                (.service, "svc-rural", "rural-east", .forbidden), (.coordinator, "coord-rural", "rural-east", .forbidden),
                (.ehrIntegration, "ehr", "ottawa-west-chc", .forbidden),
            ] as [(Role, String, String, HTTPResponse.Status)] {
                let response = try await client.post(
                    "/v1/referrals", token: try await fixture.token(role, subject: subject, site: site),
                    body: referralBody(given: "Other\(subject)"))
                #expect(response.status == expected, "\(role) sending")
            }
            let anonymous = try await client.execute(uri: "/v1/referrals", method: .post, headers: [.contentType: "application/json"], body: referralBody())
            #expect(anonymous.status == .unauthorized)
            let audit = try await client.get("/v1/referrals/\(id)/audit", token: try await fixture.token(.networkCoordinator, subject: "coord"))
            #expect(audit.status == .ok)
            let trail = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: audit.body).utf8)) as? [[String: Any]])
            #expect(trail.first?["action"] as? String == "create")
            #expect(trail.filter { $0["action"] as? String == "read" }.count == 4, "every successful read is audited")
        }
        await fixture.tearDown()
    }

    @Test("every invalid field is reported with its pointer, and nothing is stored")
    func validation() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.networkCoordinator)
        let bad = ByteBuffer(
            string: """
                {"client": {"givenName": "", "familyName": "X", "birthDate": "2999-02-30", "contact": {"phone": "abc", "email": "nope"},
                            "preferredLanguage": "french", "postalCode": "??", "preferredChannel": "pigeon"},
                 "referrer": {"id": "dr-x", "role": "wizard"}, "site": "Not A Site", "needs": ["loneliness", "flying"],
                 "supportLevel": "maximal", "priority": "asap", "consent": {"contact": true, "shareWithPartners": true, "evaluationUse": "yes"}}
                """)
        try await fixture.host.application.test(.router) { client in
            // A member of the wrong JSON type, or a required one missing, is refused as the body is read (400 at its pointer).
            let unreadable = try await client.post("/v1/referrals", token: token, body: bad)
            #expect(unreadable.status == .badRequest)
            #expect(String(buffer: unreadable.body).contains(#""pointer":"/consent/evaluationUse""#))
            let incomplete = try await client.post(
                "/v1/referrals", token: token,
                body: ByteBuffer(string: String(buffer: bad).replacingOccurrences(of: #", "evaluationUse": "yes""#, with: "")))
            #expect(incomplete.status == .badRequest)
            #expect(String(buffer: incomplete.body).contains(#""pointer":"/consent/evaluationUse""#))
            // Every member the service checks itself is reported at once.
            let response = try await client.post(
                "/v1/referrals", token: token, body: ByteBuffer(string: String(buffer: bad).replacingOccurrences(of: #""yes""#, with: "true")))
            #expect(response.status == .unprocessableContent)
            #expect(response.headers[.contentType] == "application/problem+json")
            let errors = try #require(try json(response)["errors"] as? [[String: String]])
            let pointers = Set(errors.compactMap { $0["pointer"] })
            for expected in [
                "/site", "/needs/1", "/supportLevel", "/priority", "/referrer/role", "/client/givenName", "/client/birthDate", "/client/contact/phone",
                "/client/contact/email", "/client/preferredLanguage",
                "/client/postalCode", "/client/preferredChannel",
            ] {
                #expect(pointers.contains(expected), "reports \(expected)")
            }
            let future = try await client.post(
                "/v1/referrals", token: token,
                body: ByteBuffer(string: String(buffer: referralBody()).replacingOccurrences(of: "1948-05-12", with: "2999-01-01")))
            #expect(future.status == .unprocessableContent)
            let wrongType = try await client.post("/v1/referrals", token: token, body: ByteBuffer(string: #"{"needs": "loneliness"}"#))
            #expect(wrongType.status == .badRequest)
            let tooBig = try await client.post(
                "/v1/referrals", token: token, body: ByteBuffer(string: "{\"notes\": \"\(String(repeating: "x", count: 2 << 20))\"}"))
            #expect(tooBig.status == .contentTooLarge)
            #expect(tooBig.headers[.contentType] == "application/problem+json")
        }
        #expect(try await fixture.count("referral") == 0)
        #expect(try await fixture.count("client") == 0)
        #expect(try await fixture.count("outbox") == 0)
        await fixture.tearDown()
    }

    @Test("text PostgreSQL cannot store (NUL, unpaired surrogates) is a 422 pointing at each field, on the JSON and FHIR doors; an unknown member is ignored")
    func unstorableText() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.networkCoordinator)
        try await fixture.host.application.test(.router) { client in
            func pointers(_ response: TestResponse) throws -> Set<String> {
                Set((try json(response)["errors"] as? [[String: String]] ?? []).compactMap { $0["pointer"] })
            }
            let base = String(buffer: referralBody())
            let nul = base.replacingOccurrences(
                of: #""supportLevel""#, with: #""notes": "a\u0000b", "screeningAnswers": {"q\u0000": "x", "q2": "y\u0000"}, "supportLevel""#)
            let refusedNul = try await client.post("/v1/referrals", token: token, body: ByteBuffer(string: nul))
            #expect(refusedNul.status == .unprocessableContent)
            #expect(try pointers(refusedNul) == ["/notes", "/screeningAnswers", "/screeningAnswers/q2"])
            let lone = base.replacingOccurrences(of: "Élodie", with: #"\ud800x"#)
            let refusedLone = try await client.post("/v1/referrals", token: token, body: ByteBuffer(string: lone))
            #expect(refusedLone.status == .unprocessableContent)
            #expect(try pointers(refusedLone) == ["/client/givenName"])
            // What the API does not read is not stored, NUL or not.
            let ignored = base.replacingOccurrences(of: #""supportLevel""#, with: #""unknown\u0000": "\u0000", "supportLevel""#)
            let created = try await client.post("/v1/referrals", token: token, body: ByteBuffer(string: ignored))
            #expect(created.status == .created)
            let id = try #require(try json(created)["id"] as? String)
            let transition = try await client.post(
                "/v1/referrals/\(id)/transitions", token: token, body: ByteBuffer(string: #"{"action": "reject", "reason": "no\u0000"}"#))
            #expect(transition.status == .unprocessableContent)
            #expect(try pointers(transition) == ["/reason"])

            let patient = #"{"resourceType": "Patient", "name": [{"family": "G\udc00", "given": ["\u0000"]}], "birthDate": "1948-05-12"}"#
            let fhir = try await client.execute(
                uri: "/fhir/r4/Patient", method: .post,
                headers: [.authorization: "Bearer \(token)", .contentType: "application/fhir+json"], body: ByteBuffer(string: patient))
            #expect(fhir.status == .unprocessableContent)
            #expect(fhir.headers[.contentType] == "application/fhir+json")
            let issues = try #require(try json(fhir)["issue"] as? [[String: Any]])
            // Both refused at once: the unpaired surrogate, and the NUL beside it.
            #expect(Set(issues.compactMap { ($0["expression"] as? [String])?.first }) == ["Patient.name[0].family", "Patient.name[0].given[0]"])
        }
        #expect(try await fixture.count("referral") == 1)
        #expect(try await fixture.count("fhir_patient") == 0)
        await fixture.tearDown()
    }

    @Test("sociodemographics are codes, kept and published for evaluation only with consent, and forgotten when it is withdrawn")
    func sociodemographics() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.networkCoordinator)
        @Sendable func body(given: String, answers: String, evaluationUse: Bool = true) -> ByteBuffer {
            ByteBuffer(
                string: String(buffer: referralBody(given: given))
                    .replacingOccurrences(of: #""preferredChannel": "sms"}"#, with: #""preferredChannel": "sms", "sociodemographics": \#(answers)}"#)
                    .replacingOccurrences(of: #""evaluationUse": true"#, with: #""evaluationUse": \#(evaluationUse)"#))
        }
        try await fixture.host.application.test(.router) { client in
            let bad = try await client.post(
                "/v1/referrals", token: token,
                body: body(given: "Bad", answers: #"{"gender": "female", "incomeBand": "poor", "racialOrEthnicGroup": "martian", "newcomer": true}"#))
            #expect(bad.status == .unprocessableContent)
            let pointers = Set(try #require(try json(bad)["errors"] as? [[String: String]]).compactMap { $0["pointer"] })
            #expect(pointers == ["/client/sociodemographics/gender", "/client/sociodemographics/incomeBand", "/client/sociodemographics/racialOrEthnicGroup"])
            let unconsented = try await client.post(
                "/v1/referrals", token: token, body: body(given: "Sans", answers: #"{"gender": "woman"}"#, evaluationUse: false))
            #expect(unconsented.status == .unprocessableContent)

            let created = try await client.post(
                "/v1/referrals", token: token,
                body: body(given: "Awa", answers: #"{"gender": "woman", "incomeBand": "under-20k", "newcomer": true, "racialOrEthnicGroup": "black"}"#))
            #expect(created.status == .created)
            let received = try await fixture.events("passerelle.referral.received.v1")
            #expect(received.count == 1)
            let event = try #require(try JSONSerialization.jsonObject(with: Data(received[0].utf8)) as? [String: Any])
            let answers = try #require(event["sociodemographics"] as? [String: Any])
            #expect(answers["gender"] as? String == "woman" && answers["incomeBand"] as? String == "under-20k")
            #expect(answers["newcomer"] as? Bool == true && answers["racialOrEthnicGroup"] as? String == "black")

            let clientID = try #require(try json(created)["clientId"] as? String)
            #expect(try await fixture.count("client", where: "sociodemographics->>'gender' = 'woman'") == 1)
            let withdrawn = try await client.execute(
                uri: "/v1/clients/\(clientID)/consent", method: .put, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"contact": true, "shareWithPartners": false, "evaluationUse": false}"#))
            #expect(withdrawn.status == .ok)
        }
        #expect(try await fixture.count("client", where: "sociodemographics IS NOT NULL") == 0)
        #expect(try await fixture.count("referral") == 1)
        await fixture.tearDown()
    }

    @Test("ten concurrent retries with one Idempotency-Key make one referral and one event")
    func concurrentIdempotency() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.referrer)
        try await fixture.host.application.test(.router) { client in
            let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        let response = try await client.post("/v1/referrals", token: token, body: referralBody(), headers: [.idempotencyKey: "same-request"])
                        return (response.status, try json(response)["id"] as? String ?? "")
                    }
                }
                return try await group.reduce(into: [(HTTPResponse.Status, String)]()) { $0.append($1) }
            }
            #expect(results.filter { $0.0 == .created }.count == 1)
            #expect(results.filter { $0.0 == .ok }.count == 9)
            #expect(Set(results.map(\.1)).count == 1, "every answer names the same referral")
            // The external id deduplicates too.
            let first = try await client.post("/v1/referrals", token: token, body: referralBody(externalId: "sr-1"))
            let again = try await client.post("/v1/referrals", token: token, body: referralBody(externalId: "sr-1"))
            #expect(first.status == .created && again.status == .ok)
        }
        #expect(try await fixture.count("referral") == 2)
        #expect(try await fixture.events("passerelle.referral.received.v1").count == 2)
        await fixture.tearDown()
    }

    @Test("another caller's Idempotency-Key is a new request and their externalId a 409 that names nothing of their referral")
    func requestsBelongToTheirCaller() async throws {
        let fixture = try await IntakeFixture.make()
        let west = try await fixture.token(.referrer, subject: "dr-tremblay", site: "ottawa-west-chc")
        let centre = try await fixture.token(.referrer, subject: "np-okafor", site: "ottawa-centretown-chc")
        try await fixture.host.application.test(.router) { client in
            let first = try await client.post("/v1/referrals", token: west, body: referralBody(externalId: "sr-77"), headers: [.idempotencyKey: "1"])
            #expect(first.status == .created)
            let firstID = try json(first)["id"] as? String
            // The same key from someone else: their own referral, not the first caller's.
            let other = try await client.post(
                "/v1/referrals", token: centre,
                body: referralBody(given: "Marcus", family: "Obi", site: "ottawa-centretown-chc", referrer: "np-okafor"), headers: [.idempotencyKey: "1"])
            #expect(other.status == .created)
            let otherView = try json(other)
            #expect(otherView["id"] as? String != firstID)
            #expect(otherView["site"] as? String == "ottawa-centretown-chc")
            // The first caller's retry still answers with their referral.
            let retry = try await client.post("/v1/referrals", token: west, body: referralBody(externalId: "sr-77"), headers: [.idempotencyKey: "1"])
            #expect(retry.status == .ok)
            #expect(try json(retry)["id"] as? String == firstID)
            // Someone else's external id: a conflict that says nothing of the referral.
            let taken = try await client.post(
                "/v1/referrals", token: centre,
                body: referralBody(site: "ottawa-centretown-chc", externalId: "sr-77", referrer: "np-okafor"), headers: [.idempotencyKey: "2"])
            #expect(taken.status == .conflict)
            let text = String(buffer: taken.body)
            for secret in [firstID ?? "-", "ottawa-west-chc", "Gagnon", "received"] {
                #expect(!text.contains(secret), "the conflict reveals \(secret): \(text)")
            }
        }
        #expect(try await fixture.count("referral") == 2)
        #expect(try await fixture.count("idempotency_key") == 2)
        await fixture.tearDown()
    }

    @Test("a second referral for the same person (case, accents, spacing aside) links to the same client")
    func duplicateClient() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.networkCoordinator)
        try await fixture.host.application.test(.router) { client in
            let a = try json(try await client.post("/v1/referrals", token: token, body: referralBody()))
            let b = try json(try await client.post("/v1/referrals", token: token, body: referralBody(given: "elodie", family: "GAGNON", postal: "k1y4e9")))
            let c = try json(try await client.post("/v1/referrals", token: token, body: referralBody(given: "Eloise")))
            #expect(a["clientId"] as? String == b["clientId"] as? String)
            #expect(a["clientId"] as? String != c["clientId"] as? String)
        }
        #expect(try await fixture.count("client") == 2)
        #expect(try await fixture.events("passerelle.client.profile.v1").count == 2)
        await fixture.tearDown()
    }

    @Test("a known client referred again keeps the consent they gave; newer contact details replace stale ones and are published")
    func consentFollowsThePerson() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.coordinator)
        @Sendable func body(phone: String, consent: String, coordinates: String = "") -> ByteBuffer {
            ByteBuffer(
                string: """
                    {"client": {"givenName": "Élodie", "familyName": "Gagnon", "birthDate": "1948-05-12", "contact": {"phone": "\(phone)"},
                                "preferredLanguage": "fr", "postalCode": "K1Y 4E9", "preferredChannel": "sms" \(coordinates)},
                     "referrer": {"id": "dr-tremblay", "role": "physician"}, "site": "ottawa-west-chc", "needs": ["loneliness"],
                     "supportLevel": "light", "priority": "routine", "consent": \(consent)}
                    """)
        }
        try await fixture.host.application.test(.router) { client in
            let first = try json(
                try await client.post(
                    "/v1/referrals", token: token,
                    body: body(phone: "+1 613 555 0142", consent: #"{"contact": true, "shareWithPartners": true, "evaluationUse": true}"#)))
            // The second form says no to everything but contact (a form's defaults) and brings a new number.
            let second = try json(
                try await client.post(
                    "/v1/referrals", token: token,
                    body: body(
                        phone: "+1 613 555 0199", consent: #"{"contact": true, "shareWithPartners": false, "evaluationUse": false}"#,
                        coordinates: #", "coordinates": {"latitude": 45.40712, "longitude": -75.71358}"#)))
            #expect(first["clientId"] as? String == second["clientId"] as? String)
            // Seen again with nothing new: no new profile.
            _ = try await client.post(
                "/v1/referrals", token: token,
                body: body(phone: "+1 613 555 0199", consent: #"{"contact": false, "shareWithPartners": false, "evaluationUse": false}"#))
        }
        #expect(
            try await fixture.count("client", where: "consent_share_with_partners AND consent_evaluation_use AND consent_contact AND phone = '+1 613 555 0199'")
                == 1)
        let profiles = try await fixture.events("passerelle.client.profile.v1")
        #expect(profiles.count == 2, "the first, and the one the new number made")
        #expect(profiles.last?.contains("\"clientVersion\":2") == true && profiles.last?.contains("555 0199") == true)
        #expect(profiles.last?.contains("\"shareWithPartners\":true") == true)
        let received = try await fixture.events("passerelle.referral.received.v1")
        #expect(received.count == 3)
        #expect(
            received.allSatisfy { $0.contains("\"shareWithPartners\":true") && $0.contains("\"evaluationUse\":true") },
            "every referral carries the recorded consent")
        // The location leaves intake on the 0.01° grid only.
        #expect(received[1].contains("45.41") && !received.contains { $0.contains("45.407") || $0.contains("75.713") })
        await fixture.tearDown()
    }

    @Test("the loop: legal transitions advance the version and publish; illegal ones are 409 with the allowed actions")
    func transitions() async throws {
        let fixture = try await IntakeFixture.make()
        let worker = try await fixture.token(.linkWorker, subject: "lw-1", site: "ottawa-west-chc")
        let elsewhere = try await fixture.token(.linkWorker, subject: "lw-9", site: "rural-east")
        try await fixture.host.application.test(.router) { client in
            let id = try json(try await client.post("/v1/referrals", token: try await fixture.token(.referrer), body: referralBody()))["id"] as! String
            func act(_ action: String, reason: String? = nil, outcome: String? = nil, token: String? = nil) async throws -> TestResponse {
                var fields = ["\"action\": \"\(action)\""]
                if let reason { fields.append("\"reason\": \"\(reason)\"") }
                if let outcome { fields.append("\"outcome\": \"\(outcome)\"") }
                return try await client.post(
                    "/v1/referrals/\(id)/transitions", token: token ?? worker, body: ByteBuffer(string: "{\(fields.joined(separator: ","))}"))
            }
            let illegal = try await act("complete", outcome: "x")
            #expect(illegal.status == .conflict)
            #expect(try json(illegal)["allowedActions"] as? [String] == ["accept", "hold", "reject", "cancel"])
            #expect(try await act("accept", token: elsewhere).status == .notFound, "another site's link worker cannot act")
            #expect(try await act("teleport").status == .unprocessableContent)
            #expect(try await act("hold").status == .unprocessableContent, "hold needs a reason")

            for (action, expected) in [("accept", "accepted"), ("start", "in-progress")] {
                let response = try await act(action)
                #expect(response.status == .ok)
                #expect(try json(response)["status"] as? String == expected)
            }
            #expect(try json(try await act("hold", reason: "client in hospital"))["status"] as? String == "on-hold")
            #expect(try json(try await act("resume"))["status"] as? String == "in-progress", "resume returns to the held-from status")
            #expect(try await act("complete").status == .unprocessableContent, "complete needs an outcome")
            let done = try json(try await act("complete", outcome: "connected to walking club"))
            #expect(done["status"] as? String == "completed")
            #expect(done["version"] as? Int == 6)
            let after = try await act("cancel", reason: "too late")
            #expect(after.status == .conflict)
            #expect(try json(after)["allowedActions"] as? [String] == [])
        }
        let changes = try await fixture.events("passerelle.referral.status-changed.v1")
        #expect(changes.count == 5)
        #expect(changes.last?.contains("\"referralVersion\":6") == true)
        // Words a person wrote stay in intake; the event says only that there was an outcome.
        #expect(changes.last?.contains("\"outcome\"") == false)
        #expect(!changes.contains { $0.contains("walking club") || $0.contains("hospital") })
        #expect(try await fixture.count("referral_status_history") == 6)
        #expect(try await fixture.count("referral_status_history", where: "outcome = 'connected to walking club'") == 1)
        await fixture.tearDown()
    }

    @Test("concurrent transitions on one referral cannot both win")
    func concurrentTransitions() async throws {
        let fixture = try await IntakeFixture.make()
        let coordinator = try await fixture.token(.networkCoordinator)
        try await fixture.host.application.test(.router) { client in
            let id = try json(try await client.post("/v1/referrals", token: coordinator, body: referralBody()))["id"] as! String
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        let body = index % 2 == 0 ? #"{"action": "accept"}"# : #"{"action": "reject", "reason": "not appropriate"}"#
                        return try await client.post("/v1/referrals/\(id)/transitions", token: coordinator, body: ByteBuffer(string: body)).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            // accept then reject is a legal sequence; after reject nothing is. At most two succeed, never two of the same.
            #expect(statuses.filter { $0 == .ok }.count >= 1)
            #expect(statuses.allSatisfy { $0 == .ok || $0 == .conflict })
        }
        let changes = try await fixture.events("passerelle.referral.status-changed.v1")
        let accepts = changes.filter { $0.contains("\"action\":\"accept\"") }.count
        let rejects = changes.filter { $0.contains("\"action\":\"reject\"") }.count
        #expect(accepts <= 1 && rejects <= 1 && accepts + rejects >= 1)
        let versions = try await fixture.pool.withConnection {
            try await $0.query(PostgresQuery(unsafeSQL: "SELECT version FROM \"\(fixture.schema)\".referral_status_history ORDER BY version")).map {
                try $0.decode("version", as: Int.self)
            }
        }
        #expect(versions == Array(1...versions.count), "one history row per version, no gaps or doubles")
        await fixture.tearDown()
    }

    @Test("a consent change is published to the clients topic and for each of the client's referrals")
    func consentChange() async throws {
        let fixture = try await IntakeFixture.make()
        let coordinator = try await fixture.token(.networkCoordinator)
        try await KafkaTopicAdmin.createTopics(
            fixture.host.components.settings.topics.provisioning.map { KafkaTopicSpecification(name: $0.name, partitions: 2, configs: $0.configs) },
            configuration: TestEnvironment.kafkaConfiguration, logger: TestEnvironment.logger)
        try await fixture.host.application.test(.router) { client in
            let first = try json(try await client.post("/v1/referrals", token: coordinator, body: referralBody()))
            _ = try await client.post("/v1/referrals", token: coordinator, body: referralBody(site: "rural-east"))
            let clientID = try #require(first["clientId"] as? String)
            // A link worker elsewhere cannot tell the client exists, let alone change their consent;
            // one at a site the client was referred to can.
            let elsewhere = try await fixture.token(.linkWorker, subject: "lw-centre", site: "ottawa-centretown-chc")
            let local = try await fixture.token(.linkWorker, subject: "lw-rural", site: "rural-east")
            let body = #"{"contact": true, "shareWithPartners": true, "evaluationUse": true}"#
            for (token, expected) in [(elsewhere, HTTPResponse.Status.notFound), (local, .ok)] {
                let answer = try await client.execute(
                    uri: "/v1/clients/\(clientID)/consent", method: .put, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                    body: ByteBuffer(string: body))
                #expect(answer.status == expected)
            }
            let changed = try await client.execute(
                uri: "/v1/clients/\(clientID)/consent", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"contact": false, "shareWithPartners": false, "evaluationUse": false}"#))
            #expect(changed.status == .ok)
            // The same consent again (a retry whose answer was lost) changes and publishes nothing.
            let again = try await client.execute(
                uri: "/v1/clients/\(clientID)/consent", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"contact": false, "shareWithPartners": false, "evaluationUse": false}"#))
            #expect(again.status == .ok)
            #expect(try json(again)["contact"] as? Bool == false)
            let incomplete = try await client.execute(
                uri: "/v1/clients/\(clientID)/consent", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"contact": true}"#))
            #expect(incomplete.status == .badRequest)
        }
        // Two referrals for each of the two changes that passed (the link worker's, the coordinator's).
        #expect(try await fixture.events("passerelle.client.consent-changed.v1").count == 4)
        // Through the relay onto the topic.
        let relay = OutboxRelay(
            pool: fixture.pool, producer: fixture.host.components.producer, schema: fixture.schema, gate: ReadinessGate(), logger: TestEnvironment.logger)
        try await relay.publishBatch()
        let referralsTopic = fixture.host.components.settings.topics.name(.referrals)
        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(group: TestEnvironment.uniqueName("g")), topics: [referralsTopic],
            logger: TestEnvironment.logger)
        var consentEvents = 0
        var withdrawn = 0
        var seen = 0
        for await message in consumer.messages {
            seen += 1
            if message.header("ce_type") == "passerelle.client.consent-changed.v1" {
                consentEvents += 1
                if String(decoding: message.value ?? [], as: UTF8.self).contains("\"contact\":false") { withdrawn += 1 }
            }
            if seen == 6 { break }
        }
        await consumer.close()
        #expect(consentEvents == 4)
        #expect(withdrawn == 2, "the coordinator's change, for each referral")
        await fixture.tearDown()
    }

    @Test("a client is read by the link workers of a site they were referred to, each read audited, never their sociodemographics")
    func clientRead() async throws {
        let fixture = try await IntakeFixture.make()
        let coordinator = try await fixture.token(.networkCoordinator)
        try await fixture.host.application.test(.router) { client in
            let first = try json(try await client.post("/v1/referrals", token: coordinator, body: referralBody(site: "rural-east")))
            let clientID = try #require(first["clientId"] as? String)
            let elsewhere = try await fixture.token(.linkWorker, subject: "lw-centre", site: "ottawa-centretown-chc")
            let local = try await fixture.token(.linkWorker, subject: "lw-rural", site: "rural-east")
            let referrer = try await fixture.token(.referrer, subject: "dr-tremblay", site: "rural-east")
            func read(_ token: String, _ id: String = clientID) async throws -> TestResponse {
                try await client.execute(uri: "/v1/clients/\(id)", method: .get, headers: [.authorization: "Bearer \(token)"])
            }
            #expect(try await read(elsewhere).status == .notFound, "another site's link worker cannot tell the client exists")
            #expect(try await read(local, UUID().uuidString).status == .notFound)
            #expect(try await read(referrer).status == .forbidden, "a referrer follows the referral, not the client's file")
            let answer = try await read(local)
            #expect(answer.status == .ok)
            let view = try json(answer)
            #expect(view["givenName"] as? String == "Élodie" && view["familyName"] as? String == "Gagnon")
            #expect(view["id"] as? String == clientID && view["preferredLanguage"] != nil && view["birthDate"] as? String != nil)
            #expect((view["consent"] as? [String: Bool])?["contact"] != nil)
            #expect(view["sociodemographics"] == nil)
            // Only the read that showed the client is on the trail, with who read it.
            #expect(try await fixture.count("audit_log", where: "action = 'read:client' AND client_id = '\(clientID)' AND actor_id = 'lw-rural'") == 1)
            #expect(try await fixture.count("audit_log", where: "action = 'read:client' AND actor_id = 'lw-centre'") == 0)
        }
        await fixture.tearDown()
    }

    @Test("the inbox lists urgent referrals first, then the oldest, in pages, scoped to the sites of the link worker's token")
    func inbox() async throws {
        let fixture = try await IntakeFixture.make()
        let coordinator = try await fixture.token(.networkCoordinator)
        try await fixture.host.application.test(.router) { client in
            var ids: [String: String] = [:]
            for (name, site, priority) in [
                ("a", "ottawa-west-chc", "routine"), ("b", "ottawa-west-chc", "urgent"), ("c", "rural-east", "urgent"),
                ("d", "ottawa-west-chc", "routine"), ("e", "ottawa-west-chc", "urgent"),
            ] {
                let response = try await client.post(
                    "/v1/referrals", token: coordinator, body: referralBody(given: "Client \(name)", site: site, priority: priority))
                ids[name] = try json(response)["id"] as? String
            }
            let worker = try await fixture.token(.linkWorker, subject: "lw-1", site: "ottawa-west-chc")
            var order: [String] = []
            var cursor: String?
            repeat {
                let uri = "/v1/referrals?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try json(try await client.get(uri, token: worker))
                order += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = page["nextCursor"] as? String
            } while cursor != nil
            #expect(order == ["b", "e", "a", "d"].map { ids[$0]! }, "urgent first, oldest first; the worker's own site only")
            // Asking for another site shows none of it.
            let elsewhere = try json(try await client.get("/v1/referrals?site=rural-east&limit=200", token: worker))
            #expect((elsewhere["items"] as? [Any])?.isEmpty == true)
            let all = try json(try await client.get("/v1/referrals?status=received&limit=200", token: coordinator))
            #expect((all["items"] as? [Any])?.count == 5)
            let bad = try await client.get("/v1/referrals?status=lost&limit=0&cursor=bm90LWEtY3Vyc29y", token: coordinator)
            #expect(bad.status == .unprocessableContent)
            for pointer in ["?status", "?limit", "?cursor"] {
                #expect(String(buffer: bad.body).contains(#""pointer":"\#(pointer)""#), "\(pointer)")
            }
            // A parameter that is not even of its type is refused as it is read.
            #expect(try await client.get("/v1/referrals?limit=many", token: coordinator).status == .badRequest)
            #expect(try await client.get("/v1/referrals?since=yesterday", token: coordinator).status == .badRequest)
        }
        await fixture.tearDown()
    }

    @Test("erasing a client deletes them and their referrals, publishes a tombstone and client.erased, and only coordinators may")
    func erasure() async throws {
        let fixture = try await IntakeFixture.make()
        let coordinator = try await fixture.token(.networkCoordinator)
        try await fixture.host.application.test(.router) { client in
            let created = try json(try await client.post("/v1/referrals", token: coordinator, body: referralBody()))
            let clientID = try #require(created["clientId"] as? String)
            // An EHR posted her Patient (with her street address) for a request it never sent.
            let patient = ByteBuffer(
                string: """
                    {"resourceType": "Patient", "id": "pat-unsent", "name": [{"family": "Gagnon", "given": ["Élodie"]}], "birthDate": "1948-05-12",
                     "address": [{"line": ["77 rue Wellington"], "postalCode": "K1Y 4E9"}]}
                    """)
            #expect(try await client.post("/fhir/r4/Patient", token: coordinator, body: patient).status == .created)
            #expect(try await fixture.count("fhir_patient") == 1)
            let worker = try await fixture.token(.linkWorker, subject: "lw-1", site: "ottawa-west-chc")
            #expect(
                try await client.execute(uri: "/v1/clients/\(clientID)", method: .delete, headers: [.authorization: "Bearer \(worker)"]).status == .forbidden)
            #expect(
                try await client.execute(uri: "/v1/clients/\(clientID)", method: .delete, headers: [.authorization: "Bearer \(coordinator)"]).status
                    == .noContent)
            #expect(
                try await client.execute(uri: "/v1/clients/\(clientID)", method: .delete, headers: [.authorization: "Bearer \(coordinator)"]).status
                    == .notFound)
            #expect(try await client.get("/v1/referrals/\(created["id"] as! String)", token: coordinator).status == .notFound)
        }
        #expect(try await fixture.count("client") == 0)
        #expect(try await fixture.count("referral") == 0)
        #expect(try await fixture.count("fhir_patient") == 0, "the Patient naming her identity went with her")
        #expect(try await fixture.events("passerelle.client.erased.v1").count == 1)
        #expect(
            try await fixture.count("outbox", where: "event_type = 'passerelle.tombstone' AND payload IS NULL AND topic LIKE '%passerelle.clients.v1'") == 1)
        await fixture.tearDown()
    }

    @Test("the OpenAPI document is served, valid OpenAPI 3.1, and documents every route")
    func openAPI() async throws {
        let fixture = try await IntakeFixture.make()
        let routes = [
            "GET /openapi.json", "GET /health/live", "GET /health/ready", "GET /metrics", "POST /v1/referrals", "GET /v1/referrals",
            "GET /v1/referrals/{id}", "POST /v1/referrals/{id}/transitions", "GET /v1/referrals/{id}/history", "GET /v1/referrals/{id}/audit",
            "PUT /v1/clients/{id}/consent",
            "DELETE /v1/clients/{id}", "POST /fhir/r4/Patient", "POST /fhir/r4/ServiceRequest", "POST /fhir/r4/Bundle", "GET /fhir/r4/Task",
            "POST /fhir/r4", "GET /fhir/r4/metadata", "GET /fhir/r4/ServiceRequest/{id}", "GET /fhir/r4/Task/{id}", "POST /fhir/r4/Subscription",
            "GET /fhir/r4/Subscription/{id}", "GET /fhir/r4/Subscription/{id}/$status", "DELETE /fhir/r4/Subscription/{id}",
        ]
        let path = NSTemporaryDirectory() + "intake-openapi-\(fixture.id).json"
        try await fixture.host.application.test(.router) { client in
            let response = try await client.get("/openapi.json", token: nil)
            #expect(response.status == .ok)
            try String(buffer: response.body).write(toFile: path, atomically: true, encoding: .utf8)
            // Every documented route reaches a handler (so the document and the router agree).
            let token = try await fixture.token(.networkCoordinator)
            for route in routes {
                let parts = route.split(separator: " ")
                let uri = String(parts[1]).replacingOccurrences(of: "{id}", with: UUID().uuidString)
                let response = try await client.execute(uri: uri, method: HTTPRequest.Method(String(parts[0]))!, headers: [.authorization: "Bearer \(token)"])
                // A handler's 404 ("no referral with that id") names what is missing, in a problem's
                // detail or an OperationOutcome; the router's 404 for an unknown route has neither.
                let routed =
                    try response.status != .notFound || json(response)["detail"] != nil || json(response)["resourceType"] as? String == "OperationOutcome"
                #expect(routed, "\(route) is routed")
            }
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (status, output) = try await ChildProcess.run(
            ["python3", TestEnvironment.repositoryRoot.appendingPathComponent("Tests/IntakeTests/check_openapi.py").path, path] + routes)
        #expect(status == 0, "\(output)")
        await fixture.tearDown()
    }
}

import Contracts
import EvaluationService
import Foundation
import IntakeService
import KafkaClient
import MatchingService
import NotificationService
import PostgresClient
import ServiceRuntime
import Synchronization
import TestSupport
import Testing

/// What identifies the client in this run: unique to the run, so the scan can look at every
/// schema of the database and every topic of the deployment without seeing other tests' data.
struct ClientIdentity: Sendable {
    let run: String
    let givenName = "Élodie"
    let familyName: String
    let birthDate = "1941-03-17"
    let phone: String
    /// Starts with "invalid": the SMTP server refuses it, quoting it back in its reply.
    let email: String
    let street: String
    let latitude = "45.40712"
    let longitude = "-75.71358"
    let accessibilityNote: String
    let holdReason: String
    let dropReason: String
    let outcome: String
    let note: String
    let screeningAnswer: String

    init() {
        // Letters only: names and streets are checked as names and streets are.
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let token = String((0..<10).map { _ in letters.randomElement()! })
        run = token
        familyName = "Gagnon" + token.capitalized
        // Seven random digits: no other test's or benchmark's number is likely to share them.
        phone = "+1 613 \(Int.random(in: 200...999)) \(String(format: "%04d", Int.random(in: 0...9999)))"
        email = "invalid.elodie.\(token)@example.org"
        street = "\(Int.random(in: 100...999)) rue Wellington\(token)"
        accessibilityNote = "rampe à l'arrière de la maison \(token)"
        holdReason = "hospitalisée à Montfort jusqu'à jeudi \(token)"
        dropReason = "a déménagé chez sa fille à Gatineau \(token)"
        outcome = "se sent moins seule depuis le club \(token)"
        note = "vit seule depuis le décès de son mari \(token)"
        screeningAnswer = "ne sort plus depuis l'hiver \(token)"
    }

    /// What no one else in the database can share: the run's token is in each.
    var unique: Set<String> {
        [
            "family name", "phone digits", "phone", "e-mail", "street address", "accessibility note", "hold reason", "drop reason", "outcome", "note",
            "screening answer",
        ]
    }

    /// Every string that identifies her or says something about her, as it would be found.
    var identifying: [String: String] {
        [
            "family name": familyName, "birth date": birthDate, "phone digits": String(phone.filter(\.isNumber)),
            "phone": phone, "e-mail": email, "street address": street, "latitude": latitude, "longitude": longitude,
            "accessibility note": accessibilityNote, "hold reason": holdReason, "drop reason": dropReason, "outcome": outcome, "note": note,
            "screening answer": screeningAnswer,
        ]
    }
}

/// Every record of every topic of a deployment (dead-letter topics included), from the beginning.
func readEverything(_ topics: [String], quietFor: Duration = .seconds(4)) async throws -> [KafkaMessage] {
    let consumer = try KafkaConsumer(
        configuration: TestEnvironment.consumerConfiguration(group: TestEnvironment.uniqueName("scan")), topics: topics, logger: TestEnvironment.logger)
    let seen = Mutex<[KafkaMessage]>([])
    let reader = Task {
        for await message in consumer.messages { seen.withLock { $0.append(message) } }
    }
    // Until nothing new arrives for a while after the group was joined.
    var last = -1
    var quietSince = ContinuousClock.now
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(250))
        let count = seen.withLock { $0.count }
        if count != last || !consumer.hasJoinedGroup {
            last = count
            quietSince = ContinuousClock.now
        } else if ContinuousClock.now - quietSince >= quietFor {
            break
        }
    }
    consumer.stopDelivering()
    await consumer.close()
    reader.cancel()
    return seen.withLock { $0 }
}

@Suite(
    "Erasure: one client walked through the whole loop, erased, and found nowhere", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(4)))
struct ErasureTests {
    @Test("after DELETE /v1/clients/{id}, no table of any schema and no record of any topic identifies her; the clients topic ends in a tombstone")
    func erasureIsComplete() async throws {
        let person = ClientIdentity()
        let deployment = TestDeployment()
        try await deployment.createTopics()
        let logger = TestEnvironment.logger
        let smtp = try await TestPeer(
            script: TestEnvironment.repositoryRoot.appendingPathComponent("Tests/NotificationTests/smtp_sink.py"),
            arguments: ["--out", NSTemporaryDirectory() + "passerelle-erasure-\(person.run).jsonl", "--no-tls"])
        defer { smtp.stop() }
        let receiver = try await WebhookReceiver(unsigned: ["/sms"])
        defer { receiver.stop() }
        var notificationSettings = deployment.settings("notification")
        notificationSettings.environment = Environment([
            "PASSERELLE_SMTP_HOST": "127.0.0.1", "PASSERELLE_SMTP_PORT": String(smtp.port), "PASSERELLE_SMTP_SECURITY": "none",
            "PASSERELLE_SMTP_FROM": "passerelle@example.org", "PASSERELLE_SMS_GATEWAY_URL": receiver.url("/sms"), "PASSERELLE_SMS_GATEWAY_TOKEN": "sms-token",
            "PASSERELLE_NOTIFICATION_QUIET_HOURS": "none", "PASSERELLE_NOTIFICATION_MAX_ATTEMPTS": "2", "PASSERELLE_NOTIFICATION_RETRY_BASE_MS": "20",
            "PASSERELLE_NOTIFICATION_RETRY_MAX_MS": "50", "PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS": "true",
        ])
        let intake = try await ServiceHost.build(IntakeService.self, settings: deployment.settings("intake"), logger: logger)
        let matching = try await ServiceHost.build(MatchingService.self, settings: deployment.settings("matching"), logger: logger)
        let notification = try await ServiceHost.build(NotificationService.self, settings: notificationSettings, logger: logger)
        let evaluation = try await ServiceHost.build(EvaluationService.self, settings: deployment.settings("evaluation"), logger: logger)
        let hosts = [intake, matching, notification, evaluation]
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)
        let site = "ottawa-west-chc"
        @Sendable func base(_ host: ServiceHost) -> String { "http://127.0.0.1:\(host.components.settings.httpPort)" }
        @Sendable func object(_ result: HTTPResult) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: result.body) as? [String: Any], "\(String(decoding: result.body, as: UTF8.self))")
        }
        // Fixed SQL written here; only the deployment's schema name varies.
        @Sendable func count(_ schema: String, _ sql: String) async throws -> Int {
            try await pool.withConnection {
                return try await $0.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int AS n FROM \"\(schema)_\(deployment.id)\".\(sql)")).first!
                    .decode("n", as: Int.self)
            }
        }

        try await running(hosts) {
            for host in hosts {
                let ready = try await eventually { (try? await http("GET", "\(base(host))/health/ready").status) == 200 }
                #expect(ready, "\(host.components.settings.serviceName) becomes ready")
            }
            let coordinator = try await deployment.token(.networkCoordinator, subject: "coord")

            // The directory: a link worker (by e-mail), a resource whose partner and the referrer are told by webhook.
            let workerID = UUID().uuidString.lowercased()
            #expect(
                try await http(
                    "PUT", "\(base(matching))/v1/link-workers/\(workerID)", token: coordinator,
                    body: Data(#"{"name": "Amélie", "site": "\#(site)", "languages": ["fr"], "caseloadCapacity": 20}"#.utf8)
                ).status == 200)
            let resource = try await http(
                "POST", "\(base(matching))/v1/resources", token: coordinator,
                body: Data(
                    #"""
                    {"organisation": "Centre Dalhousie", "name": "Club de marche", "kind": "health-champion-group", "categories": ["loneliness", "food-security"],
                     "description": "", "languages": ["fr"], "interpretationAvailable": false, "delivery": ["in-person"],
                     "coordinates": {"latitude": 45.40, "longitude": -75.72}, "weekdays": [2], "eligibility": {"areas": []}, "accessibility": [],
                     "capacity": {"seats": 10, "seatsTaken": 0, "waitlistAllowed": false}, "tags": ["walking"], "active": true}
                    """#.utf8))
            #expect(resource.status == 201, "\(String(decoding: resource.body, as: UTF8.self))")
            let resourceID = try object(resource)["id"] as! String
            for (id, path) in [("clinic", "/webhook/clinic"), ("partner", "/webhook/partner")] {
                let saved = try await http(
                    "PUT", "\(base(notification))/v1/webhook-targets/\(id)", token: coordinator,
                    body: Data(#"{"url": "\#(receiver.url(path))", "secret": "\#(receiver.secret)"}"#.utf8))
                #expect(saved.status == 200, "\(String(decoding: saved.body, as: UTF8.self))")
            }
            for (kind, id, body) in [
                ("link-worker", workerID, #"{"displayName": "Amélie", "phone": "+1 819 555 0199", "language": "fr", "channel": "sms"}"#),
                ("referrer", "dr-test", #"{"displayName": "Dre Tremblay", "webhookTarget": "clinic", "language": "fr", "channel": "webhook"}"#),
                ("partner", resourceID, #"{"displayName": "Club de marche", "webhookTarget": "partner", "language": "fr", "channel": "webhook"}"#),
            ] {
                let saved = try await http("PUT", "\(base(notification))/v1/recipients/\(kind)/\(id)", token: coordinator, body: Data(body.utf8))
                #expect(saved.status == 200, "\(String(decoding: saved.body, as: UTF8.self))")
            }

            // The referral through the JSON door, with everything identifying she could have.
            let referrer = try await deployment.token(.referrer, subject: "dr-test", site: site)
            let json = """
                {"client": {"givenName": "\(person.givenName)", "familyName": "\(person.familyName)", "birthDate": "\(person.birthDate)",
                            "contact": {"phone": "\(person.phone)", "email": "\(person.email)"}, "preferredLanguage": "fr", "postalCode": "K1Y 4E9",
                            "coordinates": {"latitude": \(person.latitude), "longitude": \(person.longitude)},
                            "accessibilityNeeds": ["\(person.accessibilityNote)"], "preferredChannel": "email"},
                 "referrer": {"id": "dr-test", "role": "physician"}, "site": "\(site)", "needs": ["loneliness"], "interests": ["walking"],
                 "supportLevel": "light", "priority": "routine", "notes": "\(person.note)",
                 "screeningAnswers": {"isolement-1": "\(person.screeningAnswer)"},
                 "consent": {"contact": true, "shareWithPartners": true, "evaluationUse": true}}
                """
            let created = try await http("POST", "\(base(intake))/v1/referrals", token: referrer, body: Data(json.utf8))
            #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
            let first = try object(created)["id"] as! String
            let clientID = try object(created)["clientId"] as! String

            // The same person through the FHIR door: a Patient posted first, then the EHR's ServiceRequest.
            let ehr = try await deployment.token(.ehrIntegration, subject: "ehr-\(person.run)", site: site)
            let patientID = "pat-\(person.run)"
            let patient = """
                {"resourceType": "Patient", "id": "\(patientID)", "name": [{"family": "\(person.familyName)", "given": ["\(person.givenName)"]}],
                 "birthDate": "\(person.birthDate)", "telecom": [{"system": "phone", "value": "\(person.phone)"}, {"system": "email", "value": "\(person.email)"}],
                 "address": [{"line": ["\(person.street)"], "city": "Ottawa", "postalCode": "K1Y 4E9"}]}
                """
            let posted = try await http("POST", "\(base(intake))/fhir/r4/Patient", token: ehr, body: Data(patient.utf8))
            #expect(posted.status == 201, "\(String(decoding: posted.body, as: UTF8.self))")
            let fixture = TestEnvironment.repositoryRoot.appendingPathComponent(
                "Tests/IntakeTests/Fixtures/gravity/ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json")
            let request = try String(contentsOf: fixture, encoding: .utf8)
                .replacingOccurrences(of: "Patient/pat-53234", with: "Patient/\(patientID)")
                .replacingOccurrences(of: "\"id\": \"SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample\"", with: "\"id\": \"sr-\(person.run)\"")
            let fhir = try await http("POST", "\(base(intake))/fhir/r4/ServiceRequest", token: ehr, body: Data(request.utf8))
            #expect(fhir.status == 201, "\(String(decoding: fhir.body, as: UTF8.self))")
            let referrals = try await http("GET", "\(base(intake))/v1/referrals?site=\(site)", token: coordinator)
            let mine = (try object(referrals)["items"] as? [[String: Any]] ?? []).filter { $0["clientId"] as? String == clientID }
            #expect(mine.count == 2, "both doors reached the same client")
            let second = try #require(mine.compactMap { $0["id"] as? String }.first { $0 != first })

            // Matching assigns both and proposes the club; a connection is made, then dropped with a reason.
            for referral in [first, second] {
                let matched = try await eventually {
                    let response = try await http("GET", "\(base(matching))/v1/referrals/\(referral)/matches", token: coordinator)
                    guard response.status == 200 else { return false }
                    return (try object(response)["linkWorkerId"] as? String)?.lowercased() == workerID
                }
                #expect(matched, "matching assigned \(referral)")
            }
            let proposed = try await http(
                "POST", "\(base(matching))/v1/referrals/\(first)/connections", token: coordinator, body: Data(#"{"resourceId": "\#(resourceID)"}"#.utf8))
            #expect(proposed.status == 201, "\(String(decoding: proposed.body, as: UTF8.self))")
            let connectionID = try object(proposed)["id"] as! String
            for body in [#"{"status": "accepted"}"#, #"{"status": "enrolled"}"#, #"{"status": "dropped", "reason": "\#(person.dropReason)"}"#] {
                let moved = try await http("PATCH", "\(base(matching))/v1/connections/\(connectionID)", token: coordinator, body: Data(body.utf8))
                #expect(moved.status == 200, "\(String(decoding: moved.body, as: UTF8.self))")
            }
            // The second referral keeps its place in the club when she is erased.
            let kept = try await http(
                "POST", "\(base(matching))/v1/referrals/\(second)/connections", token: coordinator, body: Data(#"{"resourceId": "\#(resourceID)"}"#.utf8))
            #expect(kept.status == 201, "\(String(decoding: kept.body, as: UTF8.self))")
            for body in [#"{"status": "accepted"}"#, #"{"status": "enrolled"}"#] {
                let moved = try await http(
                    "PATCH", "\(base(matching))/v1/connections/\(try object(kept)["id"] as! String)", token: coordinator, body: Data(body.utf8))
                #expect(moved.status == 200, "\(String(decoding: moved.body, as: UTF8.self))")
            }

            // The closed loop, with free text about her at each step that asks for it.
            for (referral, steps) in [
                (first, [#"{"action": "accept"}"#, #"{"action": "start"}"#, #"{"action": "complete", "outcome": "\#(person.outcome)"}"#]),
                (second, [#"{"action": "accept"}"#, #"{"action": "hold", "reason": "\#(person.holdReason)"}"#]),
            ] {
                for step in steps {
                    let moved = try await http("POST", "\(base(intake))/v1/referrals/\(referral)/transitions", token: coordinator, body: Data(step.utf8))
                    #expect(moved.status == 200, "\(step): \(String(decoding: moved.body, as: UTF8.self))")
                }
            }
            let outcome = try await http(
                "POST", "\(base(evaluation))/v1/referrals/\(first)/outcomes", token: coordinator,
                body: Data(#"{"instrument": "ucla3", "timepoint": "baseline", "answers": [2, 2, 1]}"#.utf8))
            #expect([201, 200].contains(outcome.status), "\(String(decoding: outcome.body, as: UTF8.self))")

            // Notification told everyone; the e-mail to her failed with her address in the server's reply.
            let failed = try await eventually(timeout: .seconds(40)) {
                try await count("notification", "notification WHERE recipient_kind = 'client' AND status = 'failed'") >= 1
            }
            #expect(failed, "her e-mail failed")
            let delivered = try await eventually(timeout: .seconds(40)) {
                try await count("notification", "notification WHERE recipient_kind IN ('partner', 'referrer') AND status = 'sent'") >= 2
            }
            #expect(delivered, "the partner and the referrer were told by webhook")
            let texted = try await eventually(timeout: .seconds(40)) {
                try await count("notification", "notification WHERE recipient_kind = 'link-worker' AND channel = 'sms' AND status = 'sent'") >= 1
            }
            #expect(texted, "the link worker was told by SMS")
            #expect(try await count("matching", "link_worker WHERE current_caseload > 0") == 1, "the open referral holds a place in the caseload")
            #expect(try await count("matching", "community_resource WHERE seats_taken > 0") == 1, "and a seat in the club")
            let stillToSend = try await eventually(timeout: .seconds(40)) {
                try await count("notification", "notification WHERE status IN ('pending', 'sending', 'deferred')") == 0
            }
            #expect(stillToSend)

            // Before: intake answers her screening answer and the hold's reason to those who may read them.
            let read = try await http("GET", "\(base(intake))/v1/referrals/\(first)", token: coordinator)
            #expect(read.status == 200 && String(decoding: read.body, as: UTF8.self).contains(person.screeningAnswer))
            let history = try await http("GET", "\(base(intake))/v1/referrals/\(second)/history", token: coordinator)
            #expect(history.status == 200 && String(decoding: history.body, as: UTF8.self).contains(person.holdReason))

            // Erased.
            let erased = try await http("DELETE", "\(base(intake))/v1/clients/\(clientID)", token: coordinator)
            #expect(erased.status == 204)

            // Every service has heard; the outboxes are published.
            let settled = try await eventually(timeout: .seconds(60)) {
                let remaining = [
                    try await count("matching", "referral_intake"), try await count("notification", "referral_audience"),
                    try await count("evaluation", "pathway"), try await count("intake", "outbox WHERE sent_at IS NULL"),
                    try await count("matching", "outbox WHERE sent_at IS NULL"), try await count("notification", "outbox WHERE sent_at IS NULL"),
                    try await count("evaluation", "outbox WHERE sent_at IS NULL"),
                ]
                return remaining.allSatisfy { $0 == 0 }
            }
            #expect(settled, "every service applied the erasure")
            // The seat and the caseload she held are free again.
            #expect(try await count("matching", "link_worker WHERE current_caseload > 0") == 0, "her place in the caseload is released")
            #expect(try await count("matching", "community_resource WHERE seats_taken > 0") == 0, "her seat in the club is released")
            // Consumers have caught up with everything published (late profiles included).
            try await Task.sleep(for: .seconds(3))

            // Every table of every schema.
            var found: [String] = []
            let tables = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT table_schema, table_name FROM information_schema.tables
                    WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
                    """
                ).map { (try $0.decode("table_schema", as: String.self), try $0.decode("table_name", as: String.self)) }
            }
            #expect(tables.count > 20)
            for (schema, table) in tables {
                // Other schemas (other tests, benchmarks) hold other people, some born the same day
                // or living in the same cell: there only what is unique to her is looked for.
                let ours = schema.hasSuffix("_\(deployment.id)")
                let sought = person.identifying.filter { ours || person.unique.contains($0.key) }
                let needles = Array(Set(sought.values))
                // Filtered by the server: the database holds every other test's schemas too.
                let rows: [String]
                do {
                    rows = try await pool.withConnection { connection in
                        try await connection.query(
                            """
                            SELECT t::text AS row FROM \(identifier: schema).\(identifier: table) t
                            WHERE EXISTS (SELECT 1 FROM unnest(\(needles)::text[]) AS n(text) WHERE strpos(t::text, n.text) > 0)
                            """
                        ).map { try $0.decode("row", as: String.self) }
                    }
                } catch {
                    // Another test may drop its schema while this one reads; ours stay.
                    if ours { throw error }
                    continue
                }
                for row in rows {
                    for (what, text) in sought where row.contains(text) {
                        found.append("\(schema).\(table) holds her \(what): \(row.prefix(300))")
                    }
                }
            }

            // Every record of every topic of the deployment, dead-letter topics included.
            let topics = deployment.topics.provisioning.map(\.name)
            let records = try await readEverything(topics)
            #expect(!records.isEmpty)
            let clientsTopic = deployment.topics.name(.clients)
            for record in records {
                var text = String(decoding: record.value ?? [], as: UTF8.self) + String(decoding: record.key ?? [], as: UTF8.self)
                for header in record.headers { text += header.key + (header.text ?? "") }
                // JSON escapes nothing of these strings but the apostrophe's neighbours; decode \u escapes too.
                let unescaped = (try? JSONSerialization.jsonObject(with: Data((record.value ?? [])))).map { "\($0)" } ?? ""
                for (what, value) in person.identifying where text.contains(value) || unescaped.contains(value) {
                    if record.topic == clientsTopic { continue }
                    found.append("\(record.topic)@\(record.partition):\(record.offset) holds her \(what)")
                }
            }
            let profileRecords = records.filter { $0.topic == clientsTopic && $0.keyText == clientID.lowercased() }
            #expect(!profileRecords.isEmpty, "her profile was published")
            let last = profileRecords.max { $0.offset < $1.offset }
            #expect(last?.value == nil, "the last record for her key on the compacted clients topic is the tombstone")

            #expect(found.isEmpty, "\(found.count) places still identify her:\n\(found.joined(separator: "\n"))")
        }
        for service in ["intake", "matching", "notification", "evaluation"] {
            try await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: "\(service)_\(deployment.id)") CASCADE") }
        }
        await pool.close()
    }
}

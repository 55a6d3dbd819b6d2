import Contracts
import EvaluationAPI
import EvaluationService
import Foundation
import IntakeAPI
import IntakeService
import KafkaClient
import Logging
import MatchingAPI
import MatchingService
import NotificationAPI
import NotificationService
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Settings for one service of a test deployment: its own schema, topic prefix and group, so
/// tests never see each other's data (or a local stack running beside them).
struct TestDeployment: Sendable {
    let id = UUID().uuidString.prefix(8).lowercased()
    var topics: TopicNames { TopicNames(prefix: "e2e-\(id).") }
    static let secret = "end-to-end-test-secret-with-32-plus-bytes"

    func settings(_ service: String, postgres: PostgresConfiguration? = nil, kafka: String = TestEnvironment.kafkaBootstrap) -> ServiceSettings {
        var database = postgres ?? TestEnvironment.postgresConfiguration()
        database.schema = "\(service)_\(id)"
        database.poolSize = 4
        database.connectTimeoutSeconds = 2
        return ServiceSettings(
            serviceName: service, httpPort: TestEnvironment.freePort(), postgres: database,
            kafka: KafkaConfiguration(bootstrapServers: kafka, clientID: "e2e-\(service)"),
            topics: topics, consumerGroup: "e2e-\(id)-\(service)", auth: AuthSettings(hmacSecret: Self.secret), logLevel: .warning)
    }

    func createTopics() async throws {
        try await KafkaTopicAdmin.createTopics(
            topics.provisioning.map { KafkaTopicSpecification(name: $0.name, partitions: 3, configs: $0.configs) },
            configuration: TestEnvironment.kafkaConfiguration, logger: TestEnvironment.logger)
    }

    /// As `ServiceTestHost.token`: bounded by `site` (the fixtures' unless told) unless the role is network-wide.
    func token(_ role: Role, subject: String = "dr-test", site: String? = ServiceTestHost.fixtureSite) async throws -> String {
        try await TokenVerifier(settings: AuthSettings(hmacSecret: Self.secret))
            .sign(AccessClaims(subject: subject, roles: [role], site: role.isNetworkWide ? nil : site, expires: Date().addingTimeInterval(600)))
    }
}

/// Runs built hosts until the body returns, then shuts them down gracefully.
func running<T: Sendable>(_ hosts: [ServiceHost], _ body: @Sendable () async throws -> T) async throws -> T {
    let tasks = hosts.map { host in Task { try await host.run() } }
    defer { tasks.forEach { $0.cancel() } }
    do {
        let result = try await body()
        for host in hosts { await host.shutdown() }
        for task in tasks { try await task.value }
        return result
    } catch {
        for host in hosts { await host.shutdown() }
        throw error
    }
}

struct HTTPResult: Sendable {
    var status: Int
    var body: Data
    var headers: [String: String]
}

func http(_ method: String, _ url: String, token: String? = nil, body: Data? = nil, headers: [String: String] = [:]) async throws -> HTTPResult {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = method
    request.httpBody = body
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as! HTTPURLResponse
    var fields: [String: String] = [:]
    for (key, value) in http.allHeaderFields { fields["\(key)".lowercased()] = "\(value)" }
    return HTTPResult(status: http.statusCode, body: data, headers: fields)
}

let sampleReferral = """
    {"client": {"givenName": "Élodie", "familyName": "Gagnon", "birthDate": "1948-05-12", "contact": {"phone": "+1 613 555 0142"},
                "preferredLanguage": "fr", "postalCode": "K1Y 4E9", "preferredChannel": "sms"},
     "referrer": {"id": "dr-test", "role": "physician"}, "site": "ottawa-west-chc", "needs": ["loneliness"],
     "interests": ["walking"], "supportLevel": "light", "priority": "routine",
     "consent": {"contact": true, "shareWithPartners": true, "evaluationUse": true}}
    """

@Suite("The walking skeleton, all four services in one process", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(3)))
struct EndToEndTests {
    @Test("a referral posted to intake is recorded once by each of the three other services, in its own schema")
    func referralFlowsEverywhere() async throws {
        let deployment = TestDeployment()
        try await deployment.createTopics()
        let logger = TestEnvironment.logger
        let intake = try await ServiceHost.build(IntakeService.self, settings: deployment.settings("intake"), logger: logger)
        let matching = try await ServiceHost.build(MatchingService.self, settings: deployment.settings("matching"), logger: logger)
        let notification = try await ServiceHost.build(NotificationService.self, settings: deployment.settings("notification"), logger: logger)
        let evaluation = try await ServiceHost.build(EvaluationService.self, settings: deployment.settings("evaluation"), logger: logger)
        let hosts = [intake, matching, notification, evaluation]
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)

        try await running(hosts) {
            for host in hosts {
                let ready = try await eventually {
                    (try? await http("GET", "http://127.0.0.1:\(host.components.settings.httpPort)/health/ready").status) == 200
                }
                #expect(ready, "\(host.components.settings.serviceName) becomes ready")
            }
            // A link worker and a resource for the referral's site and need.
            let coordinatorToken = try await deployment.token(.networkCoordinator, subject: "coord")
            let matchingBase = "http://127.0.0.1:\(matching.components.settings.httpPort)"
            let workerID = UUID()
            let savedWorker = try await http(
                "PUT", "\(matchingBase)/v1/link-workers/\(workerID)", token: coordinatorToken,
                body: Data(#"{"name": "Amélie", "site": "ottawa-west-chc", "languages": ["fr"], "caseloadCapacity": 20}"#.utf8))
            #expect(savedWorker.status == 200)
            let savedResource = try await http(
                "POST", "\(matchingBase)/v1/resources", token: coordinatorToken,
                body: Data(
                    #"""
                    {"organisation": "Centre Dalhousie", "name": "Club de marche", "kind": "health-champion-group", "categories": ["loneliness"],
                     "description": "", "languages": ["fr"], "interpretationAvailable": false, "delivery": ["in-person"],
                     "coordinates": {"latitude": 45.40, "longitude": -75.72}, "weekdays": [2], "eligibility": {"areas": []}, "accessibility": [],
                     "capacity": {"seatsTaken": 0, "waitlistAllowed": false}, "tags": ["walking"], "active": true}
                    """#.utf8))
            #expect(savedResource.status == 201)

            let token = try await deployment.token(.referrer)
            let url = "http://127.0.0.1:\(intake.components.settings.httpPort)/v1/referrals"
            let created = try await http("POST", url, token: token, body: Data(sampleReferral.utf8), headers: ["Idempotency-Key": "e2e-1"])
            #expect(created.status == 201)
            let id = try #require(try JSONSerialization.jsonObject(with: created.body) as? [String: Any])["id"] as! String
            let retried = try await http("POST", url, token: token, body: Data(sampleReferral.utf8), headers: ["Idempotency-Key": "e2e-1"])
            #expect(retried.status == 200)

            for (service, table) in [("matching", "referral_intake"), ("notification", "referral_audience"), ("evaluation", "pathway")] {
                let schema = "\(service)_\(deployment.id)"
                let arrived = try await eventually {
                    try await pool.withConnection {
                        try await $0.query("SELECT count(*) AS n FROM \(identifier: schema).\(identifier: table) WHERE referral_id = \(id)::uuid").first!
                            .decode("n", as: Int.self)
                    } == 1
                }
                #expect(arrived, "\(service) recorded the referral")
            }
            // Matching assigned the link worker and proposed the resource, with reasons.
            let matched = try await eventually {
                let response = try await http("GET", "\(matchingBase)/v1/referrals/\(id)/matches", token: coordinatorToken)
                guard response.status == 200, let body = try JSONSerialization.jsonObject(with: response.body) as? [String: Any] else { return false }
                return (body["linkWorkerId"] as? String)?.lowercased() == workerID.uuidString.lowercased() && (body["matches"] as? [Any])?.count == 1
            }
            #expect(matched)

            // The same state read through the clients generated from the four contracts: every
            // answer decodes into the documented types (a drifted response would throw here).
            let clients = try GeneratedClients(
                ports: (
                    intake.components.settings.httpPort, matching.components.settings.httpPort, notification.components.settings.httpPort,
                    evaluation.components.settings.httpPort
                ), token: coordinatorToken)
            let view = try await clients.intake.getReferral(path: .init(id: id)).ok.body.json
            #expect(view.screeningAnswers != nil, "the single read carries the screening answers")
            #expect(view.id == id)
            #expect(view.site == "ottawa-west-chc")
            let history = try await clients.intake.listStatusHistory(path: .init(id: id)).ok.body.json
            #expect(history.first?.to == .received && history.first?.from == nil)
            #expect(history.map(\.version) == Array(1...view.version), "one step per version, in order")
            #expect(history.last?.to == view.status)
            let inbox = try await clients.intake.listReferrals(query: .init(site: "ottawa-west-chc")).ok.body.json
            #expect(inbox.items.contains { $0.id == id })
            let matches = try await clients.matching.getMatches(path: .init(id: id)).ok.body.json
            #expect(matches.matches.count == 1)
            let log = try await clients.notification.listNotifications(query: .init(referral: id)).ok.body.json
            #expect(log.notifications.allSatisfy { $0.referralId == id })
            let reports = try await clients.evaluation.listReports().ok.body.json
            #expect(!reports.reports.isEmpty)
            let overview = try await clients.evaluation.runReport(path: .init(name: .overview)).ok.body.json
            #expect(overview.report == .overview)

            // Let any redelivery happen, then check that every effect happened once.
            try await Task.sleep(for: .seconds(1))
            for service in ["matching", "notification", "evaluation"] {
                let processed = try await pool.withConnection {
                    try await $0.query(
                        "SELECT count(*) AS n FROM \(identifier: "\(service)_\(deployment.id)").processed_events WHERE event_type = 'passerelle.referral.received.v1'"
                    ).first!.decode("n", as: Int.self)
                }
                #expect(processed == 1, "\(service) processed the received event exactly once")
            }
            let outbox = try await pool.withConnection {
                try await $0.query("SELECT count(*) AS n, count(sent_at) AS sent FROM \(identifier: "intake_\(deployment.id)").outbox").first!
            }
            #expect(try outbox.decode("n", as: Int.self) == 2, "referral received + client profile")
            #expect(try outbox.decode("sent", as: Int.self) == 2)

            // Erasure reaches every service.
            let clientID = try #require(try JSONSerialization.jsonObject(with: created.body) as? [String: Any])["clientId"] as! String
            let coordinator = try await deployment.token(.networkCoordinator, subject: "coord")
            let erased = try await http("DELETE", "http://127.0.0.1:\(intake.components.settings.httpPort)/v1/clients/\(clientID)", token: coordinator)
            #expect(erased.status == 204)
            for (service, table) in [("matching", "referral_intake"), ("notification", "referral_audience"), ("evaluation", "pathway")] {
                let schema = "\(service)_\(deployment.id)"
                let gone = try await eventually {
                    try await pool.withConnection {
                        try await $0.query("SELECT count(*) AS n FROM \(identifier: schema).\(identifier: table)").first!.decode("n", as: Int.self)
                    } == 0
                }
                #expect(gone, "\(service) dropped the erased client's referral")
            }
        }
        for service in ["intake", "matching", "notification", "evaluation"] {
            try await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: "\(service)_\(deployment.id)") CASCADE") }
        }
        await pool.close()
    }

    @Test("an EHR's FHIR referral: the connection a link worker makes in matching shows in intake's Task, through the broker")
    func connectionReachesTheTask() async throws {
        let deployment = TestDeployment()
        try await deployment.createTopics()
        let logger = TestEnvironment.logger
        let intake = try await ServiceHost.build(IntakeService.self, settings: deployment.settings("intake"), logger: logger)
        let matching = try await ServiceHost.build(MatchingService.self, settings: deployment.settings("matching"), logger: logger)
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)
        // The Gravity IG's own Patient and active food-insecurity ServiceRequest (no performer).
        let fixtures = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/IntakeTests/Fixtures/gravity")
        let patient = try String(contentsOf: fixtures.appendingPathComponent("Patient-pat-53234.json"), encoding: .utf8)
        let request = try String(
            contentsOf: fixtures.appendingPathComponent("ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json"), encoding: .utf8)
        let bundle =
            #"{"resourceType": "Bundle", "type": "transaction", "entry": [{"fullUrl": "Patient/pat-53234", "resource": \#(patient)}, {"resource": \#(request)}]}"#

        try await running([intake, matching]) {
            for host in [intake, matching] {
                let ready = try await eventually {
                    (try? await http("GET", "http://127.0.0.1:\(host.components.settings.httpPort)/health/ready").status) == 200
                }
                #expect(ready, "\(host.components.settings.serviceName) becomes ready")
            }
            let coordinator = try await deployment.token(.networkCoordinator, subject: "coord")
            let matchingBase = "http://127.0.0.1:\(matching.components.settings.httpPort)"
            let intakeBase = "http://127.0.0.1:\(intake.components.settings.httpPort)"
            let saved = try await http(
                "POST", "\(matchingBase)/v1/resources", token: coordinator,
                body: Data(
                    #"""
                    {"organisation": "Banque alimentaire d'Ottawa", "name": "Comptoir alimentaire", "kind": "external-partner", "categories": ["food-security"],
                     "description": "", "languages": ["fr", "en"], "interpretationAvailable": false, "delivery": ["in-person"],
                     "coordinates": {"latitude": 45.40, "longitude": -75.72}, "weekdays": [3], "eligibility": {"areas": []}, "accessibility": [],
                     "capacity": {"seatsTaken": 0, "waitlistAllowed": false}, "tags": [], "active": true}
                    """#.utf8))
            #expect(saved.status == 201)
            let resourceID = try #require(try JSONSerialization.jsonObject(with: saved.body) as? [String: Any])["id"] as! String

            let ehr = try await deployment.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
            let created = try await http("POST", "\(intakeBase)/fhir/r4", token: ehr, body: Data(bundle.utf8))
            #expect(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
            let search = try await http(
                "GET", "\(intakeBase)/fhir/r4/Task?focus=ServiceRequest/SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample", token: ehr)
            let entry = try #require(((try JSONSerialization.jsonObject(with: search.body) as? [String: Any])?["entry"] as? [[String: Any]])?.first)
            let taskID = try #require((entry["resource"] as? [String: Any])?["id"] as? String)

            // Matching has the referral (through the referrals topic); a link worker connects the client.
            let known = try await eventually {
                try await pool.withConnection {
                    try await $0.query(
                        "SELECT count(*) AS n FROM \(identifier: "matching_\(deployment.id)").referral_intake WHERE referral_id = \(taskID)::uuid"
                    ).first!.decode("n", as: Int.self)
                } == 1
            }
            #expect(known)
            let proposed = try await http(
                "POST", "\(matchingBase)/v1/referrals/\(taskID)/connections", token: coordinator, body: Data(#"{"resourceId": "\#(resourceID)"}"#.utf8))
            #expect(proposed.status == 201, "\(String(decoding: proposed.body, as: UTF8.self))")
            let connectionID = try #require(try JSONSerialization.jsonObject(with: proposed.body) as? [String: Any])["id"] as! String
            for status in ["accepted", "enrolled"] {
                let moved = try await http(
                    "PATCH", "\(matchingBase)/v1/connections/\(connectionID)", token: coordinator, body: Data(#"{"status": "\#(status)"}"#.utf8))
                #expect(moved.status == 200)
            }
            // The connection events come back to intake over the matching topic: the Task shows it.
            let shown = try await eventually {
                let task = try await http("GET", "\(intakeBase)/fhir/r4/Task/\(taskID)", token: ehr)
                let outputs = (try JSONSerialization.jsonObject(with: task.body) as? [String: Any])?["output"] as? [[String: Any]] ?? []
                return outputs.contains { $0["valueString"] as? String == "enrolled: Comptoir alimentaire (external-partner)" }
            }
            #expect(shown, "the Task's output names the connection made")
        }
        for service in ["intake", "matching"] {
            try await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: "\(service)_\(deployment.id)") CASCADE") }
        }
        await pool.close()
    }

    @Test("a service started while PostgreSQL and the broker are down stays up, says not ready, answers 503, and recovers")
    func startsWithDependenciesDown() async throws {
        let deployment = TestDeployment()
        let database = try await ScratchPostgresServer()
        defer { database.destroy() }
        try await database.stop()
        let brokerPort = TestEnvironment.freePort()
        let settings = deployment.settings("intake", postgres: database.configuration(), kafka: "127.0.0.1:\(brokerPort)")
        let intake = try await ServiceHost.build(IntakeService.self, settings: settings, logger: TestEnvironment.logger)
        let base = "http://127.0.0.1:\(settings.httpPort)"
        let token = try await deployment.token(.referrer)

        try await running([intake]) {
            let up = try await eventually { (try? await http("GET", "\(base)/health/live").status) == 200 }
            #expect(up)
            let notReady = try await http("GET", "\(base)/health/ready")
            #expect(notReady.status == 503)
            let report = try JSONSerialization.jsonObject(with: notReady.body) as? [String: Any]
            #expect((report?["database"] as? String)?.hasPrefix("unavailable") == true)
            #expect((report?["broker"] as? String)?.hasPrefix("unavailable") == true)
            let refused = try await http("POST", "\(base)/v1/referrals", token: token, body: Data(sampleReferral.utf8))
            #expect(refused.status == 503)
            #expect(refused.headers["retry-after"] == "5")
            #expect(refused.headers["content-type"] == "application/problem+json")

            try await database.start()
            let broker = try await ScratchBroker(port: brokerPort)
            defer { broker.stop() }
            let ready = try await eventually(timeout: .seconds(40)) { (try? await http("GET", "\(base)/health/ready").status) == 200 }
            #expect(ready, "ready once both are back")
            // The topics exist now, so a referral goes through.
            try await KafkaTopicAdmin.createTopics(
                deployment.topics.provisioning.map { KafkaTopicSpecification(name: $0.name, partitions: 1, configs: $0.configs) },
                configuration: KafkaConfiguration(bootstrapServers: broker.bootstrap), logger: TestEnvironment.logger)
            let accepted = try await http("POST", "\(base)/v1/referrals", token: token, body: Data(sampleReferral.utf8))
            #expect(accepted.status == 201)
        }
    }

    @Test("readiness names the database within its bound while every pooled connection is held by a query that does not answer")
    func readinessBoundedWhenThePoolIsHeld() async throws {
        let deployment = TestDeployment()
        try await deployment.createTopics()
        let settings = deployment.settings("intake")
        let intake = try await ServiceHost.build(IntakeService.self, settings: settings, logger: TestEnvironment.logger)
        let run = Task { try await intake.run() }
        defer { run.cancel() }
        let pool = intake.components.pool
        let health = HealthRoutes(pool: pool, producer: intake.components.producer, gate: intake.components.gate)
        let ready = try await eventually(timeout: .seconds(30)) { await health.check().ready }
        #expect(ready)
        // Every connection of the pool held 14 s, as a database cut off without a reset holds them.
        let holders = (0..<settings.postgres.poolSize).map { _ in
            Task { try await pool.withConnection { _ = try await $0.query("SELECT pg_sleep(14)") } }
        }
        try await Task.sleep(for: .milliseconds(500))
        try await Task.sleep(for: .seconds(1))  // past the one-second cache of the last report
        let started = ContinuousClock.now
        let report = await health.check()
        let took = ContinuousClock.now - started
        #expect(!report.ready)
        #expect(report.database.contains("did not answer within"), "\(report.database)")
        // The probe's own bound is 2 s; the margin is for a loaded machine. Waiting its turn for
        // a connection would have taken the hold's remaining 12 s and answered "ok".
        #expect(took < .seconds(8), "answered after \(took)")
        for holder in holders { _ = try await holder.value }
        let back = try await eventually(timeout: .seconds(10)) { await health.check().ready }
        #expect(back, "ready again once the connections are free")
    }

    @Test("a service whose producer librdkafka declares dead replaces it and goes on: ready throughout, its outbox published, no restart")
    func fatalProducerIsReplaced() async throws {
        let deployment = TestDeployment()
        try await deployment.createTopics()
        let settings = deployment.settings("intake")
        let intake = try await ServiceHost.build(IntakeService.self, settings: settings, logger: TestEnvironment.logger)
        let base = "http://127.0.0.1:\(settings.httpPort)"
        let run = Task { try await intake.run() }
        defer { run.cancel() }
        let ready = try await eventually(timeout: .seconds(30)) { (try? await http("GET", "\(base)/health/ready").status) == 200 }
        #expect(ready)
        let producer = intake.components.producer

        producer.simulateFatalError()
        let replaced = try await eventually(timeout: .seconds(10)) { producer.replacementCount == 1 }
        #expect(replaced, "the dead client was replaced")
        #expect(producer.fatalError == nil)
        let report = await HealthRoutes(pool: intake.components.pool, producer: producer, gate: intake.components.gate).check()
        #expect(report.ready, "\(report.broker)")

        // The new client publishes: a referral submitted now has its events sent.
        let token = try await deployment.token(.referrer, subject: "dr-replaced")
        let body = AccessScopeMatrixTests.referralBody(referrer: "dr-replaced", given: "Remplacée", site: ServiceTestHost.fixtureSite)
        let sent = try await http("POST", "\(base)/v1/referrals", token: token, body: Data(body.utf8))
        #expect(sent.status == 201, "\(String(decoding: sent.body, as: UTF8.self))")
        let published = try await eventually(timeout: .seconds(30)) {
            let waiting = try await intake.components.pool.withConnection { connection in
                try await connection.query("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL").first?.decode("n", as: Int.self)
            }
            return waiting == 0
        }
        #expect(published, "every outbox row sent by the new client")
        #expect(producer.replacementCount == 1)
    }
}

import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Messaging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import IntakeService

/// The Gravity SDOH Clinical Care IG's own example resources (Fixtures/gravity, see its README).
enum GravityFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gravity")
    static let serviceRequestID = "SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample"

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name + ".json"), encoding: .utf8)
    }

    static func object(_ name: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text(name).utf8)) as? [String: Any])
    }

    static var patient: String { get throws { try text("Patient-pat-53234") } }
    static var activeRequest: String { get throws { try text("ServiceRequest-\(serviceRequestID)") } }
    static var completedRequest: String { get throws { try text("ServiceRequest-SDOHCC-ServiceRequestSubreferralSummerFoodProgramExample") } }

    /// The active ServiceRequest with some of its elements replaced.
    static func changedRequest(_ change: (inout [String: Any]) -> Void) throws -> String {
        var resource = try object("ServiceRequest-\(serviceRequestID)")
        change(&resource)
        return String(decoding: try JSONSerialization.data(withJSONObject: resource), as: UTF8.self)
    }

    /// A transaction Bundle built around the IG's active ServiceRequest with its Patient, Consent
    /// and the Condition it names as its reason, each entry as the IG publishes it.
    static func transaction(serviceRequest: String? = nil) throws -> String {
        let entries = try [
            ("Patient/pat-53234", patient, "Patient"),
            ("ServiceRequest/\(serviceRequestID)", serviceRequest ?? activeRequest, "ServiceRequest"),
            ("Consent/SDOHCC-ConsentInformationDisclosureExample", text("Consent-SDOHCC-ConsentInformationDisclosureExample"), "Consent"),
            ("Condition/SDOHCC-ConditionFoodInsecurityExample", text("Condition-SDOHCC-ConditionFoodInsecurityExample"), "Condition"),
        ].map { url, resource, type in
            #"{"fullUrl": "http://ehr.example.org/fhir/\#(url)", "resource": \#(resource), "request": {"method": "POST", "url": "\#(type)"}}"#
        }
        return #"{"resourceType": "Bundle", "type": "transaction", "entry": [\#(entries.joined(separator: ","))]}"#
    }
}

/// What the subscription tests read of an EHR's rest-hook endpoint.
extension WebhookReceiver {
    struct Received {
        var path: String
        var id: String?
        var attempt: Int
        var verified: Bool
        var authorization: String?
        var contentType: String?
        var body: [String: Any]

        /// The SubscriptionStatus parameters of the notification Bundle.
        var parameters: [String: Any] {
            let status = ((body["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any]) ?? [:]
            var values: [String: Any] = [:]
            for parameter in status["parameter"] as? [[String: Any]] ?? [] {
                guard let name = parameter["name"] as? String else { continue }
                values[name] = parameter.first { $0.key.hasPrefix("value") }?.value ?? parameter["part"]
            }
            return values
        }

        var type: String? { parameters["type"] as? String }

        /// `(event-number, focus)` of an event notification.
        var event: (number: String, focus: String)? {
            guard let parts = parameters["notification-event"] as? [[String: Any]] else { return nil }
            let number = parts.first { $0["name"] as? String == "event-number" }?["valueString"] as? String
            let focus = (parts.first { $0["name"] as? String == "focus" }?["valueReference"] as? [String: Any])?["reference"] as? String
            guard let number, let focus else { return nil }
            return (number, focus)
        }
    }

    func records() async throws -> [Received] {
        let data = try await receivedJSON()
        let list = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        return list.map { item in
            Received(
                path: item["path"] as? String ?? "", id: item["id"] as? String, attempt: item["attempt"] as? Int ?? 0,
                verified: item["verified"] as? Bool ?? false, authorization: item["authorization"] as? String,
                contentType: item["contentType"] as? String, body: item["body"] as? [String: Any] ?? [:])
        }
    }
}

@Suite("Intake: the Gravity closed loop over FHIR", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(3)))
struct GravityTests {
    func post(_ client: some TestClientProtocol, _ path: String, _ body: String, token: String) async throws -> TestResponse {
        try await client.execute(
            uri: path, method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/fhir+json"], body: ByteBuffer(string: body))
    }

    func get(_ client: some TestClientProtocol, _ path: String, token: String?) async throws -> TestResponse {
        try await client.execute(uri: path, method: .get, headers: token.map { [.authorization: "Bearer \($0)"] } ?? [:])
    }

    func body(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
    }

    func issues(_ response: TestResponse) throws -> [(code: String, expression: String, diagnostics: String)] {
        let outcome = try body(response)
        #expect(outcome["resourceType"] as? String == "OperationOutcome")
        return (outcome["issue"] as? [[String: Any]] ?? []).map {
            ($0["code"] as? String ?? "", ($0["expression"] as? [String])?.first ?? "", $0["diagnostics"] as? String ?? "")
        }
    }

    func firstTask(_ searchset: [String: Any]) throws -> [String: Any] {
        try #require(((searchset["entry"] as? [[String: Any]])?.first?["resource"]) as? [String: Any])
    }

    @Test("the IG's active ServiceRequest, which names no performer or requester, goes to the sender's site; a Task follows it")
    func serviceRequestWithoutPerformer() async throws {
        let fixture = try await IntakeFixture.make()
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        try await fixture.host.application.test(.router) { client in
            #expect(try await post(client, "/fhir/r4/Patient", try GravityFixtures.patient, token: ehr).status == .created)
            let created = try await post(client, "/fhir/r4/ServiceRequest", try GravityFixtures.activeRequest, token: ehr)
            #expect(created.status == .created, "\(String(buffer: created.body))")
            #expect(created.headers[.location] == "ServiceRequest/\(GravityFixtures.serviceRequestID)")

            let search = try body(try await get(client, "/fhir/r4/Task?focus=ServiceRequest/\(GravityFixtures.serviceRequestID)", token: ehr))
            let task = try firstTask(search)
            #expect(task["status"] as? String == "requested")
            #expect(task["intent"] as? String == "order")
            #expect((task["owner"] as? [String: Any])?["reference"] as? String == "Organization/ottawa-west-chc")
            #expect((task["for"] as? [String: Any])?["reference"] as? String == "Patient/pat-53234")
            #expect(((task["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String == "fulfill")
            #expect(((task["requester"] as? [String: Any])?["identifier"] as? [String: Any])?["value"] as? String == "ehr-ottawa", "no requester: the sender")

            // Without a performer and without a site claim, nothing says where it goes.
            let siteless = try await fixture.token(.ehrIntegration, subject: "ehr-siteless", site: nil)
            // Its own Patient (another sender's is not its to reference).
            #expect(try await post(client, "/fhir/r4/Patient", try GravityFixtures.patient, token: siteless).status == .created)
            let refused = try await post(client, "/fhir/r4/ServiceRequest", try GravityFixtures.changedRequest { $0["id"] = "sr-siteless" }, token: siteless)
            #expect(refused.status == .unprocessableContent)
            #expect(try issues(refused).contains { $0.expression == "ServiceRequest.performer" && $0.code == "required" })

            // The IG's completed (original-order) request, and a revoked one, are refused as before.
            let completed = try await post(client, "/fhir/r4/ServiceRequest", try GravityFixtures.completedRequest, token: ehr)
            #expect(completed.status == .unprocessableContent)
            #expect(try issues(completed).contains { $0.expression == "ServiceRequest.status" && $0.diagnostics.contains("completed") })
            let revoked = try await post(
                client, "/fhir/r4/ServiceRequest",
                try GravityFixtures.changedRequest {
                    $0["id"] = "sr-revoked"
                    $0["status"] = "revoked"
                }, token: ehr)
            #expect(try issues(revoked).contains { $0.expression == "ServiceRequest.status" && $0.diagnostics.contains("revoked") })
            let proposal = try await post(
                client, "/fhir/r4/ServiceRequest",
                try GravityFixtures.changedRequest {
                    $0["id"] = "sr-proposal"
                    $0["intent"] = "proposal"
                }, token: ehr)
            #expect(try issues(proposal).contains { $0.expression == "ServiceRequest.intent" })
            // The subject asked not to be contacted: the client is recorded without consent to contact.
            let prohibited = try GravityFixtures.changedRequest {
                $0["id"] = "sr-no-contact"
                $0["orderDetail"] = [
                    [
                        "coding": [
                            [
                                "system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes",
                                "code": "contacting-subject-prohibited",
                            ]
                        ]
                    ]
                ]
            }
            #expect(try await post(client, "/fhir/r4/ServiceRequest", prohibited, token: ehr).status == .created)
            // original-order, the IG's other intent, is an order.
            let original = try await post(
                client, "/fhir/r4/ServiceRequest",
                try GravityFixtures.changedRequest {
                    $0["id"] = "sr-original"
                    $0["intent"] = "original-order"
                }, token: ehr)
            #expect(original.status == .created)
        }
        let row = try #require(
            try await fixture.pool.withConnection { connection -> PostgresRow? in
                try await connection.query(
                    """
                    SELECT r.site, r.referrer_id, r.needs, c.family_name, c.postal_code FROM \(identifier: fixture.schema).referral r
                    JOIN \(identifier: fixture.schema).client c ON c.id = r.client_id WHERE r.external_id = \(GravityFixtures.serviceRequestID)
                    """
                ).first
            })
        #expect(try row.decode("site", as: String.self) == "ottawa-west-chc")
        #expect(try row.decode("referrer_id", as: String.self) == "ehr-ottawa")
        #expect(try row.decode("needs", as: [String].self) == ["food-security"])
        #expect(try row.decode("family_name", as: String.self) == "BAXTER", "the name in use now")
        #expect(try row.decode("postal_code", as: String?.self) == "74048", "the address in use now")
        #expect(try await fixture.count("referral") == 3)
        #expect(try await fixture.count("fhir_task") == 3)
        let received = try await fixture.events("passerelle.referral.received.v1")
        #expect(received.filter { $0.contains("\"contact\":false") }.count == 1, "only the request whose subject may not be contacted")
        await fixture.tearDown()
    }

    @Test("the default organization receives requests whose sender names several sites; a transaction Bundle of the IG's examples is one referral")
    func defaultOrganizationAndBundle() async throws {
        let fixture = try await IntakeFixture.make(environment: ["PASSERELLE_FHIR_DEFAULT_ORGANIZATION": "rural-east"])
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-network", sites: ["rural-east", "ottawa-west-chc"])
        try await fixture.host.application.test(.router) { client in
            let response = try await post(client, "/fhir/r4", try GravityFixtures.transaction(), token: ehr)
            #expect(response.status == .created, "\(String(buffer: response.body))")
            let result = try body(response)
            #expect(result["type"] as? String == "transaction-response")
            let locations = (result["entry"] as? [[String: Any]] ?? []).compactMap { ($0["response"] as? [String: Any])?["location"] as? String }
            #expect(locations.contains("ServiceRequest/\(GravityFixtures.serviceRequestID)"))
            #expect(locations.contains { $0.hasPrefix("Task/") })
            #expect(try await post(client, "/fhir/r4/Bundle", try GravityFixtures.transaction(), token: ehr).status == .ok, "a retry is the same referral")
        }
        #expect(try await fixture.count("referral", where: "site = 'rural-east'") == 1)
        #expect(try await fixture.count("fhir_task") == 1)
        await fixture.tearDown()
    }

    @Test("every problem in a resource is one issue with its FHIRPath; nothing is stored")
    func validation() async throws {
        let fixture = try await IntakeFixture.make()
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        try await fixture.host.application.test(.router) { client in
            #expect(try await post(client, "/fhir/r4/Patient", try GravityFixtures.patient, token: ehr).status == .created)
            let broken = try GravityFixtures.changedRequest {
                $0["id"] = "sr-broken"
                $0["priority"] = "whenever"
                $0["category"] = [
                    ["coding": [["system": "http://snomed.info/sct", "code": "410606002"]]],
                    [
                        "coding": [
                            ["system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes", "code": "food-insecurityy"]
                        ]
                    ],
                ]
                $0["code"] = ["coding": [["system": "http://snomed.info/sct", "code": "467771000124108"]]]
                $0["requester"] = ["reference": "Location/front-desk"]
                $0["specimen"] = [["reference": "Specimen/s1"]]
                $0["note"] = [["text": "call after 5\u{0} pm"]]
            }
            let response = try await post(client, "/fhir/r4/ServiceRequest", broken, token: ehr)
            #expect(response.status == .unprocessableContent)
            let found = try issues(response)
            let expected: [(String, String)] = [
                ("ServiceRequest.priority", "code-invalid"),
                ("ServiceRequest.category[1].coding[0].code", "code-invalid"),
                ("ServiceRequest.code.coding[0].code", "code-invalid"),
                ("ServiceRequest.requester.reference", "invalid"),
                ("ServiceRequest.specimen", "structure"),
                ("ServiceRequest.note[0].text", "invalid"),
            ]
            for (expression, code) in expected {
                #expect(found.contains { $0.expression == expression && $0.code == code }, "\(expression) in \(found)")
            }
            #expect(found.allSatisfy { !$0.expression.isEmpty })

            // Passerelle's own limits, said the FHIR way: a huge note, a birth date it cannot use.
            let huge = try GravityFixtures.changedRequest {
                $0["id"] = "sr-huge"
                $0["note"] = [["text": String(repeating: "x", count: 50_000)]]
            }
            let tooLong = try await post(client, "/fhir/r4/ServiceRequest", huge, token: ehr)
            #expect(tooLong.status == .unprocessableContent)
            #expect(try issues(tooLong).contains { $0.expression == "ServiceRequest.note" })
            let vague = try await post(
                client, "/fhir/r4/Patient", #"{"resourceType": "Patient", "id": "vague", "name": [{"family": "X"}], "birthDate": "1987"}"#, token: ehr)
            #expect(try issues(vague).contains { $0.expression == "Patient.birthDate" })

            // In a Bundle the expression names the entry; LOINC answers are checked too.
            let withAnswers = try GravityFixtures.transaction().replacingOccurrences(
                of: #""type": "transaction", "entry": ["#,
                with:
                    #""type": "transaction", "entry": [{"resource": {"resourceType": "QuestionnaireResponse", "status": "completed", "item": [{"linkId": "/88122-7", "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "88122-8"}}]}]}},"#
            )
            let bundle = try await post(client, "/fhir/r4/Bundle", withAnswers, token: ehr)
            #expect(bundle.status == .unprocessableContent)
            #expect(try issues(bundle).contains { $0.expression == "Bundle.entry[0].resource.item[0].answer[0].valueCoding.code" && $0.code == "code-invalid" })

            let oversized = try await post(client, "/fhir/r4/ServiceRequest", String(repeating: " ", count: 3 * 1024 * 1024) + "{}", token: ehr)
            #expect(oversized.status == .contentTooLarge)
            #expect(try issues(oversized).first?.code == "too-costly")

            let notJSON = try await post(client, "/fhir/r4/ServiceRequest", "{\"resourceType\": ", token: ehr)
            #expect(notJSON.status == .badRequest)
            #expect(try issues(notJSON).first?.code == "structure")
        }
        #expect(try await fixture.count("referral") == 0)
        #expect(try await fixture.count("fhir_task") == 0)
        #expect(try await fixture.count("outbox") == 0)
        await fixture.tearDown()
    }

    @Test("Task and ServiceRequest reads are scoped like intake's other reads: what the caller may not see is 404; metadata is open")
    func scopedReads() async throws {
        let fixture = try await IntakeFixture.make()
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        try await fixture.host.application.test(.router) { client in
            #expect(try await post(client, "/fhir/r4/Bundle", try GravityFixtures.transaction(), token: ehr).status == .created)
            let task = try firstTask(try body(try await get(client, "/fhir/r4/Task?based-on=ServiceRequest/\(GravityFixtures.serviceRequestID)", token: ehr)))
            let id = try #require(task["id"] as? String)

            let readers: [(Role, String, String?, HTTPResponse.Status)] = [
                (.ehrIntegration, "ehr-ottawa", "ottawa-west-chc", .ok), (.ehrIntegration, "ehr-rural", "rural-east", .notFound),
                (.ehrIntegration, "ehr-other-owner", "ottawa-west-chc", .notFound),
                (.linkWorker, "lw-1", "ottawa-west-chc", .ok), (.linkWorker, "lw-2", "rural-east", .notFound),
                (.referrer, "dr-other", "ottawa-west-chc", .notFound), (.coordinator, "coord", "ottawa-west-chc", .ok),
                (.coordinator, "coord-rural", "rural-east", .notFound), (.networkCoordinator, "coord-network", nil, .ok),
                (.analyst, "analyst", "ottawa-west-chc", .forbidden),
            ]
            for (role, subject, site, expected) in readers {
                let token = try await fixture.token(role, subject: subject, site: site)
                let taskRead = try await get(client, "/fhir/r4/Task/\(id)", token: token)
                #expect(taskRead.status == expected, "Task: \(role) \(subject)")
                #expect(taskRead.headers[.contentType] == "application/fhir+json")
                let requestRead = try await get(client, "/fhir/r4/ServiceRequest/\(GravityFixtures.serviceRequestID)", token: token)
                #expect(requestRead.status == expected, "ServiceRequest: \(role) \(subject)")
                if expected == .ok {
                    #expect(try body(requestRead)["code"] != nil, "the ServiceRequest as received")
                    #expect(try body(taskRead)["id"] as? String == id)
                }
                if expected == .notFound {
                    let search = try body(try await get(client, "/fhir/r4/Task?_id=\(id)", token: token))
                    #expect(search["total"] as? Int == 0, "search: \(role) \(subject)")
                }
            }
            #expect(try await get(client, "/fhir/r4/Task/\(id)", token: nil).status == .unauthorized)
            #expect(try await get(client, "/fhir/r4/Task/\(UUID())", token: ehr).status == .notFound)
            #expect(try await get(client, "/fhir/r4/Task/not-a-uuid", token: ehr).status == .notFound)
            #expect(try await get(client, "/fhir/r4/ServiceRequest/nope", token: ehr).status == .notFound)
            let both = try body(try await get(client, "/fhir/r4/Task?_id=\(id),\(UUID())", token: ehr))
            #expect(both["total"] as? Int == 1)
            #expect(try await get(client, "/fhir/r4/Task", token: ehr).status == .badRequest)

            let metadata = try await get(client, "/fhir/r4/metadata", token: nil)
            #expect(metadata.status == .ok)
            let capability = try body(metadata)
            #expect(capability["resourceType"] as? String == "CapabilityStatement")
            #expect(capability["fhirVersion"] as? String == "4.0.1")
            let types = ((capability["rest"] as? [[String: Any]])?.first?["resource"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(Set(types).isSuperset(of: ["ServiceRequest", "Task", "Subscription"]))
        }
        await fixture.tearDown()
    }

    @Test("the round trip: ServiceRequest in, Task out, Task completed with its output, each change notified to the EHR's signed rest-hook")
    func roundTrip() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        let fixture = try await IntakeFixture.make(environment: [
            "PASSERELLE_FHIR_ALLOW_PRIVATE_ENDPOINTS": "true", "PASSERELLE_FHIR_BASE_URL": "https://passerelle.example/fhir/r4",
            "PASSERELLE_FHIR_SUBSCRIPTION_RETRY_BASE_MS": "10", "PASSERELLE_FHIR_SUBSCRIPTION_RETRY_MAX_MS": "50",
        ])
        let settings = try FHIRSettings.fromEnvironment(fixture.host.components.settings.environment)
        let delivery = SubscriptionDelivery(pool: fixture.pool, gate: ReadinessGate(), settings: settings, logger: TestEnvironment.logger)
        /// Delivers until `until` holds for what the receiver has, or fails after a while.
        @Sendable func deliver(until: ([WebhookReceiver.Received]) -> Bool) async throws -> [WebhookReceiver.Received] {
            for _ in 0..<200 {
                await delivery.round()
                let received = try await receiver.records()
                if until(received) { return received }
                try await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("the expected notifications did not arrive")
            return try await receiver.records()
        }
        /// Runs matching's events through intake's handlers, each in its own transaction.
        @Sendable func consume(_ payloads: [any EventPayload]) async throws {
            let route = IntakeService.eventHandlers().handler
            for (offset, payload) in payloads.enumerated() {
                let event = try CloudEvent(payload, source: "/passerelle/matching", time: Date())
                let consumed = ConsumedEvent(event: event, topic: "matching", partition: 0, offset: Int64(offset), key: event.subject)
                try await fixture.pool.transaction { connection in try await route(consumed, connection) }
            }
        }
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        let elsewhere = try await fixture.token(.ehrIntegration, subject: "ehr-rural", site: "rural-east")
        let coordinator = try await fixture.token(.networkCoordinator, subject: "coord")

        @Sendable func subscription(endpoint: String, filter: String?) -> String {
            let criteria =
                filter.map {
                    #", "_criteria": {"extension": [{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria", "valueString": "\#($0)"}]}"#
                } ?? ""
            return """
                {"resourceType": "Subscription", "status": "requested", "reason": "Follow our SDOH referrals",
                 "criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task"\(criteria),
                 "channel": {"type": "rest-hook", "endpoint": "\(endpoint)", "payload": "application/fhir+json",
                   "_payload": {"extension": [{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", "valueCode": "id-only"}]},
                   "header": ["Authorization: Bearer ehr-hook-token"],
                   "extension": [{"url": "https://passerelle.example/fhir/StructureDefinition/webhook-secret", "valueString": "\(receiver.secret)"}]}}
                """
        }

        try await fixture.host.application.test(.router) { client in
            // The EHR subscribes to its site's Tasks; another site's EHR subscribes to everything it may see.
            let made = try await post(
                client, "/fhir/r4/Subscription", subscription(endpoint: receiver.url("/ehr?fail=2"), filter: "Task?owner=Organization/ottawa-west-chc"),
                token: ehr)
            #expect(made.status == .created, "\(String(buffer: made.body))")
            let subscriptionID = try #require(try body(made)["id"] as? String)
            #expect(try body(made)["status"] as? String == "requested")
            #expect(!String(buffer: made.body).contains(receiver.secret), "the secret is never shown")
            #expect(
                try await post(client, "/fhir/r4/Subscription", subscription(endpoint: receiver.url("/other"), filter: nil), token: elsewhere).status
                    == .created)

            // Handshakes first (the EHR's endpoint fails twice: retried), then the subscription is active.
            _ = try await deliver { received in received.filter { $0.type == "handshake" }.count == 2 }
            let active = try body(try await get(client, "/fhir/r4/Subscription/\(subscriptionID)", token: ehr))
            #expect(active["status"] as? String == "active")
            #expect(try await get(client, "/fhir/r4/Subscription/\(subscriptionID)", token: elsewhere).status == .notFound)

            // ServiceRequest in (the IG's own transaction), Task out.
            #expect(try await post(client, "/fhir/r4/Bundle", try GravityFixtures.transaction(), token: ehr).status == .created)
            let task = try firstTask(try body(try await get(client, "/fhir/r4/Task?focus=ServiceRequest/\(GravityFixtures.serviceRequestID)", token: ehr)))
            let taskID = try #require(task["id"] as? String)

            // The referral moves through the loop; each step is one Task change. Matching's
            // connection events (through intake's own handlers) are changes too.
            func move(_ action: String) async throws {
                let moved = try await client.execute(
                    uri: "/v1/referrals/\(taskID)/transitions", method: .post,
                    headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"], body: ByteBuffer(string: action))
                #expect(moved.status == .ok)
            }
            try await move(#"{"action": "accept"}"#)
            try await move(#"{"action": "start"}"#)
            let referral = try #require(UUID(uuidString: taskID))
            let connection = UUID()
            let resource = UUID()
            let proposedAt = Date()
            try await consume([
                ConnectionProposedV1(
                    connectionID: connection, referralID: referral, referralVersion: 3, resourceID: resource, resourceKind: "external-partner",
                    categories: ["food-security"], resourceName: "Banque alimentaire d'Ottawa", proposedAt: proposedAt),
                ConnectionChangedV1(
                    connectionID: connection, referralID: referral, referralVersion: 3, resourceID: resource, from: "accepted", to: "enrolled", reason: nil,
                    resourceName: "Banque alimentaire d'Ottawa", resourceKind: "external-partner", categories: ["food-security"],
                    changedAt: proposedAt.addingTimeInterval(60)),
                // Redelivered out of order: older than what is known, it changes nothing.
                ConnectionChangedV1(
                    connectionID: connection, referralID: referral, referralVersion: 3, resourceID: resource, from: "proposed", to: "accepted", reason: nil,
                    changedAt: proposedAt.addingTimeInterval(30)),
                // A referral without a Task is not followed.
                ConnectionProposedV1(
                    connectionID: UUID(), referralID: UUID(), referralVersion: 1, resourceID: resource, resourceKind: "external-partner",
                    categories: ["food-security"], proposedAt: proposedAt),
            ])
            try await move(#"{"action": "complete", "outcome": "Enrolled at the community food bank; first pantry visit done"}"#)
            let received = try await deliver { received in received.filter { $0.path == "/ehr" && $0.type == "event-notification" }.count == 6 }
            let events = received.filter { $0.path == "/ehr" && $0.type == "event-notification" }
            #expect(events.map { $0.event?.number } == ["1", "2", "3", "4", "5", "6"], "in order, numbered from the subscription's start")
            #expect(events.allSatisfy { $0.event?.focus == "https://passerelle.example/fhir/r4/Task/\(taskID)" })
            #expect(received.allSatisfy { $0.verified }, "every notification carries a valid Standard Webhooks signature")
            #expect(events.allSatisfy { $0.authorization == "Bearer ehr-hook-token" && $0.contentType == "application/fhir+json" })
            #expect(Set(events.compactMap(\.id)).count == 6, "one webhook-id per notification")
            #expect(received.filter { $0.path == "/other" && $0.type == "event-notification" }.isEmpty, "another site's EHR is told nothing of this Task")
            let first = try #require(events.first)
            #expect(first.body["type"] as? String == "history")
            #expect(((first.body["entry"] as? [[String: Any]])?.last?["fullUrl"]) as? String == "https://passerelle.example/fhir/r4/Task/\(taskID)")

            // Told, the EHR reads the Task: completed, with what was done and how it ended.
            let done = try body(try await get(client, "/fhir/r4/Task/\(taskID)", token: ehr))
            #expect(done["status"] as? String == "completed")
            #expect(((done["businessStatus"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String == "completed")
            let outputs = try #require(done["output"] as? [[String: Any]])
            #expect(outputs.count == 2, "the connection made, then the outcome")
            #expect(outputs.first?["valueString"] as? String == "enrolled: Banque alimentaire d'Ottawa (external-partner)")
            let output = try #require(outputs.last)
            let value = try #require(output["valueCodeableConcept"] as? [String: Any])
            #expect(value["text"] as? String == "Enrolled at the community food bank; first pantry visit done")
            #expect((value["coding"] as? [[String: Any]])?.first?["code"] as? String == "467771000124109", "the service the IG's request asked for")
            // The same shape as the IG's own completed referral Task.
            let published = try GravityFixtures.object("Task-SDOHCC-TaskReferralManagementOrderFulfillmentCompletedExample")
            for element in ["status", "intent"] { #expect(done[element] as? String == published[element] as? String, "\(element)") }
            func coding(_ concept: Any?) -> String? {
                ((concept as? [String: Any])?["coding"] as? [[String: Any]])?.first.map { "\($0["system"] ?? "")|\($0["code"] ?? "")" }
            }
            #expect(coding(done["code"]) == coding(published["code"]))
            #expect(coding(output["type"]) == coding((published["output"] as? [[String: Any]])?.first?["type"]))
            #expect((done["focus"] as? [String: Any])?["reference"] as? String == (published["focus"] as? [String: Any])?["reference"] as? String)
            #expect((done["for"] as? [String: Any])?["reference"] as? String == (published["for"] as? [String: Any])?["reference"] as? String)
            for element in ["authoredOn", "requester", "owner", "meta"] { #expect(done[element] != nil, "\(element)") }

            // $status counts the events sent since the subscription started.
            let status = try body(try await get(client, "/fhir/r4/Subscription/\(subscriptionID)/$status", token: ehr))
            let statusParameters = ((((status["entry"] as? [[String: Any]])?.first?["resource"]) as? [String: Any])?["parameter"] as? [[String: Any]]) ?? []
            #expect(statusParameters.first { $0["name"] as? String == "events-since-subscription-start" }?["valueString"] as? String == "6")
            #expect(statusParameters.first { $0["name"] as? String == "status" }?["valueCode"] as? String == "active")
            #expect(try await get(client, "/fhir/r4/Subscription/\(subscriptionID)/$status", token: elsewhere).status == .notFound)

            // Off: nothing more is sent to it.
            let deleted = try await client.execute(uri: "/fhir/r4/Subscription/\(subscriptionID)", method: .delete, headers: [.authorization: "Bearer \(ehr)"])
            #expect(deleted.status == .noContent)
            #expect(try body(try await get(client, "/fhir/r4/Subscription/\(subscriptionID)", token: ehr))["status"] as? String == "off")
        }
        #expect(try await fixture.count("fhir_subscription_notification", where: "sent_at IS NULL AND given_up_at IS NULL") == 0)
        await fixture.tearDown()
    }

    @Test("an endpoint that refuses for good puts the subscription in error; what it missed is not retried forever")
    func failingEndpoint() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        let fixture = try await IntakeFixture.make(environment: ["PASSERELLE_FHIR_ALLOW_PRIVATE_ENDPOINTS": "true"])
        let settings = try FHIRSettings.fromEnvironment(fixture.host.components.settings.environment)
        let delivery = SubscriptionDelivery(pool: fixture.pool, gate: ReadinessGate(), settings: settings, logger: TestEnvironment.logger)
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        try await fixture.host.application.test(.router) { client in
            let made = try await post(
                client, "/fhir/r4/Subscription",
                """
                {"resourceType": "Subscription", "status": "requested", "reason": "r", "criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
                 "channel": {"type": "rest-hook", "endpoint": "\(receiver.url("/gone"))",
                   "extension": [{"url": "https://passerelle.example/fhir/StructureDefinition/webhook-secret", "valueString": "\(receiver.secret)"}]}}
                """, token: ehr)
            #expect(made.status == .created)
            let id = try #require(try body(made)["id"] as? String)
            var state: [String: Any] = [:]
            for _ in 0..<100 {
                await delivery.round()
                state = try body(try await get(client, "/fhir/r4/Subscription/\(id)", token: ehr))
                if state["status"] as? String == "error" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(state["status"] as? String == "error")
            #expect((state["error"] as? String)?.contains("HTTP 410") == true)
        }
        #expect(try await fixture.count("fhir_subscription_notification", where: "given_up_at IS NOT NULL AND attempts = 1") == 1, "a 410 is not retried")
        #expect(try await fixture.count("fhir_subscription_notification", where: "sent_at IS NULL AND given_up_at IS NULL") == 0)
        await fixture.tearDown()
    }

    @Test("a queued notification wakes the running delivery loop: it goes out at once, not at the next poll")
    func deliveryWokenByQueuedNotification() async throws {
        let receiver = try await WebhookReceiver()
        defer { receiver.stop() }
        let fixture = try await IntakeFixture.make(environment: ["PASSERELLE_FHIR_ALLOW_PRIVATE_ENDPOINTS": "true"])
        let settings = try FHIRSettings.fromEnvironment(fixture.host.components.settings.environment)
        let gate = ReadinessGate()
        gate.open()
        // Polling alone would take a minute: only the wake-up can deliver within the test.
        let delivery = SubscriptionDelivery(pool: fixture.pool, gate: gate, settings: settings, logger: TestEnvironment.logger, pollInterval: .seconds(60))
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        try await fixture.host.application.test(.router) { client in
            let made = try await post(
                client, "/fhir/r4/Subscription",
                """
                {"resourceType": "Subscription", "status": "requested", "reason": "r", "criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
                 "channel": {"type": "rest-hook", "endpoint": "\(receiver.url("/ehr"))",
                   "extension": [{"url": "https://passerelle.example/fhir/StructureDefinition/webhook-secret", "valueString": "\(receiver.secret)"}]}}
                """, token: ehr)
            #expect(made.status == .created)
            // The loop's first round, at start, sends the handshake queued with the subscription.
            let running = Task { try await delivery.run() }
            #expect(try await eventually(timeout: .seconds(10)) { try await receiver.records().contains { $0.type == "handshake" } })
            try await Task.sleep(for: .milliseconds(300))  // the loop is waiting again

            let start = ContinuousClock.now
            #expect(try await post(client, "/fhir/r4/Bundle", try GravityFixtures.transaction(), token: ehr).status == .created)
            #expect(try await eventually(timeout: .seconds(10)) { try await receiver.records().contains { $0.type == "event-notification" } })
            #expect(ContinuousClock.now - start < .seconds(10))
            running.cancel()
            try await running.value
        }
        await fixture.tearDown()
    }

    @Test("erasing the client removes its Task, its ServiceRequest and the Patient posted for it")
    func erasure() async throws {
        let fixture = try await IntakeFixture.make()
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        let coordinator = try await fixture.token(.networkCoordinator, subject: "coord")
        try await fixture.host.application.test(.router) { client in
            #expect(try await post(client, "/fhir/r4/Patient", try GravityFixtures.patient, token: ehr).status == .created)
            #expect(try await post(client, "/fhir/r4/ServiceRequest", try GravityFixtures.activeRequest, token: ehr).status == .created)
            let task = try firstTask(try body(try await get(client, "/fhir/r4/Task?focus=ServiceRequest/\(GravityFixtures.serviceRequestID)", token: ehr)))
            let id = try #require(task["id"] as? String)
            let referral = try body(try await get(client, "/v1/referrals/\(id)", token: coordinator))
            let clientID = try #require(referral["clientId"] as? String)
            let erased = try await client.execute(uri: "/v1/clients/\(clientID)", method: .delete, headers: [.authorization: "Bearer \(coordinator)"])
            #expect(erased.status == .noContent)
            #expect(try await get(client, "/fhir/r4/Task/\(id)", token: coordinator).status == .notFound)
            #expect(try await get(client, "/fhir/r4/ServiceRequest/\(GravityFixtures.serviceRequestID)", token: coordinator).status == .notFound)
        }
        #expect(try await fixture.count("fhir_task") == 0)
        #expect(try await fixture.count("fhir_patient") == 0)
        await fixture.tearDown()
    }

    @Test("a subscription must name a public https endpoint (unless the deployment allows others), a secret and the Task topic")
    func subscriptionRefusals() async throws {
        let fixture = try await IntakeFixture.make()
        let ehr = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa", site: "ottawa-west-chc")
        @Sendable func subscription(
            endpoint: String = "https://203.0.113.10/hook", secret: String? = "Zq7vL2mX9tRw4KpB8nYc3HsJ6dFg1ATe",
            criteria: String = "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task", filter: String = "Task?status=completed",
            header: String = "X-Ehr: 1"
        ) -> String {
            let secretExtension =
                secret.map { #", "extension": [{"url": "https://passerelle.example/fhir/StructureDefinition/webhook-secret", "valueString": "\#($0)"}]"# } ?? ""
            return """
                {"resourceType": "Subscription", "status": "requested", "reason": "r", "criteria": "\(criteria)",
                 "_criteria": {"extension": [{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria", "valueString": "\(filter)"}]},
                 "channel": {"type": "rest-hook", "endpoint": "\(endpoint)", "payload": "application/fhir+json", "header": ["\(header)"]\(secretExtension)}}
                """
        }
        try await fixture.host.application.test(.router) { client in
            let cases: [(String, String, String)] = [
                (subscription(endpoint: "https://127.0.0.1:8443/hook"), "Subscription.channel.endpoint", "security"),
                (subscription(endpoint: "https://[::1]/hook"), "Subscription.channel.endpoint", "security"),
                (subscription(endpoint: "https://10.1.2.3/hook"), "Subscription.channel.endpoint", "security"),
                (subscription(endpoint: "https://192.168.0.10/hook"), "Subscription.channel.endpoint", "security"),
                (subscription(endpoint: "https://169.254.169.254/latest/meta-data"), "Subscription.channel.endpoint", "security"),
                (subscription(endpoint: "http://localhost/hook"), "Subscription.channel.endpoint", "security"),
                (subscription(endpoint: "ftp://ehr.example.org/hook"), "Subscription.channel.endpoint", "security"),
                (subscription(secret: nil), "Subscription.channel.extension", "required"),
                (subscription(secret: "short"), "Subscription.channel.extension", "security"),
                // Long enough, but guessable: as weak as a short one.
                (subscription(secret: String(repeating: "a", count: 40)), "Subscription.channel.extension", "security"),
                (subscription(secret: "0123456789abcdef0123456789abcdef"), "Subscription.channel.extension", "security"),
                (subscription(secret: "whsec_" + Data(count: 32).base64EncodedString()), "Subscription.channel.extension", "security"),
                (subscription(criteria: "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Servicerequest"), "Subscription.criteria", "not-supported"),
                (subscription(filter: "Task?patient=Patient/pat-53234"), "Subscription.criteria.extension[0].value", "not-supported"),
                (subscription(header: "X-Evil: 1\\r\\nX-Injected: 2"), "Subscription.channel.header[0]", "invalid"),
                (subscription(header: "webhook-signature: forged"), "Subscription.channel.header[0]", "invalid"),
            ]
            for (resource, expression, code) in cases {
                let response = try await post(client, "/fhir/r4/Subscription", resource, token: ehr)
                #expect(response.status == .unprocessableContent, "\(expression) \(code)")
                let found = try issues(response)
                #expect(found.contains { $0.expression == expression && $0.code == code }, "\(expression) \(code): \(found)")
            }
            let analyst = try await fixture.token(.analyst)
            #expect(try await post(client, "/fhir/r4/Subscription", subscription(), token: analyst).status == .forbidden)
            #expect(
                try await client.execute(uri: "/fhir/r4/Subscription/\(UUID())", method: .delete, headers: [.authorization: "Bearer \(ehr)"]).status
                    == .notFound)
        }
        #expect(try await fixture.count("fhir_subscription") == 0)
        await fixture.tearDown()
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IntakeService
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

/// Resources shaped after the Gravity Project SDOH Clinical Care IG examples.
enum GravityExamples {
    static let patient = """
        {"resourceType": "Patient", "id": "pat-53234",
         "name": [{"family": "Tremblay", "given": ["Lucie"]}], "birthDate": "1961-02-03",
         "telecom": [{"system": "phone", "value": "+1 613 555 0101", "rank": 2}, {"system": "email", "value": "lucie@example.org", "rank": 1}],
         "address": [{"postalCode": "K1N 6N5"}],
         "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-CA"}]}, "preferred": true}]}
        """

    static func serviceRequest(
        id: String = "sr-food-1", subject: String = "Patient/pat-53234", categories: [String] = ["food-insecurity"], status: String = "active"
    ) -> String {
        let codings =
            categories.map {
                #"{"coding": [{"system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes", "code": "\#($0)"}]}"#
            }
            + [#"{"coding": [{"system": "http://snomed.info/sct", "code": "410606002", "display": "Social service procedure"}]}"#]
        return """
            {"resourceType": "ServiceRequest", "id": "\(id)", "status": "\(status)", "intent": "order", "priority": "urgent",
             "category": [\(codings.joined(separator: ","))],
             "code": {"coding": [{"system": "http://snomed.info/sct", "code": "467771000124109", "display": "Assistance with application for food pantry program"}]},
             "subject": {"reference": "\(subject)"}, "requester": {"reference": "PractitionerRole/dr-bergeron"},
             "performer": [{"reference": "Organization/ottawa-west-chc"}],
             "reasonReference": [{"reference": "Condition/food-insecurity-condition"}]}
            """
    }

    static func bundle(
        type: String = "transaction", serviceRequest: String = serviceRequest(id: "sr-food-2", subject: "urn:uuid:5f8a7b8e-1111-4bbb-8ccc-000000000001")
    ) -> String {
        """
        {"resourceType": "Bundle", "type": "\(type)", "entry": [
          {"fullUrl": "urn:uuid:5f8a7b8e-1111-4bbb-8ccc-000000000001",
           "resource": {"resourceType": "Patient", "name": [{"family": "Nguyen", "given": ["Anh"]}], "birthDate": "1990-07-21",
                        "telecom": [{"system": "sms", "value": "+1 613 555 0177"}], "address": [{"postalCode": "K2P 2C7"}],
                        "communication": [{"language": {"coding": [{"code": "en"}]}, "preferred": true}]},
           "request": {"method": "POST", "url": "Patient"}},
          {"fullUrl": "urn:uuid:5f8a7b8e-1111-4bbb-8ccc-000000000002", "resource": \(serviceRequest), "request": {"method": "POST", "url": "ServiceRequest"}},
          {"resource": {"resourceType": "Consent", "status": "active",
                        "provision": {"type": "permit", "action": [{"coding": [{"code": "disclose"}]}], "purpose": [{"code": "HRESCH"}]}}},
          {"resource": {"resourceType": "QuestionnaireResponse", "status": "completed",
                        "item": [{"linkId": "/88122-7", "answer": [{"valueCoding": {"code": "LA28397-0"}}]}]}},
          {"resource": {"resourceType": "Condition", "id": "food-insecurity-condition"}}
        ]}
        """
    }
}

@Suite("Intake: FHIR R4 ServiceRequest, Patient, Bundle and Task", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct FHIRTests {
    func post(_ client: some TestClientProtocol, _ path: String, _ body: String, token: String) async throws -> TestResponse {
        try await client.execute(
            uri: path, method: .post, headers: [.authorization: "Bearer \(token)", .contentType: "application/fhir+json"], body: ByteBuffer(string: body))
    }

    func body(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
    }

    @Test("a Patient then a ServiceRequest become a referral with the mapped needs; the Task follows the loop")
    func serviceRequestWithPatient() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.ehrIntegration, subject: "ehr-connector")
        try await fixture.host.application.test(.router) { client in
            #expect(try await post(client, "/fhir/r4/Patient", GravityExamples.patient, token: token).status == .created)
            let created = try await post(client, "/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(), token: token)
            #expect(created.status == .created)
            #expect(created.headers[.location] == "ServiceRequest/sr-food-1")
            #expect(
                try await post(client, "/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(), token: token).status == .ok, "a retry is the same referral")

            let task = try body(
                try await client.execute(uri: "/fhir/r4/Task?focus=ServiceRequest/sr-food-1", method: .get, headers: [.authorization: "Bearer \(token)"]))
            #expect(task["total"] as? Int == 1)
            let resource = try #require(((task["entry"] as? [[String: Any]])?.first?["resource"]) as? [String: Any])
            #expect(resource["status"] as? String == "requested")
            let referralID = try #require(resource["id"] as? String)

            let coordinator = try await fixture.token(.networkCoordinator, subject: "coord")
            for action in [#"{"action": "accept"}"#, #"{"action": "start"}"#, #"{"action": "complete", "outcome": "enrolled at the community food bank"}"#] {
                let moved = try await client.execute(
                    uri: "/v1/referrals/\(referralID)/transitions", method: .post,
                    headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"], body: ByteBuffer(string: action))
                #expect(moved.status == .ok)
            }
            let done = try body(
                try await client.execute(uri: "/fhir/r4/Task?focus=ServiceRequest/sr-food-1", method: .get, headers: [.authorization: "Bearer \(token)"]))
            let finished = try #require(((done["entry"] as? [[String: Any]])?.first?["resource"]) as? [String: Any])
            #expect(finished["status"] as? String == "completed")
            let output = try #require((finished["output"] as? [[String: Any]])?.first)
            #expect((output["valueCodeableConcept"] as? [String: Any])?["text"] as? String == "enrolled at the community food bank")
        }
        let referral = try #require(
            try await fixture.pool.withConnection { connection -> PostgresRow? in
                try await connection.query("SELECT needs, priority, external_id, site FROM \(identifier: fixture.schema).referral").first
            })
        #expect(try referral.decode("needs", as: [String].self) == ["food-security"])
        #expect(try referral.decode("priority", as: String.self) == "urgent")
        #expect(try referral.decode("site", as: String.self) == "ottawa-west-chc")
        let language = try await fixture.pool.withConnection {
            try await $0.query("SELECT preferred_language, preferred_channel FROM \(identifier: fixture.schema).client").first!
        }
        #expect(try language.decode("preferred_language", as: String.self) == "fr")
        #expect(try language.decode("preferred_channel", as: String.self) == "email", "the rank-1 telecom")
        await fixture.tearDown()
    }

    @Test(
        "a Patient belongs to its sender: another sender's same id neither overwrites it nor can be referenced; another sender's ServiceRequest id is a 409 that says nothing"
    )
    func patientsBelongToTheirSender() async throws {
        let fixture = try await IntakeFixture.make()
        let ours = try await fixture.token(.ehrIntegration, subject: "ehr-ottawa")
        let theirs = try await fixture.token(.ehrIntegration, subject: "ehr-intruder")
        let otherSite = try await fixture.token(.ehrIntegration, subject: "ehr-rural", site: "rural-east")
        try await fixture.host.application.test(.router) { client in
            #expect(try await post(client, "/fhir/r4/Patient", GravityExamples.patient, token: ours).status == .created)
            // The intruder posts its own Patient under the same id: it is theirs, ours is untouched.
            let impostor = GravityExamples.patient.replacingOccurrences(of: "Tremblay", with: "Intrus")
            #expect(try await post(client, "/fhir/r4/Patient", impostor, token: theirs).status == .created)
            // Referencing Patient/pat-53234 refers the sender's own Patient: ours is Tremblay.
            #expect(try await post(client, "/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(), token: ours).status == .created)
            // A sender with no Patient of that id cannot reference ours.
            let unknown = try await post(client, "/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(id: "sr-rural"), token: otherSite)
            #expect(unknown.status == .unprocessableContent)
            #expect(String(buffer: unknown.body).contains("is unknown"))
            // Another sender's ServiceRequest id: a conflict that names nothing of the referral.
            let taken = try await post(client, "/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(), token: theirs)
            #expect(taken.status == .conflict)
            let text = String(buffer: taken.body)
            #expect(!text.contains("ottawa-west-chc") && !text.contains("Tremblay") && !text.contains("requested"), "\(text)")
        }
        let families = try await fixture.pool.withConnection { connection in
            try await connection.query("SELECT owner, resource->'name'->0->>'family' AS family FROM \(identifier: fixture.schema).fhir_patient ORDER BY owner")
                .map { "\(try $0.decode("owner", as: String.self))=\(try $0.decode("family", as: String.self))" }
        }
        #expect(families == ["ehr-intruder=Intrus", "ehr-ottawa=Tremblay"])
        let client = try await fixture.pool.withConnection {
            try await $0.query("SELECT family_name FROM \(identifier: fixture.schema).client").map { try $0.decode("family_name", as: String.self) }
        }
        #expect(client == ["Tremblay"])
        await fixture.tearDown()
    }

    @Test("a transaction Bundle with its Patient, Consent and QuestionnaireResponse maps to one referral")
    func bundle() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.ehrIntegration, subject: "ehr-connector")
        try await fixture.host.application.test(.router) { client in
            let response = try await post(client, "/fhir/r4/Bundle", GravityExamples.bundle(), token: token)
            #expect(response.status == .created)
            let result = try body(response)
            #expect(result["type"] as? String == "transaction-response")
        }
        let row = try #require(
            try await fixture.pool.withConnection { connection -> PostgresRow? in
                try await connection.query(
                    "SELECT r.needs, r.screening_answers::text AS answers, c.consent_share_with_partners AS share, c.consent_evaluation_use AS evaluation FROM \(identifier: fixture.schema).referral r JOIN \(identifier: fixture.schema).client c ON c.id = r.client_id"
                ).first
            })
        #expect(try row.decode("needs", as: [String].self) == ["food-security"])
        #expect(try row.decode("answers", as: String.self).contains("LA28397-0"))
        #expect(try row.decode("share", as: Bool.self))
        #expect(try row.decode("evaluation", as: Bool.self))
        await fixture.tearDown()
    }

    @Test("unmappable or malformed FHIR is refused with an OperationOutcome, and nothing is stored")
    func refusals() async throws {
        let fixture = try await IntakeFixture.make()
        let token = try await fixture.token(.ehrIntegration, subject: "ehr-connector")
        try await fixture.host.application.test(.router) { client in
            _ = try await post(client, "/fhir/r4/Patient", GravityExamples.patient, token: token)
            let cases: [(String, String, String)] = [
                ("/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(categories: ["veteran-status"]), "veteran-status"),
                ("/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(categories: []), "Gravity SDOH category"),
                ("/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(status: "draft"), "active"),
                ("/fhir/r4/ServiceRequest", GravityExamples.serviceRequest(subject: "Patient/unknown"), "unknown"),
                ("/fhir/r4/ServiceRequest", #"{"resourceType": "ServiceRequest", "status": 5}"#, "ServiceRequest.status: must be a code"),
                (
                    "/fhir/r4/ServiceRequest",
                    #"{"resourceType": "ServiceRequest", "status": "active", "intent": "order", "subject": {"reference": "Patient/pat-53234"}, "note": [{"text": 5}]}"#,
                    "not valid FHIR"
                ),
                ("/fhir/r4/Bundle", GravityExamples.bundle(type: "document"), "transaction"),
                ("/fhir/r4/Bundle", GravityExamples.bundle(serviceRequest: GravityExamples.serviceRequest(subject: "urn:uuid:missing")), "not a Patient"),
            ]
            for (path, resource, expected) in cases {
                let response = try await post(client, path, resource, token: token)
                #expect(response.status.code >= 400 && response.status.code < 500, "\(expected)")
                #expect(response.headers[.contentType] == "application/fhir+json")
                let outcome = try body(response)
                #expect(outcome["resourceType"] as? String == "OperationOutcome")
                let diagnostics = (outcome["issue"] as? [[String: Any]] ?? []).compactMap { $0["diagnostics"] as? String }.joined(separator: " | ")
                #expect(diagnostics.contains(expected), "\(diagnostics)")
            }
            let analyst = try await fixture.token(.analyst)
            let refused = try await post(client, "/fhir/r4/Bundle", GravityExamples.bundle(), token: analyst)
            #expect(refused.status == .forbidden)
            #expect(try body(refused)["resourceType"] as? String == "OperationOutcome")
        }
        #expect(try await fixture.count("referral") == 0)
        #expect(try await fixture.count("outbox") == 0)
        await fixture.tearDown()
    }
}

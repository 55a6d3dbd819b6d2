import EvaluationService
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IntakeService
import MatchingService
import NotificationService
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

/// The role half of the access matrix, derived from each service's contract: every operation ×
/// every role (and no token). A role the operation's `x-passerelle-roles` does not name is 403; one
/// it names is never refused for its role (whatever the handler then says of the made-up id or
/// body); no token is 401 wherever the document asks for one; a token naming a site with a
/// network-wide role is 403 everywhere. A route missing from a document stops its host from
/// building, so none escapes the matrix. The site and owner half is `AccessScopeMatrixTests`.
@Suite("Access matrix: every operation of every service, every role", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(5)))
struct AccessMatrixTests {
    @Test("intake") func intake() async throws { try await check(IntakeService.self) }
    @Test("matching") func matching() async throws { try await check(MatchingService.self) }
    @Test("notification") func notification() async throws { try await check(NotificationService.self) }
    @Test("evaluation") func evaluation() async throws { try await check(EvaluationService.self) }

    func check<S: PasserelleService>(_ service: S.Type) async throws {
        let test = try await ServiceTestHost.make(S.self)
        let contract = try ServiceContract(document: S.openAPIDocument)
        var signed: [Role: String] = [:]
        for role in Role.allCases { signed[role] = try await test.token(role, subject: "matrix-\(role.rawValue)", site: "ottawa-west-chc") }
        let tokens = signed
        let contradictory = try await TokenVerifier(settings: AuthSettings(hmacSecret: test.secret))
            .sign(AccessClaims(subject: "matrix-wide", roles: [.networkCoordinator], site: "ottawa-west-chc", expires: Date().addingTimeInterval(600)))
        let checked = try await test.host.application.test(.router) { client in
            var checked = 0
            for operation in contract.operations {
                // Path parameters get an id that exists nowhere; bodies are an empty object.
                let uri = operation.path.replacingOccurrences(of: #"\{[^}]+\}"#, with: UUID().uuidString.lowercased(), options: .regularExpression)
                let body = [.post, .put, .patch].contains(operation.method) ? ByteBuffer(string: "{}") : nil
                func call(_ token: String?) async throws -> HTTPResponse.Status {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let token { headers[.authorization] = "Bearer \(token)" }
                    return try await client.execute(uri: uri, method: operation.method, headers: headers, body: body).status
                }
                guard let allowed = operation.roles else {
                    #expect(try await call(nil) != .unauthorized, "\(operation) is open")
                    continue
                }
                #expect(try await call(nil) == .unauthorized, "\(operation) without a token")
                #expect(try await call(contradictory) == .forbidden, "\(operation) with a network-wide role and a site")
                for role in Role.allCases {
                    let status = try await call(tokens[role])
                    if allowed.contains(role) {
                        #expect(status != .forbidden && status != .unauthorized, "\(operation) as \(role.rawValue): \(status)")
                    } else {
                        #expect(status == .forbidden, "\(operation) as \(role.rawValue): \(status)")
                    }
                    checked += 1
                }
            }
            return checked
        }
        #expect(checked >= Role.allCases.count * contract.operations.filter { $0.roles != nil }.count)
        await test.tearDown()
    }
}

/// The site and owner half of the access matrix: fixtures at one site by one owner (a referral,
/// its client, a FHIR ServiceRequest with its Task, a subscription, a connection), then every
/// secured operation of the four services × every role its contract allows × the owner at the
/// fixtures' site / the owner at another site / someone else at the site. Each operation says in
/// `probes` what its request is and what bounds it; one missing there fails the test, so a new
/// route cannot skip the matrix.
@Suite(
    "Access matrix: every operation × role × own site / another site / another owner", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(6))
)
struct AccessScopeMatrixTests {
    static let site = "ottawa-west-chc"
    static let otherSite = "rural-east"
    static let owner = "owner-a"
    static let stranger = "owner-z"

    enum Relation: String, CaseIterable, Sendable {
        case ownSite = "the owner at the site"
        case otherSite = "the owner at another site"
        case otherOwner = "another caller at the site"

        var subject: String { self == .otherOwner ? AccessScopeMatrixTests.stranger : AccessScopeMatrixTests.owner }
        var site: String { self == .otherSite ? AccessScopeMatrixTests.otherSite : AccessScopeMatrixTests.site }
    }

    /// What a caller must get.
    enum Outcome: Equatable, CustomStringConvertible {
        /// Reached the handler: neither 401, 403 nor 404 (what the handler then says of the body is its own).
        case allowed
        case refused(Int)
        /// A list (200) that shows the fixture, or does not.
        case listed(Bool)

        var description: String {
            switch self {
            case .allowed: "allowed"
            case .refused(let status): "refused with \(status)"
            case .listed(let shown): shown ? "listed" : "left out"
            }
        }
    }

    /// What bounds an operation.
    enum Rule {
        /// Neither a site nor an owner (the shared catalogue, templates, new resources of one's own).
        case shared
        /// A site: another site's is `denied`.
        case site(denied: Int)
        /// A site, and for the `owners` roles also their sender: another site's or another sender's is `denied`.
        case siteAndOwner(owners: Set<Role>, denied: Int)
        /// Its sender only, wherever they work.
        case owner(denied: Int)
        /// A list showing the fixture to whoever `siteAndOwner(owners)` lets see it.
        case listed(owners: Set<Role>)
        /// A FHIR ServiceRequest for the owner's Patient: another site is 403; another sender
        /// has no such Patient (422, as an unknown one).
        case fhirSubmission

        func expected(_ role: Role, _ relation: Relation) -> Outcome {
            let hidden: Bool
            switch self {
            case .shared: return .allowed
            case .site(let denied):
                return relation == .otherSite && !role.isNetworkWide ? .refused(denied) : .allowed
            case .siteAndOwner(let owners, let denied):
                hidden = !role.isNetworkWide && (relation == .otherSite || (relation == .otherOwner && owners.contains(role)))
                return hidden ? .refused(denied) : .allowed
            case .owner(let denied):
                return relation == .otherOwner && !role.isNetworkWide ? .refused(denied) : .allowed
            case .listed(let owners):
                hidden = !role.isNetworkWide && (relation == .otherSite || (relation == .otherOwner && owners.contains(role)))
                return .listed(!hidden)
            case .fhirSubmission:
                if relation == .otherOwner { return .refused(422) }
                return relation == .otherSite && !role.isNetworkWide ? .refused(403) : .allowed
            }
        }
    }

    struct Call: Sendable {
        var method: String
        var path: String
        var body: String?
        var headers: [String: String] = [:]
        /// For lists: whether the answer shows the fixture.
        var shows: (@Sendable (Data) throws -> Bool)?
    }

    /// What the probes work on, made once at the matrix's site by its owner.
    struct Fixtures: Sendable {
        var referral: String
        var client: String
        var serviceRequest: String
        var task: String
        var subscription: String
        var resource: String
        var connection: String
        /// A new referral at the site by the owner, for operations that change it for good.
        var freshReferral: @Sendable () async throws -> (referral: String, client: String)
        /// A new subscription of the owner's.
        var freshSubscription: @Sendable () async throws -> String
        /// A new coordinator registered as a recipient at the site; returns their id.
        var freshCoordinator: @Sendable () async throws -> String
    }

    struct Probe: Sendable {
        var rule: Rule
        var call: @Sendable (Fixtures, _ subject: String) async throws -> Call
    }

    static func referralBody(referrer: String, given: String, site: String = site, externalID: String? = nil) -> String {
        let external = externalID.map { #""externalId": "\#($0)", "# } ?? ""
        return """
            {\(external)"client": {"givenName": "\(given)", "familyName": "Matrice", "birthDate": "1950-03-04", "contact": {"phone": "+1 613 555 0199"},
                        "preferredLanguage": "fr", "postalCode": "K1Y 4E9", "preferredChannel": "sms"},
             "referrer": {"id": "\(referrer)", "role": "physician"}, "site": "\(site)", "needs": ["loneliness"],
             "interests": ["walking"], "supportLevel": "light", "priority": "routine",
             "consent": {"contact": true, "shareWithPartners": true, "evaluationUse": true}}
            """
    }

    static let patientID = "pat-matrix"
    static let patient = """
        {"resourceType": "Patient", "id": "\(patientID)", "name": [{"family": "Matrice", "given": ["Fhir"]}], "birthDate": "1961-02-03",
         "telecom": [{"system": "phone", "value": "+1 613 555 0101"}], "address": [{"postalCode": "K1N 6N5"}]}
        """

    /// A Gravity ServiceRequest without requester: the sender refers in its own name.
    static func serviceRequest(_ id: String, subject: String = "Patient/\(patientID)") -> String {
        """
        {"resourceType": "ServiceRequest", "id": "\(id)", "status": "active", "intent": "order",
         "category": [{"coding": [{"system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes", "code": "food-insecurity"}]}],
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "467771000124109"}]},
         "subject": {"reference": "\(subject)"}, "performer": [{"reference": "Organization/\(site)"}]}
        """
    }

    static func bundle(_ id: String) -> String {
        """
        {"resourceType": "Bundle", "type": "transaction", "entry": [
          {"fullUrl": "urn:uuid:\(id)", "resource": {"resourceType": "Patient", "name": [{"family": "Lot", "given": ["Fhir"]}], "birthDate": "1970-01-02",
             "address": [{"postalCode": "K2P 2C7"}], "telecom": [{"system": "phone", "value": "+1 613 555 0177"}]}},
          {"resource": \(serviceRequest("sr-\(id)", subject: "urn:uuid:\(id)"))}]}
        """
    }

    static let subscription = """
        {"resourceType": "Subscription", "status": "requested", "reason": "matrix",
         "criteria": "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task",
         "channel": {"type": "rest-hook", "endpoint": "https://203.0.113.10/hook", "payload": "application/fhir+json",
           "extension": [{"url": "https://passerelle.example/fhir/StructureDefinition/webhook-secret", "valueString": "Qm8vT2x9ZkR1cEh3YmNyX0t4N2pWcE1zTGFlUnQ"}]}}
        """

    static let resource = """
        {"organisation": "Centre Dalhousie", "name": "Club de marche", "kind": "health-champion-group", "categories": ["loneliness"],
         "description": "", "languages": ["fr"], "interpretationAvailable": false, "delivery": ["in-person"],
         "coordinates": {"latitude": 45.40, "longitude": -75.72}, "weekdays": [2], "eligibility": {"areas": []}, "accessibility": [],
         "capacity": {"seatsTaken": 0, "waitlistAllowed": false}, "tags": ["walking"], "active": true}
        """

    static func contains(_ id: String) -> @Sendable (Data) throws -> Bool {
        { data in String(decoding: data, as: UTF8.self).lowercased().contains(id.lowercased()) }
    }

    /// Every secured operation of the four services, by operationId.
    static let probes: [String: Probe] = [
        // intake: referrals (JSON)
        "submitReferral": Probe(rule: .site(denied: 403)) { _, subject in
            Call(method: "POST", path: "/v1/referrals", body: referralBody(referrer: subject, given: "Envoi\(UUID().uuidString.prefix(6))"))
        },
        "listReferrals": Probe(rule: .listed(owners: [.referrer])) { f, _ in
            Call(method: "GET", path: "/v1/referrals?limit=200", shows: contains(f.referral))
        },
        "getReferral": Probe(rule: .siteAndOwner(owners: [.referrer], denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)") },
        "transitionReferral": Probe(rule: .siteAndOwner(owners: [.referrer], denied: 404)) { f, _ in
            let fresh = try await f.freshReferral()
            return Call(method: "POST", path: "/v1/referrals/\(fresh.referral)/transitions", body: #"{"action": "cancel", "reason": "matrix"}"#)
        },
        "listStatusHistory": Probe(rule: .siteAndOwner(owners: [.referrer], denied: 404)) { f, _ in
            Call(method: "GET", path: "/v1/referrals/\(f.referral)/history")
        },
        "getReferralAudit": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/audit") },
        "changeClientConsent": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "PUT", path: "/v1/clients/\(f.client)/consent", body: #"{"contact": true, "shareWithPartners": true, "evaluationUse": true}"#)
        },
        "readClient": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/clients/\(f.client)") },
        "eraseClient": Probe(rule: .site(denied: 404)) { f, _ in
            let fresh = try await f.freshReferral()
            return Call(method: "DELETE", path: "/v1/clients/\(fresh.client)")
        },
        // intake: casework (the fixture's referral is not open yet: a caller let through gets 409)
        "logContact": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "POST", path: "/v1/referrals/\(f.referral)/contacts", body: #"{"mode": "phone", "reached": false, "minutes": 1}"#)
        },
        "listContacts": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/contacts") },
        "getPlan": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/plan") },
        "writePlan": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "PUT", path: "/v1/referrals/\(f.referral)/plan", body: #"{"whatMatters": "matrix"}"#)
        },
        "setGoal": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "POST", path: "/v1/referrals/\(f.referral)/goals", body: #"{"lifeDomain": "money", "description": "matrix"}"#)
        },
        "reviewGoal": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "POST", path: "/v1/referrals/\(f.referral)/goals/\(UUID())/reviews", body: #"{"progress": "started"}"#)
        },
        "reviseSupportLevel": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "PUT", path: "/v1/referrals/\(f.referral)/support-level", body: #"{"supportLevel": "holistic", "reason": "matrix"}"#)
        },
        "writeNote": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "POST", path: "/v1/referrals/\(f.referral)/notes", body: #"{"body": "matrix"}"#) },
        "listNotes": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/notes") },
        "getFollowUpPolicy": Probe(rule: .site(denied: 404)) { _, _ in Call(method: "GET", path: "/v1/sites/\(site)/follow-up-policy") },
        "setFollowUpPolicy": Probe(rule: .site(denied: 404)) { _, _ in
            Call(
                method: "PUT", path: "/v1/sites/\(site)/follow-up-policy",
                body: #"{"firstContactWorkingDays": 2, "followUpWeeks": [6, 12], "maxHoldDays": 30, "escalateAfterWorkingDays": 3}"#)
        },
        // intake: FHIR
        "createFHIRPatient": Probe(rule: .shared) { _, _ in
            Call(method: "POST", path: "/fhir/r4/Patient", body: patient.replacingOccurrences(of: patientID, with: "pat-\(UUID().uuidString.prefix(8))"))
        },
        "createFHIRServiceRequest": Probe(rule: .fhirSubmission) { _, _ in
            Call(method: "POST", path: "/fhir/r4/ServiceRequest", body: serviceRequest("sr-\(UUID().uuidString.prefix(8).lowercased())"))
        },
        "createFHIRBundle": Probe(rule: .site(denied: 403)) { _, _ in
            Call(method: "POST", path: "/fhir/r4/Bundle", body: bundle(UUID().uuidString.lowercased()))
        },
        "postFHIRTransaction": Probe(rule: .site(denied: 403)) { _, _ in Call(method: "POST", path: "/fhir/r4", body: bundle(UUID().uuidString.lowercased())) },
        "readFHIRServiceRequest": Probe(rule: .siteAndOwner(owners: [.referrer, .ehrIntegration], denied: 404)) { f, _ in
            Call(method: "GET", path: "/fhir/r4/ServiceRequest/\(f.serviceRequest)")
        },
        "readFHIRTask": Probe(rule: .siteAndOwner(owners: [.referrer, .ehrIntegration], denied: 404)) { f, _ in
            Call(method: "GET", path: "/fhir/r4/Task/\(f.task)")
        },
        "searchFHIRTask": Probe(rule: .listed(owners: [.referrer, .ehrIntegration])) { f, _ in
            Call(method: "GET", path: "/fhir/r4/Task?focus=ServiceRequest/\(f.serviceRequest)", shows: contains(f.task))
        },
        "createFHIRSubscription": Probe(rule: .shared) { _, _ in Call(method: "POST", path: "/fhir/r4/Subscription", body: subscription) },
        "readFHIRSubscription": Probe(rule: .owner(denied: 404)) { f, _ in Call(method: "GET", path: "/fhir/r4/Subscription/\(f.subscription)") },
        "getFHIRSubscriptionStatus": Probe(rule: .owner(denied: 404)) { f, _ in Call(method: "GET", path: "/fhir/r4/Subscription/\(f.subscription)/$status") },
        "deleteFHIRSubscription": Probe(rule: .owner(denied: 404)) { f, _ in
            let fresh = try await f.freshSubscription()
            return Call(method: "DELETE", path: "/fhir/r4/Subscription/\(fresh)")
        },
        // matching: the shared catalogue, then what belongs to a referral's site
        "createResource": Probe(rule: .shared) { _, _ in Call(method: "POST", path: "/v1/resources", body: resource) },
        "searchResources": Probe(rule: .shared) { _, _ in Call(method: "GET", path: "/v1/resources") },
        "getResource": Probe(rule: .shared) { f, _ in Call(method: "GET", path: "/v1/resources/\(f.resource)") },
        "replaceResource": Probe(rule: .shared) { f, _ in Call(method: "PUT", path: "/v1/resources/\(f.resource)", body: resource) },
        // The last of matching's operations by path: nothing probed after it needs the resource active.
        "deactivateResource": Probe(rule: .shared) { f, _ in Call(method: "POST", path: "/v1/resources/\(f.resource)/deactivate") },
        "importCatalogue": Probe(rule: .shared) { _, _ in Call(method: "POST", path: "/v1/catalogue/imports", body: "{}") },
        "exportCatalogue": Probe(rule: .shared) { _, _ in Call(method: "GET", path: "/v1/catalogue/export") },
        "reviewCatalogue": Probe(rule: .shared) { _, _ in Call(method: "GET", path: "/v1/catalogue/review") },
        "saveLinkWorker": Probe(rule: .site(denied: 403)) { _, _ in
            Call(method: "PUT", path: "/v1/link-workers/\(UUID())", body: #"{"name": "Nadia", "site": "\#(site)", "languages": ["fr"], "caseloadCapacity": 5}"#)
        },
        "getMatches": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/matches") },
        "rematchReferral": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "POST", path: "/v1/referrals/\(f.referral)/rematch", body: "{}") },
        "listConnections": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/connections") },
        "proposeConnection": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "POST", path: "/v1/referrals/\(f.referral)/connections", body: #"{"resourceId": "\#(f.resource)"}"#)
        },
        "changeConnection": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "PATCH", path: "/v1/connections/\(f.connection)", body: #"{"status": "accepted"}"#)
        },
        // notification
        "listNotifications": Probe(rule: .listed(owners: [])) { f, _ in
            Call(method: "GET", path: "/v1/notifications?referral=\(f.referral)", shows: contains(f.referral))
        },
        "listTemplates": Probe(rule: .shared) { _, _ in Call(method: "GET", path: "/v1/templates") },
        "saveTemplate": Probe(rule: .shared) { _, _ in Call(method: "PUT", path: "/v1/templates/referral-assigned/fr/text", body: #"{"body": "Bonjour"}"#) },
        "saveRecipient": Probe(rule: .shared) { _, _ in Call(method: "PUT", path: "/v1/recipients/referrer/matrix", body: "{}") },
        "saveWebhookTarget": Probe(rule: .shared) { _, _ in Call(method: "PUT", path: "/v1/webhook-targets/matrix", body: "{}") },
        "saveSitePolicy": Probe(rule: .site(denied: 404)) { _, _ in
            Call(method: "PUT", path: "/v1/sites/\(site)/policy", body: #"{"defaultLanguage": "fr", "timeZone": "America/Toronto", "quietHours": null}"#)
        },
        "listSiteCoordinators": Probe(rule: .site(denied: 404)) { _, _ in Call(method: "GET", path: "/v1/sites/\(site)/coordinators") },
        "saveSiteCoordinator": Probe(rule: .site(denied: 404)) { _, _ in
            Call(
                method: "PUT", path: "/v1/sites/\(site)/coordinators/matrix",
                body: #"{"displayName": "Claire", "email": "claire@example.org", "language": "fr", "channel": "email"}"#)
        },
        "removeSiteCoordinator": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "DELETE", path: "/v1/sites/\(site)/coordinators/\(try await f.freshCoordinator())")
        },
        // evaluation
        "recordOutcome": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "POST", path: "/v1/referrals/\(f.referral)/outcomes", body: #"{"instrument": "ucla3", "timepoint": "baseline", "answers": [1, 2, 1]}"#)
        },
        "listOutcomes": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/outcomes") },
        "recordServiceUse": Probe(rule: .site(denied: 404)) { f, _ in
            Call(method: "PUT", path: "/v1/referrals/\(f.referral)/service-use", body: #"{"before": {"primaryCareVisits": 2}}"#)
        },
        "getServiceUse": Probe(rule: .site(denied: 404)) { f, _ in Call(method: "GET", path: "/v1/referrals/\(f.referral)/service-use") },
        "listReports": Probe(rule: .shared) { _, _ in Call(method: "GET", path: "/v1/reports") },
        "runReport": Probe(rule: .site(denied: 403)) { _, _ in Call(method: "GET", path: "/v1/reports/overview?site=\(site)") },
    ]

    @Test("every secured operation × every allowed role × own site / another site / another owner; and the hostile cases")
    func matrix() async throws {
        let deployment = TestDeployment()
        try await deployment.createTopics()
        let logger = TestEnvironment.logger
        let services: [(String, any PasserelleService.Type)] = [
            ("intake", IntakeService.self), ("matching", MatchingService.self), ("notification", NotificationService.self),
            ("evaluation", EvaluationService.self),
        ]
        var hosts: [ServiceHost] = []
        var bases: [String: String] = [:]
        var contracts: [(service: String, contract: ServiceContract)] = []
        for (name, type) in services {
            let settings = deployment.settings(name)
            let host = try await ServiceHost.build(type, settings: settings, logger: logger)
            hosts.append(host)
            bases[name] = "http://127.0.0.1:\(settings.httpPort)"
            contracts.append((name, try ServiceContract(document: type.openAPIDocument)))
        }
        let urls = bases
        let documents = contracts
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)
        let ready = hosts

        try await running(ready) {
            for host in ready {
                let up = try await eventually { (try? await http("GET", "http://127.0.0.1:\(host.components.settings.httpPort)/health/ready").status) == 200 }
                #expect(up, "\(host.components.settings.serviceName) becomes ready")
            }
            func token(_ role: Role, _ subject: String, sites: [String]?) async throws -> String {
                try await TokenVerifier(settings: AuthSettings(hmacSecret: TestDeployment.secret))
                    .sign(
                        AccessClaims(
                            subject: subject, roles: [role], site: nil, sites: role.isNetworkWide ? nil : sites, expires: Date().addingTimeInterval(900)))
            }
            let network = try await token(.networkCoordinator, "matrix-network", sites: nil)
            let referrer = try await token(.referrer, Self.owner, sites: [Self.site])
            let ehr = try await token(.ehrIntegration, Self.owner, sites: [Self.site])
            func created(_ result: HTTPResult, _ what: String) throws -> [String: Any] {
                #expect(result.status == 201, "\(what): \(result.status) \(String(decoding: result.body, as: UTF8.self))")
                return try #require(try JSONSerialization.jsonObject(with: result.body) as? [String: Any])
            }

            // Fixtures at the site, by the owner: a link worker and a resource to match, a referral
            // (JSON), a FHIR ServiceRequest with its Task, a subscription, a connection.
            let worker = try await http(
                "PUT", "\(urls["matching"]!)/v1/link-workers/\(UUID())", token: network,
                body: Data(#"{"name": "Amélie", "site": "\#(Self.site)", "languages": ["fr"], "caseloadCapacity": 50}"#.utf8))
            #expect(worker.status == 200)
            let resource = try created(try await http("POST", "\(urls["matching"]!)/v1/resources", token: network, body: Data(Self.resource.utf8)), "resource")
            let referral = try created(
                try await http(
                    "POST", "\(urls["intake"]!)/v1/referrals", token: referrer, body: Data(Self.referralBody(referrer: Self.owner, given: "Élodie").utf8)),
                "referral")
            let referralID = try #require(referral["id"] as? String)
            _ = try created(try await http("POST", "\(urls["intake"]!)/fhir/r4/Patient", token: ehr, body: Data(Self.patient.utf8)), "Patient")
            _ = try created(
                try await http("POST", "\(urls["intake"]!)/fhir/r4/ServiceRequest", token: ehr, body: Data(Self.serviceRequest("sr-matrix").utf8)),
                "ServiceRequest")
            let search = try await http("GET", "\(urls["intake"]!)/fhir/r4/Task?focus=ServiceRequest/sr-matrix", token: ehr)
            let taskID = try #require(
                (((try JSONSerialization.jsonObject(with: search.body) as? [String: Any])?["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any])?[
                    "id"]
                    as? String)
            @Sendable func subscribe() async throws -> String {
                let made = try await http("POST", "\(urls["intake"]!)/fhir/r4/Subscription", token: ehr, body: Data(Self.subscription.utf8))
                #expect(made.status == 201, "subscription: \(String(decoding: made.body, as: UTF8.self))")
                return try #require((try JSONSerialization.jsonObject(with: made.body) as? [String: Any])?["id"] as? String)
            }
            let subscription = try await subscribe()
            for (service, table) in [("matching", "referral_intake"), ("notification", "referral_audience"), ("evaluation", "pathway")] {
                let arrived = try await eventually {
                    try await pool.withConnection {
                        try await $0.query(
                            "SELECT count(*) AS n FROM \(identifier: "\(service)_\(deployment.id)").\(identifier: table) WHERE referral_id = \(referralID)::uuid"
                        ).first!.decode("n", as: Int.self)
                    } == 1
                }
                #expect(arrived, "\(service) recorded the referral")
            }
            let connection = try created(
                try await http(
                    "POST", "\(urls["matching"]!)/v1/referrals/\(referralID)/connections", token: network,
                    body: Data(#"{"resourceId": "\#(resource["id"] as! String)"}"#.utf8)), "connection")
            // The log has something to show (the assignment's messages) before it is probed.
            let logged = try await eventually {
                let log = try await http("GET", "\(urls["notification"]!)/v1/notifications?referral=\(referralID)", token: network)
                return log.status == 200 && String(decoding: log.body, as: UTF8.self).contains(referralID)
            }
            #expect(logged, "the referral's notifications are logged")
            let fixtures = Fixtures(
                referral: referralID, client: try #require(referral["clientId"] as? String), serviceRequest: "sr-matrix", task: taskID,
                subscription: subscription, resource: try #require(resource["id"] as? String), connection: try #require(connection["id"] as? String),
                freshReferral: {
                    let made = try await http(
                        "POST", "\(urls["intake"]!)/v1/referrals", token: referrer,
                        body: Data(Self.referralBody(referrer: Self.owner, given: "Fresh\(UUID().uuidString.prefix(8))").utf8))
                    let body = try #require(try JSONSerialization.jsonObject(with: made.body) as? [String: Any])
                    return (try #require(body["id"] as? String), try #require(body["clientId"] as? String))
                }, freshSubscription: subscribe,
                freshCoordinator: {
                    let id = "coord-\(UUID().uuidString.prefix(8).lowercased())"
                    let made = try await http(
                        "PUT", "\(urls["notification"]!)/v1/sites/\(Self.site)/coordinators/\(id)", token: network,
                        body: Data(#"{"displayName": "Claire", "email": "claire@example.org", "language": "fr", "channel": "email"}"#.utf8))
                    #expect(made.status == 200, "coordinator: \(String(decoding: made.body, as: UTF8.self))")
                    return id
                })

            // Every secured operation has a probe: a new route cannot skip the matrix.
            var probed = 0
            for (service, contract) in documents {
                for operation in contract.operations {
                    guard let roles = operation.roles else { continue }
                    guard let probe = Self.probes[operation.id] else {
                        Issue.record("\(service) \(operation) has no probe in the access matrix: say what bounds it")
                        continue
                    }
                    for role in Role.allCases.filter(roles.contains) {
                        for relation in Relation.allCases {
                            let caller = try await token(role, relation.subject, sites: [relation.site])
                            let call = try await probe.call(fixtures, relation.subject)
                            let result = try await http(
                                call.method, urls[service]! + call.path, token: caller, body: call.body.map { Data($0.utf8) },
                                headers: call.path.hasPrefix("/fhir/") ? ["Content-Type": "application/fhir+json"] : [:])
                            let expected = probe.rule.expected(role, relation)
                            let label =
                                "\(operation.id) as \(role.rawValue), \(relation.rawValue): \(result.status) \(String(decoding: result.body.prefix(300), as: UTF8.self))"
                            switch expected {
                            case .allowed: #expect(![401, 403, 404].contains(result.status) && result.status < 500, "\(label), expected allowed")
                            case .refused(let status): #expect(result.status == status, "\(label), expected \(status)")
                            case .listed(let shown):
                                #expect(result.status == 200, "\(label)")
                                #expect(try call.shows!(result.body) == shown, "\(label), expected \(expected)")
                            }
                            probed += 1
                        }
                    }
                }
            }
            #expect(probed > 300)

            // Hostile: another caller's idempotency key is theirs alone; another caller's external id
            // is a conflict that names nothing of the referral.
            let keyed = Self.referralBody(referrer: Self.owner, given: "Clé", externalID: "ehr-matrix-1")
            let first = try await http("POST", "\(urls["intake"]!)/v1/referrals", token: referrer, body: Data(keyed.utf8), headers: ["Idempotency-Key": "k-1"])
            #expect(first.status == 201)
            let strangerToken = try await token(.referrer, Self.stranger, sites: [Self.site])
            let sameKey = try await http(
                "POST", "\(urls["intake"]!)/v1/referrals", token: strangerToken, body: Data(Self.referralBody(referrer: Self.stranger, given: "Autre").utf8),
                headers: ["Idempotency-Key": "k-1"])
            #expect(sameKey.status == 201, "another caller's key makes a referral of their own")
            let firstID = try #require(try created(first, "first")["id"] as? String)
            let otherID = try #require((try JSONSerialization.jsonObject(with: sameKey.body) as? [String: Any])?["id"] as? String)
            #expect(firstID != otherID)
            let sameExternal = try await http(
                "POST", "\(urls["intake"]!)/v1/referrals", token: strangerToken,
                body: Data(Self.referralBody(referrer: Self.stranger, given: "Externe", externalID: "ehr-matrix-1").utf8))
            #expect(sameExternal.status == 409)
            let conflict = String(decoding: sameExternal.body, as: UTF8.self)
            for secret in [firstID, Self.owner, "received", "Clé"] { #expect(!conflict.contains(secret), "the conflict says nothing of \(secret)") }

            // Hostile: a token whose sites array is empty reaches no site.
            let nowhere = try await token(.coordinator, "coord-nowhere", sites: [])
            #expect(try await http("GET", "\(urls["intake"]!)/v1/referrals/\(referralID)", token: nowhere).status == 404)
            #expect(!String(decoding: try await http("GET", "\(urls["intake"]!)/v1/referrals", token: nowhere).body, as: UTF8.self).contains(referralID))
            #expect(
                try await http("POST", "\(urls["intake"]!)/v1/referrals", token: nowhere, body: Data(Self.referralBody(referrer: "x", given: "Nulle").utf8))
                    .status
                    == 403)
            #expect(try await http("GET", "\(urls["matching"]!)/v1/referrals/\(referralID)/matches", token: nowhere).status == 404)
            #expect(try await http("GET", "\(urls["evaluation"]!)/v1/reports/overview", token: nowhere).status == 403)
            // A coordinator of several sites reaches each; with no ?site= a report must say which.
            let several = try await token(.coordinator, "coord-two", sites: [Self.site, Self.otherSite])
            #expect(try await http("GET", "\(urls["intake"]!)/v1/referrals/\(referralID)", token: several).status == 200)
            #expect(try await http("GET", "\(urls["evaluation"]!)/v1/reports/overview", token: several).status == 403)
            #expect(try await http("GET", "\(urls["evaluation"]!)/v1/reports/overview?site=\(Self.otherSite)", token: several).status == 200)
            // Hostile: a site's coordinator cannot take over another site's link worker by id.
            let rural = try await token(.coordinator, "coord-rural", sites: [Self.otherSite])
            let workerID = UUID()
            #expect(
                try await http(
                    "PUT", "\(urls["matching"]!)/v1/link-workers/\(workerID)", token: network,
                    body: Data(#"{"name": "Léa", "site": "\#(Self.site)", "languages": ["fr"], "caseloadCapacity": 5}"#.utf8)
                ).status == 200)
            #expect(
                try await http(
                    "PUT", "\(urls["matching"]!)/v1/link-workers/\(workerID)", token: rural,
                    body: Data(#"{"name": "Léa", "site": "\#(Self.otherSite)", "languages": ["fr"], "caseloadCapacity": 5}"#.utf8)
                ).status == 404, "moving another site's worker to one's own")
        }
        for (name, _) in services {
            _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA IF EXISTS \(identifier: "\(name)_\(deployment.id)") CASCADE") }
        }
        await pool.close()
    }
}

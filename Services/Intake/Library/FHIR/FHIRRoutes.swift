import Domain
import Foundation
import HTTPTypes
import Hummingbird
import PostgresClient
import ServiceRuntime
import WireFormats

/// The FHIR R4 door for EHRs: `POST /fhir/r4/Patient`, `/ServiceRequest`, `/Bundle`, and
/// `GET /fhir/r4/Task?focus=ServiceRequest/{id}` to follow the loop.
struct FHIRRoutes: Sendable {
    let store: ReferralStore

    func add(to router: Router<PasserelleRequestContext>) {
        router.post("/fhir/r4/Patient") { request, context in try await fhir { try await createPatient(request, context) } }
        router.post("/fhir/r4/ServiceRequest") { request, context in try await fhir { try await createServiceRequest(request, context) } }
        router.post("/fhir/r4/Bundle") { request, context in try await fhir { try await createBundle(request, context) } }
        router.get("/fhir/r4/Task") { request, context in try await fhir { try await searchTask(request, context) } }
    }

    /// Every failure on these routes is an OperationOutcome.
    private func fhir(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let problem as ProblemDetails {
            throw OperationOutcome(problem)
        } catch let error as DecodingError {
            throw OperationOutcome(status: .badRequest, code: "structure", "the resource is not valid FHIR JSON: \(error)")
        }
    }

    private func respond(_ value: some Encodable, status: HTTPResponse.Status, location: String? = nil) throws -> Response {
        try Response.json(value, status: status, headers: location.map { [.location: $0] } ?? [:], contentType: "application/fhir+json")
    }

    private func createPatient(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        _ = try context.require(.referrer, .coordinator, .service)
        let raw = try await request.decodeJSON(as: FHIR.RawResource.self, context: context)
        guard raw.resourceType == "Patient" else { throw OperationOutcome("expected a Patient, got \(raw.resourceType)", expression: "resourceType") }
        var patient = try raw.decode(FHIR.Patient.self)
        let id = patient.id ?? UUID.random().uuidString.lowercased()
        patient.id = id
        let json = String(decoding: try JSONEncoder().encode(patient), as: UTF8.self)
        try await store.pool.withConnection { connection in
            try await connection.query("""
                INSERT INTO fhir_patient (id, resource) VALUES (\(id), \(json)::jsonb)
                ON CONFLICT (id) DO UPDATE SET resource = EXCLUDED.resource
                """)
        }
        return try respond(patient, status: .created, location: "Patient/\(id)")
    }

    private func createServiceRequest(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.require(.referrer, .coordinator, .service)
        let serviceRequest = try await request.decodeJSON(as: FHIR.ServiceRequest.self, context: context)
        guard serviceRequest.resourceType == "ServiceRequest" else { throw OperationOutcome("expected a ServiceRequest", expression: "resourceType") }
        guard let subject = serviceRequest.subject?.reference, subject.hasPrefix("Patient/"), let patientID = FHIRReferralMapping.referenceID(subject) else {
            throw OperationOutcome("subject must reference a Patient posted before (Patient/{id})", expression: "ServiceRequest.subject")
        }
        let stored = try await store.pool.withConnection { connection in
            try await connection.query("SELECT resource::text AS resource FROM fhir_patient WHERE id = \(patientID)").first?.decode("resource", as: String.self)
        }
        guard let stored else {
            throw OperationOutcome(status: .unprocessableContent, code: "not-found", "Patient/\(patientID) is unknown: post it first or send a Bundle", expression: "ServiceRequest.subject")
        }
        let patient = try JSONDecoder().decode(FHIR.Patient.self, from: Data(stored.utf8))
        let (status, referral) = try await submit(.init(serviceRequest: serviceRequest, patient: patient), actor: actor, context: context)
        var echoed = serviceRequest
        echoed.id = referral.externalId
        return try respond(echoed, status: status, location: "ServiceRequest/\(referral.externalId ?? referral.id.uuidString.lowercased())")
    }

    private func createBundle(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.require(.referrer, .coordinator, .service)
        let bundle = try await request.decodeJSON(as: FHIR.Bundle.self, context: context)
        guard bundle.resourceType == "Bundle", bundle.type == "transaction" || bundle.type == "collection" else {
            throw OperationOutcome("expected a transaction or collection Bundle", expression: "Bundle.type")
        }
        let entries = bundle.entry ?? []
        func resources(_ type: String) -> [(fullUrl: String?, resource: FHIR.RawResource)] {
            entries.compactMap { entry in entry.resource.flatMap { $0.resourceType == type ? (entry.fullUrl, $0) : nil } }
        }
        let requests = resources("ServiceRequest")
        guard requests.count == 1, let requestEntry = requests.first else {
            throw OperationOutcome("the Bundle must hold exactly one ServiceRequest (it holds \(requests.count))", expression: "Bundle.entry")
        }
        let serviceRequest = try requestEntry.resource.decode(FHIR.ServiceRequest.self)
        let subject = serviceRequest.subject?.reference ?? ""
        // The subject may be the Patient's fullUrl (urn:uuid:…) or Patient/{id}.
        guard let patientEntry = resources("Patient").first(where: { $0.fullUrl == subject || "Patient/\($0.resource.id ?? "")" == subject }) else {
            throw OperationOutcome("the ServiceRequest's subject \(subject) is not a Patient in this Bundle", expression: "ServiceRequest.subject")
        }
        let inputs = FHIRReferralMapping.Inputs(
            serviceRequest: serviceRequest, patient: try patientEntry.resource.decode(FHIR.Patient.self),
            consent: try resources("Consent").first.map { try $0.resource.decode(FHIR.Consent.self) },
            questionnaire: try resources("QuestionnaireResponse").first.map { try $0.resource.decode(FHIR.QuestionnaireResponse.self) })
        let (status, referral) = try await submit(inputs, actor: actor, context: context)
        struct Response: Encodable {
            struct Entry: Encodable {
                struct Result: Encodable { var status: String; var location: String? }
                var response: Result
            }
            var resourceType = "Bundle"
            var type: String
            var entry: [Entry]
        }
        let label = status == .created ? "201 Created" : "200 OK"
        let location = "ServiceRequest/\(referral.externalId ?? referral.id.uuidString.lowercased())"
        let body = Response(type: bundle.type == "transaction" ? "transaction-response" : "batch-response",
            entry: entries.map { entry in
                .init(response: .init(status: label, location: entry.resource?.resourceType == "ServiceRequest" ? location : nil))
            })
        return try respond(body, status: status, location: location)
    }

    private func submit(_ inputs: FHIRReferralMapping.Inputs, actor: Identity, context: PasserelleRequestContext) async throws -> (HTTPResponse.Status, ReferralView) {
        let submission = try FHIRReferralMapping.submission(inputs)
        let valid = try submission.validated(referralID: UUID.random(), clientID: UUID.random(), now: Date())
        switch try await store.submit(valid, idempotencyKey: nil, actor: actor, requestID: context.requestID) {
        case .created(let view): return (.created, view)
        case .existing(let view): return (.ok, view)
        }
    }

    private func searchTask(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.require(.referrer, .linkWorker, .coordinator, .service)
        guard let focus = request.uri.queryParameters.get("focus"), focus.hasPrefix("ServiceRequest/"),
            let requestID = FHIRReferralMapping.referenceID(focus)
        else { throw OperationOutcome(status: .badRequest, code: "required", "search by focus=ServiceRequest/{id}", expression: "focus") }
        let store = store
        let found = try await store.pool.withConnection { connection -> (ReferralView, PostgresRow?)? in
            guard let id = try await connection.query("SELECT id FROM referral WHERE external_id = \(requestID)").first?.decode("id", as: UUID.self),
                let view = try await store.referral(id: id, on: connection)
            else { return nil }
            let last = try await connection.query("""
                SELECT reason, outcome, actor_id, to_status FROM referral_status_history WHERE referral_id = \(id)::uuid ORDER BY version DESC LIMIT 1
                """).first
            try await store.audit("read:fhir-task", referral: id, actor: actor, requestID: context.requestID, on: connection)
            return (view, last)
        }
        var tasks: [FHIR.SearchSet<FHIR.Task>.Entry] = []
        if let (view, last) = found,
            actor.hasAny(.coordinator, .service) || (actor.has(.linkWorker) && actor.site == view.site) || (actor.has(.referrer) && actor.subject == view.referrer.id) {
            let status = ReferralStatus(rawValue: view.status) ?? .received
            let reason = try last?.decode("reason", as: String?.self)
            let outcome = try last?.decode("outcome", as: String?.self)
            let owner = try last?.decode("actor_id", as: String.self)
            let timestamp = Date.ISO8601FormatStyle()
            tasks.append(.init(resource: FHIR.Task(
                id: view.id.uuidString.lowercased(), status: FHIRReferralMapping.taskStatus(status),
                focus: .init(reference: "ServiceRequest/\(requestID)"), for: nil,
                owner: status == .received ? nil : owner.map { .init(reference: nil, display: $0) },
                statusReason: reason.map { .init(coding: nil, text: $0) },
                authoredOn: view.receivedAt.formatted(timestamp), lastModified: view.updatedAt.formatted(timestamp),
                output: status == .completed ? outcome.map { [.init(type: .init(coding: nil, text: "outcome"), valueString: $0)] } : nil)))
        }
        return try respond(FHIR.SearchSet(total: tasks.count, entry: tasks), status: .ok)
    }
}

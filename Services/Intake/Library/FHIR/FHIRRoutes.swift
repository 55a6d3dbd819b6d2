import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PostgresClient
import ServiceRuntime
import WireFormats

/// The FHIR R4 door for EHRs (Gravity SDOH Clinical Care): `POST Patient`, `ServiceRequest`,
/// `Bundle` (or a transaction at the base); `GET ServiceRequest/{id}`, `Task/{id}` and
/// `Task?focus=|based-on=|_id=` to follow the loop; `Subscription` to be told instead of
/// polling; `metadata` for the CapabilityStatement.
struct FHIRRoutes: ServiceRoutes, Sendable {
    let store: ReferralStore
    let settings: FHIRSettings

    func add(to router: Router<PasserelleRequestContext>) {
        router.get("/fhir/r4/metadata") { _, _ in try respond(CapabilityStatement.document(baseURL: settings.baseURL), status: .ok) }
        router.post("/fhir/r4/Patient") { request, context in try await fhir { try await createPatient(request, context) } }
        router.post("/fhir/r4/ServiceRequest") { request, context in try await fhir { try await createServiceRequest(request, context) } }
        router.get("/fhir/r4/ServiceRequest/{id}") { request, context in try await fhir { try await readServiceRequest(request, context) } }
        router.post("/fhir/r4/Bundle") { request, context in try await fhir { try await createBundle(request, context) } }
        router.post("/fhir/r4") { request, context in try await fhir { try await createBundle(request, context) } }
        router.get("/fhir/r4/Task") { request, context in try await fhir { try await searchTask(request, context) } }
        router.get("/fhir/r4/Task/{id}") { request, context in try await fhir { try await readTask(request, context) } }
        let subscriptions = SubscriptionRoutes(store: store, settings: settings)
        router.post("/fhir/r4/Subscription") { request, context in try await fhir { try await subscriptions.create(request, context) } }
        router.get("/fhir/r4/Subscription/{id}") { request, context in try await fhir { try await subscriptions.read(request, context) } }
        router.get("/fhir/r4/Subscription/{id}/$status") { request, context in try await fhir { try await subscriptions.status(request, context) } }
        router.delete("/fhir/r4/Subscription/{id}") { request, context in try await fhir { try await subscriptions.delete(request, context) } }
    }

    // MARK: creating referrals

    /// A Patient is kept for whoever posted it: posting the same id again replaces the sender's
    /// own, never another sender's (theirs stays as it is, unseen).
    private func createPatient(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let (raw, data) = try await FHIRBody.read(request, context: context, root: "Patient")
        var validator = FHIRValidator()
        try FHIRBody.expect("Patient", raw, at: "Patient")
        validator.scanStrings(raw, at: "Patient")
        validator.patient(raw, at: "Patient")
        try FHIRBody.refuse(validator)
        var patient = try FHIRBody.decode(FHIR.Patient.self, from: data)
        let id = patient.id ?? UUID.random().uuidString.lowercased()
        patient.id = id
        let json = String(decoding: try JSONEncoder().encode(patient), as: UTF8.self)
        let identity = FHIRReferralMapping.identityKey(of: patient)
        try await store.pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO fhir_patient (owner, id, resource, identity_key) VALUES (\(actor.subject), \(id), \(json)::jsonb, \(identity))
                ON CONFLICT (owner, id) DO UPDATE SET resource = EXCLUDED.resource, identity_key = EXCLUDED.identity_key
                """)
        }
        return try respond(patient, status: .created, location: "Patient/\(id)")
    }

    private func createServiceRequest(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let (raw, data) = try await FHIRBody.read(request, context: context, root: "ServiceRequest")
        try FHIRBody.expect("ServiceRequest", raw, at: "ServiceRequest")
        var validator = FHIRValidator()
        validator.scanStrings(raw, at: "ServiceRequest")
        validator.serviceRequest(raw, at: "ServiceRequest")
        try FHIRBody.refuse(validator)
        let serviceRequest = try FHIRBody.decode(FHIR.ServiceRequest.self, from: data)
        guard let subject = serviceRequest.subject?.reference, subject.hasPrefix("Patient/"), let patientID = FHIRReferralMapping.referenceID(subject) else {
            throw OperationOutcome("subject must reference a Patient posted before (Patient/{id})", expression: "ServiceRequest.subject")
        }
        let stored = try await store.pool.withConnection { connection in
            // Only the sender's own Patients: another sender's answers as an unknown one.
            try await connection.query("SELECT resource::text AS resource FROM fhir_patient WHERE owner = \(actor.subject) AND id = \(patientID)").first?
                .decode("resource", as: String.self)
        }
        guard let stored else {
            throw OperationOutcome(
                status: .unprocessableContent, code: "not-found", "Patient/\(patientID) is unknown: post it first or send a Bundle",
                expression: "ServiceRequest.subject")
        }
        let patient = try JSONDecoder().decode(FHIR.Patient.self, from: Data(stored.utf8))
        let (status, referral, echoed) = try await submit(
            .init(serviceRequest: serviceRequest, patient: patient), raw: raw, patientReference: .init(reference: subject), actor: actor, context: context)
        return try respond(echoed, status: status, location: "ServiceRequest/\(referral.externalId ?? referral.id.uuidString.lowercased())")
    }

    private func createBundle(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let (raw, data) = try await FHIRBody.read(request, context: context, root: "Bundle")
        try FHIRBody.expect("Bundle", raw, at: "Bundle")
        var validator = FHIRValidator()
        validator.scanStrings(raw, at: "Bundle")
        try FHIRBody.refuse(validator)
        let bundle = try FHIRBody.decode(FHIR.Bundle.self, from: data)
        guard bundle.type == "transaction" || bundle.type == "collection" else {
            throw OperationOutcome("expected a transaction or collection Bundle, not \(bundle.type ?? "one without a type")", expression: "Bundle.type")
        }
        guard case .object(let bundleFields) = raw, case .array(let rawEntries)? = bundleFields["entry"] else {
            throw OperationOutcome(status: .unprocessableContent, code: "required", "the Bundle has no entries", expression: "Bundle.entry")
        }
        let entries = bundle.entry ?? []
        func resources(_ type: String) -> [(index: Int, fullUrl: String?, resource: FHIR.RawResource, raw: AnyJSON)] {
            entries.enumerated().compactMap { index, entry in
                guard let resource = entry.resource, resource.resourceType == type, case .object(let fields) = rawEntries[index], let raw = fields["resource"]
                else { return nil }
                return (index, entry.fullUrl, resource, raw)
            }
        }
        let requests = resources("ServiceRequest")
        guard requests.count == 1, let requestEntry = requests.first else {
            throw OperationOutcome("the Bundle must hold exactly one ServiceRequest (it holds \(requests.count))", expression: "Bundle.entry")
        }
        var paths = FHIRReferralMapping.Paths(serviceRequest: "Bundle.entry[\(requestEntry.index)].resource")
        validator.serviceRequest(requestEntry.raw, at: paths.serviceRequest)
        let serviceRequest = try requestEntry.resource.decode(FHIR.ServiceRequest.self)
        let subject = serviceRequest.subject?.reference ?? ""
        // The subject may be the Patient's fullUrl (urn:uuid:…) or Patient/{id}.
        guard let patientEntry = resources("Patient").first(where: { $0.fullUrl == subject || "Patient/\($0.resource.id ?? "")" == subject }) else {
            try FHIRBody.refuse(validator)
            throw OperationOutcome("the ServiceRequest's subject \(subject) is not a Patient in this Bundle", expression: "\(paths.serviceRequest).subject")
        }
        paths.patient = "Bundle.entry[\(patientEntry.index)].resource"
        validator.patient(patientEntry.raw, at: paths.patient)
        let consent = resources("Consent").first
        if let consent {
            paths.consent = "Bundle.entry[\(consent.index)].resource"
            validator.consent(consent.raw, at: paths.consent)
        }
        let questionnaire = resources("QuestionnaireResponse").first
        if let questionnaire {
            paths.questionnaire = "Bundle.entry[\(questionnaire.index)].resource"
            validator.questionnaireResponse(questionnaire.raw, at: paths.questionnaire)
        }
        try FHIRBody.refuse(validator)
        let inputs = FHIRReferralMapping.Inputs(
            serviceRequest: serviceRequest, patient: try patientEntry.resource.decode(FHIR.Patient.self),
            consent: try consent.map { try $0.resource.decode(FHIR.Consent.self) },
            questionnaire: try questionnaire.map { try $0.resource.decode(FHIR.QuestionnaireResponse.self) }, paths: paths)
        let patientReference: FHIR.Reference? =
            subject.hasPrefix("Patient/")
            ? .init(reference: subject)
            : patientEntry.resource.id.map { .init(reference: "Patient/\($0)") }
        let (status, referral, _) = try await submit(inputs, raw: requestEntry.raw, patientReference: patientReference, actor: actor, context: context)
        struct Response: Encodable {
            struct Entry: Encodable {
                struct Result: Encodable {
                    var status: String
                    var location: String?
                }
                var response: Result
            }
            var resourceType = "Bundle"
            var type: String
            var entry: [Entry]
        }
        let label = status == .created ? "201 Created" : "200 OK"
        let location = "ServiceRequest/\(referral.externalId ?? referral.id.uuidString.lowercased())"
        let taskLocation = "Task/\(referral.id.uuidString.lowercased())"
        let body = Response(
            type: bundle.type == "transaction" ? "transaction-response" : "batch-response",
            entry: entries.map { entry in
                .init(response: .init(status: label, location: entry.resource?.resourceType == "ServiceRequest" ? location : nil))
            } + [.init(response: .init(status: label, location: taskLocation))])
        return try respond(body, status: status, location: location)
    }

    /// Maps, validates and stores the referral with its Task; returns the ServiceRequest as kept.
    private func submit(
        _ inputs: FHIRReferralMapping.Inputs, raw: AnyJSON, patientReference: FHIR.Reference?, actor: Identity, context: PasserelleRequestContext
    ) async throws -> (HTTPResponse.Status, ReferralView, AnyJSON) {
        var inputs = inputs
        // A ServiceRequest without an id gets one here, as a FHIR server assigns ids on create.
        let requestID = inputs.serviceRequest.id ?? UUID.random().uuidString.lowercased()
        inputs.serviceRequest.id = requestID
        let submission = try FHIRReferralMapping.submission(inputs, sender: .init(identity: actor, defaultOrganization: settings.defaultOrganization))
        let valid = try FHIRReferralMapping.validated(submission, paths: inputs.paths)
        var kept = raw
        if case .object(var fields) = raw {
            fields["id"] = .string(requestID)
            kept = .object(fields)
        }
        let draft = ReferralTasks.Draft(
            serviceRequestID: requestID, serviceRequest: String(decoding: try JSONEncoder().encode(kept), as: UTF8.self),
            patient: patientReference,
            requester: inputs.serviceRequest.requester
                ?? .init(
                    reference: nil, identifier: .init(system: "https://passerelle.example/fhir/sid/token-subject", value: actor.subject), display: actor.subject
                ),
            requestedService: inputs.serviceRequest.code, submittedBy: actor.subject)
        switch try await store.submit(valid, idempotencyKey: nil, actor: actor, requestID: context.requestID, task: draft) {
        case .created(let view): return (.created, view, kept)
        case .existing(let view): return (.ok, view, kept)
        }
    }

    // MARK: reading

    private func readTask(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let id = try context.pathID()
        let store = store
        let found = try await store.pool.withConnection { connection -> ReferralTasks.Stored? in
            guard let stored = try await ReferralTasks.task(id: id, on: connection), stored.isVisible(to: actor) else { return nil }
            try await store.audit("read:fhir-task", referral: id, actor: actor, requestID: context.requestID, on: connection)
            return stored
        }
        guard let found else { throw OperationOutcome.notFound("Task") }
        return try respond(found.task, status: .ok, headers: [.eTag: "W/\"\(found.task.meta.versionId ?? "1")\""])
    }

    private func readServiceRequest(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        guard let id = context.parameters.get("id"), FHIRValidator.isID(id) else { throw OperationOutcome.notFound("ServiceRequest") }
        let store = store
        let found = try await store.pool.withConnection { connection -> (UUID, String)? in
            guard let stored = try await ReferralTasks.task(serviceRequest: id, on: connection), stored.isVisible(to: actor),
                let resource = stored.serviceRequest, let referral = UUID(uuidString: stored.task.id)
            else { return nil }
            try await store.audit("read:fhir-service-request", referral: referral, actor: actor, requestID: context.requestID, on: connection)
            return (referral, resource)
        }
        guard let (_, resource) = found else { throw OperationOutcome.notFound("ServiceRequest") }
        return Response(status: .ok, headers: [.contentType: "application/fhir+json"], body: .init(byteBuffer: ByteBuffer(string: resource)))
    }

    /// `Task?focus=ServiceRequest/{id}`, `Task?based-on=…` (the same Tasks: a referral Task is
    /// based on and focused on its ServiceRequest), `Task?_id=a,b`; several are combined with AND.
    private func searchTask(_ request: Request, _ context: PasserelleRequestContext) async throws -> Response {
        let actor = try context.caller()
        let query = request.uri.queryParameters
        var requestIDs: Set<String>?
        for name in ["focus", "based-on"] {
            guard let value = query.get(name) else { continue }
            let ids = Set(
                value.split(separator: ",").compactMap { reference -> String? in
                    let text = String(reference)
                    guard text.hasPrefix("ServiceRequest/") || !text.contains("/") else { return nil }
                    return FHIRReferralMapping.referenceID(text)
                })
            requestIDs = requestIDs.map { $0.intersection(ids) } ?? ids
        }
        var taskIDs: Set<UUID>?
        if let value = query.get("_id") {
            taskIDs = Set(value.split(separator: ",").compactMap { UUID(uuidString: String($0)) })
        }
        guard requestIDs != nil || taskIDs != nil else {
            throw OperationOutcome(
                status: .badRequest, code: "required", "search by focus=ServiceRequest/{id}, based-on=ServiceRequest/{id} or _id={id}[,{id}]",
                expression: "Task")
        }
        if (requestIDs?.count ?? 0) + (taskIDs?.count ?? 0) > 100 {
            throw OperationOutcome(status: .badRequest, code: "too-costly", "at most 100 ids per search", expression: "Task")
        }
        let store = store
        let requested = requestIDs
        let tasks = taskIDs
        let found = try await store.pool.withConnection { connection -> [ReferralTasks.Stored] in
            var candidates: [ReferralTasks.Stored] = []
            if let requested {
                for id in requested.sorted() {
                    if let stored = try await ReferralTasks.task(serviceRequest: id, on: connection) { candidates.append(stored) }
                }
                if let tasks { candidates = candidates.filter { UUID(uuidString: $0.task.id).map(tasks.contains) ?? false } }
            } else if let tasks {
                candidates = try await ReferralTasks.tasks(ids: Array(tasks), on: connection)
            }
            let visible = candidates.filter { $0.isVisible(to: actor) }
            for stored in visible {
                try await store.audit("read:fhir-task", referral: UUID(uuidString: stored.task.id), actor: actor, requestID: context.requestID, on: connection)
            }
            return visible
        }
        let entries = found.map { FHIR.SearchSet<FHIR.Task>.Entry(fullUrl: "\(settings.baseURL)/Task/\($0.task.id)", resource: $0.task) }
        return try respond(FHIR.SearchSet(total: entries.count, entry: entries), status: .ok)
    }

    private func respond(_ value: some Encodable, status: HTTPResponse.Status, location: String? = nil, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        if let location { fields[.location] = location }
        return try Response.json(value, status: status, headers: fields, contentType: "application/fhir+json")
    }
}

/// Every failure on the FHIR routes is an OperationOutcome.
func fhir(_ body: () async throws -> Response) async throws -> Response {
    do {
        return try await body()
    } catch let problem as ProblemDetails {
        throw OperationOutcome(problem)
    } catch let error as DecodingError {
        throw OperationOutcome(status: .badRequest, code: "structure", "the resource is not valid FHIR JSON: \(FHIRBody.describe(error))")
    } catch is NIOTooManyBytesError {
        throw OperationOutcome(status: .contentTooLarge, code: "too-costly", "the request body is larger than this server accepts")
    } catch let error as PostgresError where error.kind == .connectionUnavailable {
        var outcome = OperationOutcome(status: .serviceUnavailable, code: "transient", "the database is unavailable: try again shortly")
        outcome.retryAfter = 5
        throw outcome
    } catch let error as HTTPError {
        throw OperationOutcome(
            status: error.status, code: error.status == .contentTooLarge ? "too-costly" : "invalid",
            error.status == .contentTooLarge ? "the request body is larger than this server accepts" : (error.body ?? "\(error.status)"))
    }
}

/// Reading a FHIR request body: JSON first (so that validation sees every element), then the
/// typed slice Passerelle uses.
enum FHIRBody {
    /// `root` names the resource expected, for the FHIRPath of what is refused.
    static func read(_ request: Request, context: PasserelleRequestContext, root: String) async throws -> (AnyJSON, Data) {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let data = Data(buffer.readableBytesView)
        // An unpaired surrogate is no text at all: said where it is (as FHIRPath), not as a body
        // that is not JSON. NULs are the validator's to report, with the rest.
        let marked = StorableText.markingUnpairedSurrogates(data)
        if marked != data {
            do { _ = try StorableText.checked(marked) } catch {
                throw OperationOutcome(
                    status: .unprocessableContent,
                    issues: error.errors.map { field in
                        let expression =
                            root
                            + field.pointer.split(separator: "/").map { segment in
                                let name = segment.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                                return Int(name).map { "[\($0)]" } ?? ".\(name)"
                            }.joined()
                        return .init(code: "invalid", diagnostics: "\(expression): \(field.detail)", expression: [expression])
                    })
            }
        }
        do {
            return (try JSONDecoder().decode(AnyJSON.self, from: data), data)
        } catch {
            throw OperationOutcome(status: .badRequest, code: "structure", "the body is not JSON: send a FHIR resource as application/fhir+json")
        }
    }

    static func expect(_ type: String, _ raw: AnyJSON, at path: String) throws(OperationOutcome) {
        guard case .object(let fields) = raw else {
            throw OperationOutcome(status: .badRequest, code: "structure", "expected a \(type) resource (a JSON object)", expression: path)
        }
        guard case .string(let found)? = fields["resourceType"], found == type else {
            var found = "a resource without resourceType"
            if case .string(let name)? = fields["resourceType"] { found = name }
            throw OperationOutcome("expected a \(type), not \(found)", expression: "\(path).resourceType")
        }
    }

    static func refuse(_ validator: FHIRValidator) throws(OperationOutcome) {
        guard validator.issues.isEmpty else { throw OperationOutcome(status: .unprocessableContent, issues: validator.issues) }
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try JSONDecoder().decode(T.self, from: data)
    }

    /// A decoding error as a path and a reason, without Swift's type names.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

extension OperationOutcome {
    /// The same answer whether the resource does not exist or is not the caller's to see.
    static func notFound(_ type: String) -> OperationOutcome {
        OperationOutcome(status: .notFound, code: "not-found", "no \(type) with that id")
    }
}

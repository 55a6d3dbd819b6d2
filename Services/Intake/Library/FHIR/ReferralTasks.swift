import Domain
import Foundation
import PostgresClient
import ServiceRuntime
import WireFormats

/// The FHIR Task intake owns for each referral that names a ServiceRequest (the Gravity IG's
/// "Task for referral management"): created with the referral, and moved with it — status,
/// businessStatus, statusReason and output — in the same transaction as each status change, so
/// an EHR reading the Task never sees a state the referral never had. Its id is the referral's.
enum ReferralTasks {
    static let taskCodeSystem = "http://hl7.org/fhir/CodeSystem/task-code"
    static let businessStatusSystem = "https://passerelle.example/fhir/CodeSystem/referral-status"
    static let taskProfile = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement"
    /// The IG's own code system (SDOH categories, `resulting-activity`, …).
    static let sdohccTemporaryCodes = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"

    /// What the referral's door knows when it is created.
    struct Draft: Sendable {
        var serviceRequestID: String
        /// The ServiceRequest as received (served back by `GET ServiceRequest/{id}`); nil when the
        /// referral came through the JSON door with an external id.
        var serviceRequest: String?
        /// `Task.for`: the Patient as the sender named it.
        var patient: FHIR.Reference?
        /// `Task.requester`: the ServiceRequest's requester, else the sender.
        var requester: FHIR.Reference
        /// What was requested (`ServiceRequest.code`): the performed activity on completion.
        var requestedService: FHIR.CodeableConcept?
        /// The token subject that sent it (it may follow its Task even from another site).
        var submittedBy: String
    }

    /// Writes the Task of a referral just created, in the creating transaction.
    static func create(_ draft: Draft, referral: Referral, on session: borrowing PostgresSession) throws {
        let business = businessStatus(referral.status)
        try session.execute(
            """
            INSERT INTO fhir_task (referral_id, service_request_id, service_request, patient, requester, requested_service, submitted_by,
                status, business_status, business_status_text, version, authored_on, last_modified)
            VALUES (\(referral.id)::uuid, \(draft.serviceRequestID), \(draft.serviceRequest.map(PostgresJSON.init))::jsonb,
                \(try draft.patient.map { try PostgresJSON(encoding: $0) })::jsonb, \(try PostgresJSON(encoding: draft.requester))::jsonb,
                \(try draft.requestedService.map { try PostgresJSON(encoding: $0) })::jsonb, \(draft.submittedBy),
                \(FHIRReferralMapping.taskStatus(referral.status)), \(business.code), \(business.text), 1,
                \(referral.receivedAt)::timestamptz, \(referral.receivedAt)::timestamptz)
            """)
        try FHIRSubscriptions.enqueue(taskOf: referral.id, on: session)
    }

    /// Moves the referral's Task (if it has one) to `status`, in the transaction that changed the
    /// referral. The outcome of a completed referral becomes the Task's output.
    static func follow(referral id: UUID, to status: ReferralStatus, reason: String?, outcome: String?, at time: Date, on session: borrowing PostgresSession)
        throws
    {
        let business = businessStatus(status)
        // Rejected, cancelled, on-hold and failed Tasks carry statusReason.text (SDOHCC Task).
        let statusReason = reason ?? (status.needsStatusReason ? business.text : nil)
        let row = try session.query(
            """
            SELECT requested_service::text AS requested_service FROM fhir_task WHERE referral_id = \(id)::uuid FOR UPDATE
            """
        ).first
        guard let row else { return }
        var outputs: [FHIR.Task.Output] = []
        if status == .completed, let outcome {
            let requested = try row.decode("requested_service", as: String?.self).map {
                try JSONDecoder().decode(FHIR.CodeableConcept.self, from: Data($0.utf8))
            }
            outputs.append(
                .init(
                    type: .init(coding: [.init(system: sdohccTemporaryCodes, code: "resulting-activity", display: "Resulting Activity")], text: nil),
                    valueCodeableConcept: .init(coding: requested?.coding, text: outcome)))
        }
        try session.execute(
            """
            UPDATE fhir_task SET status = \(FHIRReferralMapping.taskStatus(status)), business_status = \(business.code),
                business_status_text = \(business.text), status_reason = \(statusReason),
                outputs = CASE WHEN \(status == .completed) THEN \(try PostgresJSON(encoding: outputs))::jsonb ELSE outputs END,
                version = version + 1, last_modified = \(time)::timestamptz
            WHERE referral_id = \(id)::uuid
            """)
        try FHIRSubscriptions.enqueue(taskOf: id, on: session)
    }

    static let outputSystem = "https://passerelle.example/fhir/CodeSystem/task-output"

    /// Records what matching reports of one of the referral's connections (proposed, accepted,
    /// enrolled, attended, dropped, declined) and, if it is news, moves the Task's version so
    /// readers and subscribers see the new output. Referrals without a Task are not followed;
    /// a change older than the one known (redelivery out of order) changes nothing.
    static func recordConnection(
        _ connection: UUID, referral: UUID, state: String, resourceName: String?, resourceKind: String?, at time: Date, on session: borrowing PostgresSession
    ) throws {
        // The Task's row lock orders this with the referral's own transitions.
        guard try session.query("SELECT 1 FROM fhir_task WHERE referral_id = \(referral)::uuid FOR UPDATE").first != nil else { return }
        let changed = try session.query(
            """
            INSERT INTO fhir_task_connection (connection_id, referral_id, resource_name, resource_kind, state, changed_at)
            VALUES (\(connection)::uuid, \(referral)::uuid, \(resourceName), \(resourceKind), \(state), \(time)::timestamptz)
            ON CONFLICT (connection_id) DO UPDATE SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at,
                resource_name = coalesce(EXCLUDED.resource_name, fhir_task_connection.resource_name),
                resource_kind = coalesce(EXCLUDED.resource_kind, fhir_task_connection.resource_kind)
            WHERE fhir_task_connection.changed_at < EXCLUDED.changed_at
               OR (fhir_task_connection.changed_at = EXCLUDED.changed_at AND fhir_task_connection.state = 'proposed')
            RETURNING connection_id
            """)
        guard !changed.isEmpty else { return }
        try session.execute("UPDATE fhir_task SET version = version + 1, last_modified = now() WHERE referral_id = \(referral)::uuid")
        try FHIRSubscriptions.enqueue(taskOf: referral, on: session)
    }

    /// A connection as a Task output: its state and the resource, e.g.
    /// "enrolled: Club de marche du parc (health-champion-group)".
    static func connectionOutput(state: String, resourceName: String?, resourceKind: String?) -> FHIR.Task.Output {
        .init(
            type: .init(coding: [.init(system: outputSystem, code: "connection", display: "Connection to a community resource")], text: nil),
            valueString: "\(state): \(resourceName ?? "a community resource")\(resourceKind.map { " (\($0))" } ?? "")")
    }

    /// `businessStatus`: where the referral stands in Passerelle's own words, finer than `status`.
    static func businessStatus(_ status: ReferralStatus) -> (code: String, text: String) {
        switch status {
        case .received: ("received", "Received; waiting for a link worker")
        case .accepted: ("accepted", "Accepted; a link worker owns the referral")
        case .inProgress: ("in-progress", "In progress; the client was contacted and goals are being set")
        case .completed: ("completed", "Completed; closed with an outcome")
        case .rejected: ("rejected", "Rejected; the referral is not appropriate for social prescribing")
        case .cancelled: ("cancelled", "Cancelled by the referrer")
        case .onHold: ("on-hold", "On hold")
        case .failed: ("failed", "Failed; the client could not be reached")
        }
    }

    // MARK: reading

    /// What decides who may see a referral's Task.
    struct Audience: Sendable {
        var site: String
        var referrerID: String
        var submittedBy: String

        /// The same rule as intake's other reads: nobody sees another site's Task; within their
        /// sites coordinators, link workers and services see every Task, an EHR integration the
        /// Tasks it sent, referrers theirs.
        func includes(_ actor: Identity) -> Bool {
            guard actor.mayWork(at: site) else { return false }
            if actor.hasAny(.coordinator, .networkCoordinator, .linkWorker, .service) { return true }
            if actor.has(.ehrIntegration) && actor.subject == submittedBy { return true }
            if actor.has(.referrer) && (actor.subject == referrerID || actor.subject == submittedBy) { return true }
            return false
        }
    }

    /// A Task as stored, with who may see it and the ServiceRequest it follows.
    struct Stored: Sendable {
        var task: FHIR.Task
        var audience: Audience
        var serviceRequest: String?

        func isVisible(to actor: Identity) -> Bool { audience.includes(actor) }
    }

    static let selectColumns = """
        SELECT t.referral_id, t.service_request_id, t.service_request::text AS service_request, t.patient::text AS patient,
               t.requester::text AS requester, t.submitted_by, t.status, t.business_status, t.business_status_text, t.status_reason,
               t.outputs::text AS outputs, t.version, t.authored_on, t.last_modified, r.site, r.referrer_id, r.priority, r.client_id,
               (SELECT coalesce(jsonb_agg(jsonb_build_object('state', c.state, 'name', c.resource_name, 'kind', c.resource_kind)
                                          ORDER BY c.changed_at, c.connection_id), '[]'::jsonb)
                FROM fhir_task_connection c WHERE c.referral_id = t.referral_id)::text AS connections
        FROM fhir_task t JOIN referral r ON r.id = t.referral_id
        """

    static func read(_ rows: PostgresRows) throws -> [Stored] {
        let decoder = JSONDecoder()
        func decoded<T: Decodable>(_ text: String?, as type: T.Type) throws -> T? {
            try text.map { try decoder.decode(T.self, from: Data($0.utf8)) }
        }
        let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return try rows.map { row in
            let id: UUID = try row.decode("referral_id")
            let site: String = try row.decode("site")
            let requestID: String = try row.decode("service_request_id")
            let clientID: UUID = try row.decode("client_id")
            let reason = try row.decode("status_reason", as: String?.self)
            struct Connection: Decodable {
                var state: String
                var name: String?
                var kind: String?
            }
            let connections = try decoded(try row.decode("connections", as: String.self), as: [Connection].self) ?? []
            // Connections made so far, then what the referral's completion produced.
            let outputs =
                connections.map { connectionOutput(state: $0.state, resourceName: $0.name, resourceKind: $0.kind) }
                + (try decoded(try row.decode("outputs", as: String.self), as: [FHIR.Task.Output].self) ?? [])
            let task = FHIR.Task(
                id: id.uuidString.lowercased(),
                meta: .init(
                    versionId: String(try row.decode("version", as: Int.self)),
                    lastUpdated: try row.decode("last_modified", as: Date.self).formatted(timestamp), profile: [taskProfile]),
                basedOn: [.init(reference: "ServiceRequest/\(requestID)")],
                status: try row.decode("status"),
                statusReason: reason.map { .init(coding: nil, text: $0) },
                businessStatus: .init(
                    coding: [.init(system: businessStatusSystem, code: try row.decode("business_status"), display: nil)],
                    text: try row.decode("business_status_text")),
                priority: try row.decode("priority", as: String.self) == "urgent" ? "urgent" : "routine",
                code: .init(coding: [.init(system: taskCodeSystem, code: "fulfill", display: "Fulfill the focal request")], text: nil),
                focus: .init(reference: "ServiceRequest/\(requestID)"),
                for: try decoded(try row.decode("patient", as: String?.self), as: FHIR.Reference.self)
                    ?? .init(
                        reference: nil, identifier: .init(system: "https://passerelle.example/fhir/sid/client", value: clientID.uuidString.lowercased()),
                        display: nil),
                authoredOn: try row.decode("authored_on", as: Date.self).formatted(timestamp),
                lastModified: try row.decode("last_modified", as: Date.self).formatted(timestamp),
                requester: try decoded(try row.decode("requester", as: String.self), as: FHIR.Reference.self),
                owner: .init(reference: "Organization/\(site)", display: site),
                output: outputs.isEmpty ? nil : outputs)
            return Stored(
                task: task, audience: .init(site: site, referrerID: try row.decode("referrer_id"), submittedBy: try row.decode("submitted_by")),
                serviceRequest: try row.decode("service_request", as: String?.self))
        }
    }

    static func task(id: UUID, on connection: PostgresConnection) async throws -> Stored? {
        try read(try await connection.query(PostgresQuery(unsafeSQL: selectColumns + " WHERE t.referral_id = $1", parameters: [id.uuidString.lowercased()])))
            .first
    }

    static func task(serviceRequest id: String, on connection: PostgresConnection) async throws -> Stored? {
        try read(try await connection.query(PostgresQuery(unsafeSQL: selectColumns + " WHERE t.service_request_id = $1", parameters: [id]))).first
    }

    static func tasks(ids: [UUID], on connection: PostgresConnection) async throws -> [Stored] {
        try read(
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: selectColumns + " WHERE t.referral_id = ANY($1::uuid[]) ORDER BY t.authored_on, t.referral_id",
                    parameters: [ids.map { $0.uuidString.lowercased() }.postgresText])))
    }
}

extension ReferralStatus {
    var needsStatusReason: Bool {
        switch self {
        case .rejected, .cancelled, .onHold, .failed: true
        default: false
        }
    }
}

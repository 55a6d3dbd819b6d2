import Contracts
import Domain
import Foundation
import HTTPTypes
import Messaging
import PostgresClient
import ServiceRuntime
import WireFormats

/// How a referral looks to API clients.
struct ReferralView: Codable, Sendable, Equatable {
    var id: UUID
    var externalId: String?
    var clientId: UUID
    var site: String
    var referrer: Referrer
    var needs: [String]
    var interests: [String]
    var supportLevel: String
    var priority: String
    var status: String
    var version: Int
    var receivedAt: Date
    var updatedAt: Date
    /// The link worker who accepted it.
    var ownerId: String?
    /// The earliest follow-up step it waits for.
    var nextStep: DueStep?
    /// Question code → answer, as submitted: set only by the read of one referral
    /// (`GET /v1/referrals/{id}`), never in lists, the answers of changes, events or logs.
    var screeningAnswers: [String: String]?

    struct DueStep: Codable, Sendable, Equatable {
        var step: String
        var dueAt: Date
        var overdue: Bool
    }

    /// The columns `init(row:)` reads, for every query that lists referrals `FROM \(fragment: source)`.
    static let columns: PostgresQuery = """
        r.id, r.external_id, r.client_id, r.site, r.referrer_id, r.referrer_role, r.referrer_organisation, r.needs, r.interests,
        r.support_level, r.priority, r.status, r.version, r.received_at, r.updated_at, r.owner_id, next.step AS next_step, next.due_at AS next_due_at
        """

    /// Referrals (`r`) with the earliest follow-up step each still waits for (`next`).
    static let source: PostgresQuery = """
        referral r LEFT JOIN LATERAL (
            SELECT s.step, s.due_at FROM follow_up_step s
            WHERE s.referral_id = r.id AND s.met_at IS NULL AND s.closed_at IS NULL ORDER BY s.due_at LIMIT 1
        ) next ON true
        """
}

/// Reads and writes referrals in the `intake` schema; every change writes its events through
/// the outbox in the same transaction.
struct ReferralStore: Sendable {
    let pool: PostgresConnectionPool
    let outbox: Outbox
    /// New referrals that arrive together are written in one transaction (group commit).
    let submissions: PostgresCommitGroup

    enum Submitted: Sendable {
        case created(ReferralView)
        /// The same request seen before (idempotency key or external id): the first result.
        case existing(ReferralView)
    }

    /// `task` is what the FHIR door knows of the ServiceRequest; a referral with an external id
    /// from the JSON door gets its Task too.
    func submit(_ valid: ValidReferral, idempotencyKey: String?, actor: Identity, requestID: String, task: ReferralTasks.Draft? = nil) async throws -> Submitted
    {
        // Whichever door it came through (JSON or FHIR), a referrer refers in their own name, and
        // nobody refers to a site their token does not name.
        if actor.has(.referrer) && !actor.hasAny(.coordinator, .networkCoordinator, .service, .ehrIntegration) && valid.referral.referrer.id != actor.subject {
            throw ProblemDetails(status: .forbidden, title: "Forbidden", detail: "a referrer can only send referrals in their own name")
        }
        guard actor.mayWork(at: valid.referral.site) else {
            throw ProblemDetails(status: .forbidden, title: "Forbidden", detail: "the token does not name the site \(valid.referral.site)")
        }
        do {
            // The whole unit of work runs on the connection's thread, in a transaction it may share
            // with referrals submitted at the same moment.
            return try await submissions.run { session in
                if let existing = try findExisting(idempotencyKey: idempotencyKey, externalID: valid.referral.externalID, caller: actor.subject, on: session) {
                    return .existing(existing)
                }
                let client = try upsertClient(valid.client, on: session)
                var referral = valid.referral
                referral.clientID = client.id  // an existing client keeps its id
                try session.execute(
                    """
                    INSERT INTO referral (id, external_id, client_id, referrer_id, referrer_role, referrer_organisation, site, needs,
                        interests, support_level, priority, notes, screening_answers, status, version, received_at, updated_at, submitted_by)
                    VALUES (\(referral.id)::uuid, \(referral.externalID), \(client.id)::uuid, \(referral.referrer.id), \(referral.referrer.role.rawValue),
                        \(referral.referrer.organisation), \(referral.site), \(referral.needs.map(\.code))::text[], \(referral.interests)::text[],
                        \(referral.supportLevel.rawValue), \(referral.priority.rawValue), \(referral.notes),
                        \(try PostgresJSON(encoding: referral.screeningAnswers))::jsonb, \(referral.status.rawValue), \(referral.version),
                        \(referral.receivedAt)::timestamptz, \(referral.receivedAt)::timestamptz, \(actor.subject))
                    """)
                try session.execute(
                    """
                    INSERT INTO referral_status_history (referral_id, version, to_status, actor_id, actor_role, request_id)
                    VALUES (\(referral.id)::uuid, \(referral.version), \(referral.status.rawValue), \(actor.subject), \(actor.roles.map(\.rawValue).sorted().joined(separator: ",")), \(requestID))
                    """)
                if let idempotencyKey {
                    try session.execute(
                        "INSERT INTO idempotency_key (caller, key, referral_id) VALUES (\(actor.subject), \(idempotencyKey), \(referral.id)::uuid)")
                }
                try outbox.append(Self.receivedEvent(referral, client: client.value), on: session)
                if let draft = task
                    ?? referral.externalID.map({ external in
                        ReferralTasks.Draft(
                            serviceRequestID: external, serviceRequest: nil, patient: nil,
                            requester: .init(reference: nil, display: referral.referrer.id), requestedService: nil, submittedBy: actor.subject)
                    })
                {
                    try ReferralTasks.create(draft, referral: referral, on: session)
                    // The Patient posted for it is the client's: erasing the client erases it.
                    if let reference = draft.patient?.reference, reference.hasPrefix("Patient/") {
                        try session.execute(
                            "UPDATE fhir_patient SET client_id = \(client.id)::uuid WHERE owner = \(draft.submittedBy) AND id = \(String(reference.dropFirst(8)))"
                        )
                    }
                }
                try audit("create", referral: referral.id, client: client.id, actor: actor, requestID: requestID, on: session)
                // A new client, or a known one whose contact details the referral changed.
                if let version = client.changedVersion {
                    try outbox.append(Self.profileEvent(client.value, version: version, at: referral.receivedAt), on: session)
                }
                return .created(ReferralView(referral))
            }
        } catch let error as PostgresError
            where error.kind == .uniqueViolation && (error.constraint == "idempotency_key_pkey" || error.constraint == "referral_external_id_key")
        {
            // A concurrent retry won the race; answer with what it created.
            let existing = try await pool.withConnection { connection in
                try await connection.withSession {
                    try findExisting(idempotencyKey: idempotencyKey, externalID: valid.referral.externalID, caller: actor.subject, on: $0)
                }
            }
            guard let existing else { throw error }
            return .existing(existing)
        }
    }

    /// The referral this caller already created with this key or external id. Another caller's
    /// key is not looked at; another caller's external id is a conflict that names nothing of
    /// their referral (not even its site or status).
    private func findExisting(idempotencyKey: String?, externalID: String?, caller: String, on session: borrowing PostgresSession) throws -> ReferralView? {
        if let idempotencyKey,
            let row = try session.query("SELECT referral_id FROM idempotency_key WHERE caller = \(caller) AND key = \(idempotencyKey)").first
        {
            return try referral(id: try row.decode("referral_id"), on: session)
        }
        if let externalID, let row = try session.query("SELECT id, submitted_by FROM referral WHERE external_id = \(externalID)").first {
            guard try row.decode("submitted_by", as: String?.self) == caller else {
                throw ProblemDetails(status: .conflict, title: "Conflict", detail: "externalId is already in use by another sender")
            }
            return try referral(id: try row.decode("id"), on: session)
        }
        return nil
    }

    /// Links the referral to the client with the same identity, or records a new one. A known
    /// client referred again is updated by one rule, `Client.referredAgain(with:)`: contact
    /// details follow the newest referral, consent and preferences stay the client's own. Says
    /// the client as recorded now, and the version of a profile to publish when it changed.
    private func upsertClient(_ client: Client, on session: borrowing PostgresSession) throws -> (id: UUID, value: Client, changedVersion: Int?) {
        // A new person (the common case) is one statement.
        let inserted = try session.query(
            """
            INSERT INTO client (id, identity_key, given_name, family_name, birth_date, phone, email, preferred_language, postal_code,
                latitude, longitude, accessibility_needs, preferred_channel, consent_contact, consent_share_with_partners,
                consent_evaluation_use, sociodemographics)
            VALUES (\(client.id)::uuid, \(client.identityKey), \(client.givenName), \(client.familyName), \(client.birthDate.description)::date,
                \(client.contact.phone), \(client.contact.email), \(client.preferredLanguage), \(client.postalCode),
                \(client.coordinates?.latitude), \(client.coordinates?.longitude), \(client.accessibilityNeeds)::text[],
                \(client.preferredChannel.rawValue), \(client.consent.contact), \(client.consent.shareWithPartners),
                \(client.consent.evaluationUse), \(try client.sociodemographics.map { try PostgresJSON(encoding: $0) })::jsonb)
            ON CONFLICT (identity_key) DO NOTHING
            RETURNING id
            """)
        if !inserted.isEmpty { return (client.id, client, 1) }
        // Known (here or in a transaction that committed meanwhile): referred again.
        guard
            let row = try session.query(
                """
                SELECT id, given_name, family_name, birth_date::text AS birth_date, phone, email, preferred_language, postal_code, latitude, longitude,
                    accessibility_needs, preferred_channel, consent_contact, consent_share_with_partners, consent_evaluation_use,
                    sociodemographics::text AS sociodemographics
                FROM client WHERE identity_key = \(client.identityKey) FOR UPDATE
                """
            ).first
        else {
            // Erased between the two statements: record the person anew.
            return try upsertClient(client, on: session)
        }
        let recorded = try Self.client(row)
        let merged = recorded.referredAgain(with: client)
        guard merged != recorded else { return (recorded.id, recorded, nil) }
        let version = try session.query(
            """
            UPDATE client SET phone = \(merged.contact.phone), email = \(merged.contact.email), postal_code = \(merged.postalCode),
                latitude = \(merged.coordinates?.latitude), longitude = \(merged.coordinates?.longitude),
                accessibility_needs = \(merged.accessibilityNeeds)::text[],
                sociodemographics = \(try merged.sociodemographics.map { try PostgresJSON(encoding: $0) })::jsonb,
                version = version + 1, updated_at = now()
            WHERE id = \(recorded.id)::uuid
            RETURNING version
            """
        ).first!.decode("version", as: Int.self)
        return (merged.id, merged, version)
    }

    /// A client as recorded.
    static func client(_ row: PostgresRow) throws -> Client {
        var coordinates: Coordinates?
        if let latitude = try row.decode("latitude", as: Double?.self), let longitude = try row.decode("longitude", as: Double?.self) {
            coordinates = try Coordinates(latitude: latitude, longitude: longitude)
        }
        let channel: String = try row.decode("preferred_channel")
        return try Client(
            id: try row.decode("id"), givenName: try row.decode("given_name"), familyName: try row.decode("family_name"),
            birthDate: try CalendarDate(try row.decode("birth_date", as: String.self)),
            contact: try ContactDetails(phone: try row.decode("phone", as: String?.self), email: try row.decode("email", as: String?.self)),
            preferredLanguage: try row.decode("preferred_language"), postalCode: try row.decode("postal_code", as: String?.self),
            coordinates: coordinates, accessibilityNeeds: try row.decode("accessibility_needs"),
            preferredChannel: ContactChannel(rawValue: channel) ?? ContactChannel.none,
            consent: Consent(
                contact: try row.decode("consent_contact"), shareWithPartners: try row.decode("consent_share_with_partners"),
                evaluationUse: try row.decode("consent_evaluation_use")),
            sociodemographics: try row.decode("sociodemographics", as: String?.self).map { try JSONCoding.stored.decode(Sociodemographics.self, from: $0) },
            today: CalendarDate(Date()))
    }

    /// Who reads a referral: nobody another site's; within their sites link workers,
    /// coordinators and services any, referrers their own.
    static func mayRead(_ view: ReferralView, actor: Identity) -> Bool {
        guard actor.mayWork(at: view.site) else { return false }
        if actor.hasAny(.coordinator, .networkCoordinator, .service, .linkWorker) { return true }
        return actor.has(.referrer) && actor.subject == view.referrer.id
    }

    func referral(id: UUID, on session: borrowing PostgresSession) throws -> ReferralView? {
        try session.query(
            """
            SELECT \(fragment: ReferralView.columns) FROM \(fragment: ReferralView.source) WHERE r.id = \(id)::uuid
            """
        ).first.map(ReferralView.init(row:))
    }

    func referral(id: UUID, on connection: PostgresConnection) async throws -> ReferralView? {
        try await connection.withSession { try self.referral(id: id, on: $0) }
    }

    /// The thin event: ids, codes and flags; no name, contact, birth date or address, and of the
    /// interests only the codes of the interest list (the words typed stay here). The consent
    /// is the client's as recorded (`Client.consent(forReferralSubmitted:)`).
    static func receivedEvent(_ referral: Referral, client: Client) -> ReferralReceivedV1 {
        ReferralReceivedV1(
            referralID: referral.id, referralVersion: referral.version, clientID: client.id, site: referral.site,
            referrerID: referral.referrer.id, referrerRole: referral.referrer.role.rawValue, needs: referral.needs.map(\.code),
            interests: Interests.codes(in: referral.interests), supportLevel: referral.supportLevel.rawValue, priority: referral.priority.rawValue,
            preferredLanguage: client.preferredLanguage, postalArea: client.postalCode.flatMap(PostalCode.area),
            coordinates: client.coordinates,
            ageBand: AgeBand(age: client.birthDate.age(on: CalendarDate(referral.receivedAt))).rawValue,
            accessibilityNeeds: client.accessibilityNeeds, preferredChannel: client.preferredChannel.rawValue,
            consent: client.consent(forReferralSubmitted: referral.consent), sociodemographics: client.sociodemographics, receivedAt: referral.receivedAt)
    }

    static func profileEvent(_ client: Client, version: Int, at: Date) -> ClientProfileV1 {
        ClientProfileV1(
            clientID: client.id, clientVersion: version, givenName: client.givenName, familyName: client.familyName,
            phone: client.contact.phone, email: client.contact.email, preferredLanguage: client.preferredLanguage,
            preferredChannel: client.preferredChannel.rawValue, consent: client.consent, updatedAt: at)
    }
}

extension ReferralView {
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), externalId: try row.decode("external_id", as: String?.self), clientId: try row.decode("client_id"),
            site: try row.decode("site"),
            referrer: Referrer(
                id: try row.decode("referrer_id"), role: ReferrerRole(rawValue: try row.decode("referrer_role")) ?? .physician,
                organisation: try row.decode("referrer_organisation", as: String?.self)),
            needs: try row.decode("needs"), interests: try row.decode("interests"), supportLevel: try row.decode("support_level"),
            priority: try row.decode("priority"), status: try row.decode("status"), version: try row.decode("version"),
            receivedAt: try row.decode("received_at"), updatedAt: try row.decode("updated_at"), ownerId: try row.decode("owner_id", as: String?.self),
            nextStep: try row.decode("next_step", as: String?.self).map { step in
                let due: Date = try row.decode("next_due_at")
                return DueStep(step: step, dueAt: due, overdue: due <= Date())
            })
    }

    init(_ referral: Referral) {
        self.init(
            id: referral.id, externalId: referral.externalID, clientId: referral.clientID, site: referral.site, referrer: referral.referrer,
            needs: referral.needs.map(\.code), interests: referral.interests, supportLevel: referral.supportLevel.rawValue,
            priority: referral.priority.rawValue, status: referral.status.rawValue, version: referral.version,
            receivedAt: referral.receivedAt, updatedAt: referral.updatedAt, ownerId: nil, nextStep: nil)
    }
}

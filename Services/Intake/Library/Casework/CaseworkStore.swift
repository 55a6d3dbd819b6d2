import Contracts
import Domain
import Foundation
import HTTPTypes
import Messaging
import PostgresClient
import ServiceRuntime
import WireFormats

struct ContactView: Codable, Sendable, Equatable {
    var id: UUID
    var referralId: UUID
    var occurredAt: Date
    var mode: String
    var party: String
    var reached: Bool
    var minutes: Int
    var note: String?
    var authorId: String
    var loggedAt: Date
}

struct GoalView: Codable, Sendable, Equatable {
    var id: UUID
    var referralId: UUID
    var lifeDomain: String
    var description: String
    var progress: String
    var setBy: String
    var setAt: Date
    var reviewedAt: Date?
}

struct PlanView: Codable, Sendable, Equatable {
    var referralId: UUID
    var whatMatters: String?
    var updatedBy: String?
    var updatedAt: Date?
    var goals: [GoalView]
}

struct NoteView: Codable, Sendable, Equatable {
    var id: UUID
    var referralId: UUID
    var body: String
    var authorId: String
    var writtenAt: Date
}

/// Casework in the `intake` schema. Who may touch a referral's casework is decided here once
/// (`workable`): link workers and coordinators whose sites include the referral's. Changes that
/// others follow (contacts, goals) move the referral's version and write their thin event in
/// the same transaction; notes and the plan's words never leave this schema.
struct CaseworkStore: Sendable {
    /// The referrals the casework belongs to; its audit log records casework too.
    let referrals: ReferralStore
    var pool: PostgresConnectionPool { referrals.pool }
    var outbox: Outbox { referrals.outbox }

    /// Statuses in which the casework may change: once a link worker owns the referral and
    /// until it is closed.
    static let openStatuses: Set<ReferralStatus> = [.accepted, .inProgress, .onHold]

    struct Referral {
        var site: String
        var status: ReferralStatus
        var version: Int
        var receivedAt: Date
    }

    /// The referral, if this caller may work on it; locked when `forUpdate`, so events keep the
    /// referral's version order. Anyone else gets the 404 an unknown id gets.
    private func workable(_ id: UUID, actor: Identity, forUpdate: Bool, on session: borrowing PostgresSession) throws -> Referral {
        let row =
            forUpdate
            ? try session.query("SELECT site, status, version, received_at FROM referral WHERE id = \(id)::uuid FOR UPDATE").first
            : try session.query("SELECT site, status, version, received_at FROM referral WHERE id = \(id)::uuid").first
        guard let row,
            let status = ReferralStatus(rawValue: try row.decode("status"))
        else { throw ProblemDetails.noSuchResource }
        let site: String = try row.decode("site")
        guard actor.hasAny(.linkWorker, .coordinator), actor.mayWork(at: site) else { throw ProblemDetails.noSuchResource }
        return Referral(site: site, status: status, version: try row.decode("version"), receivedAt: try row.decode("received_at"))
    }

    /// The referral, locked for a change that needs it open; 409 with the status otherwise.
    private func open(_ id: UUID, actor: Identity, on session: borrowing PostgresSession) throws -> Referral {
        let referral = try workable(id, actor: actor, forUpdate: true, on: session)
        guard Self.openStatuses.contains(referral.status) else {
            throw ProblemDetails(
                status: .conflict, title: "Referral not open",
                detail: "casework changes while a referral is accepted, in progress or on hold; this one is \(referral.status.rawValue)")
        }
        return referral
    }

    /// A casework record made once per request: a retried request (the same Idempotency-Key from
    /// the same caller on the same referral) gets the first result, not a second record.
    enum Recorded<View: Sendable>: Sendable {
        case created(View)
        case existing(View)
    }

    /// What this caller already recorded on this referral under `key` in `table` (whose author
    /// column is `author`), if anything.
    private func earlier<View>(
        _ table: String, author: String, referral id: UUID, key: String?, actor: Identity, on session: borrowing PostgresSession,
        as view: (PostgresRow) throws -> View
    ) throws -> View? {
        guard let key else { return nil }
        return try session.query(
            "SELECT * FROM \(identifier: table) WHERE referral_id = \(id)::uuid AND \(identifier: author) = \(actor.subject) AND idempotency_key = \(key)"
        ).first.map(view)
    }

    /// Moves the referral's version on by one for an event that follows it.
    private func nextVersion(_ id: UUID, after referral: Referral, at now: Date, on session: borrowing PostgresSession) throws -> Int {
        let version = referral.version + 1
        try session.execute("UPDATE referral SET version = \(version), updated_at = \(now)::timestamptz WHERE id = \(id)::uuid")
        return version
    }

    // MARK: Contacts

    func logContact(_ contact: ContactRequest.Valid, referral id: UUID, idempotencyKey: String?, actor: Identity, requestID: String) async throws -> Recorded<
        ContactView
    > {
        try await pool.transaction { connection in
            try await connection.withSession { session in
                let referral = try open(id, actor: actor, on: session)
                if let earlier = try earlier(
                    "casework_contact", author: "author_id", referral: id, key: idempotencyKey, actor: actor, on: session, as: ContactView.init(row:))
                {
                    return .existing(earlier)
                }
                guard contact.occurredAt >= referral.receivedAt.addingTimeInterval(-CaseworkLimits.futureTolerance) else {
                    throw ProblemDetails.validation([.init(pointer: "/occurredAt", detail: "must not be before the referral was received")])
                }
                let now = Date()
                let version = try nextVersion(id, after: referral, at: now, on: session)
                let contactID = UUID.random()
                let row = try session.query(
                    """
                    INSERT INTO casework_contact (id, referral_id, occurred_at, mode, party, reached, minutes, note, author_id, idempotency_key)
                    VALUES (\(contactID)::uuid, \(id)::uuid, \(contact.occurredAt)::timestamptz, \(contact.mode.rawValue), \(contact.party.rawValue),
                        \(contact.reached), \(contact.minutes), \(contact.note), \(actor.subject), \(idempotencyKey))
                    RETURNING *
                    """
                ).first!
                try FollowUpSteps.contactLogged(party: contact.party, reached: contact.reached, at: contact.occurredAt, referral: id, on: session)
                try outbox.append(
                    ContactLoggedV1(
                        referralID: id, referralVersion: version, site: referral.site, contactID: contactID, mode: contact.mode, party: contact.party,
                        reached: contact.reached, minutes: contact.minutes, occurredAt: contact.occurredAt), on: session)
                try referrals.audit("contact-log", referral: id, actor: actor, requestID: requestID, on: session)
                return .created(try ContactView(row: row))
            }
        }
    }

    func contacts(referral id: UUID, actor: Identity) async throws -> [ContactView] {
        try await pool.withConnection { connection in
            try await connection.withSession { session in
                _ = try workable(id, actor: actor, forUpdate: false, on: session)
                return try session.query("SELECT * FROM casework_contact WHERE referral_id = \(id)::uuid ORDER BY occurred_at, logged_at")
                    .map(ContactView.init(row:))
            }
        }
    }

    // MARK: Plan and goals

    func plan(referral id: UUID, actor: Identity) async throws -> PlanView {
        try await pool.withConnection { connection in
            try await connection.withSession { session in
                _ = try workable(id, actor: actor, forUpdate: false, on: session)
                return try plan(id, on: session)
            }
        }
    }

    private func plan(_ id: UUID, on session: borrowing PostgresSession) throws -> PlanView {
        let row = try session.query("SELECT what_matters, updated_by, updated_at FROM casework_plan WHERE referral_id = \(id)::uuid").first
        let goals = try session.query("SELECT * FROM casework_goal WHERE referral_id = \(id)::uuid ORDER BY set_at, id").map(GoalView.init(row:))
        return PlanView(
            referralId: id, whatMatters: try row?.decode("what_matters", as: String.self), updatedBy: try row?.decode("updated_by", as: String.self),
            updatedAt: try row?.decode("updated_at", as: Date.self), goals: goals)
    }

    func writePlan(whatMatters: String, referral id: UUID, actor: Identity, requestID: String) async throws -> PlanView {
        try await pool.transaction { connection in
            try await connection.withSession { session in
                _ = try open(id, actor: actor, on: session)
                try session.execute(
                    """
                    INSERT INTO casework_plan (referral_id, what_matters, updated_by, updated_at)
                    VALUES (\(id)::uuid, \(whatMatters), \(actor.subject), clock_timestamp())
                    ON CONFLICT (referral_id) DO UPDATE SET what_matters = excluded.what_matters, updated_by = excluded.updated_by,
                        updated_at = excluded.updated_at
                    """)
                try referrals.audit("plan-write", referral: id, actor: actor, requestID: requestID, on: session)
                return try plan(id, on: session)
            }
        }
    }

    func setGoal(_ goal: GoalRequest.Valid, referral id: UUID, idempotencyKey: String?, actor: Identity, requestID: String) async throws -> Recorded<GoalView> {
        try await pool.transaction { connection in
            try await connection.withSession { session in
                let referral = try open(id, actor: actor, on: session)
                if let earlier = try earlier(
                    "casework_goal", author: "set_by", referral: id, key: idempotencyKey, actor: actor, on: session, as: GoalView.init(row:))
                {
                    return .existing(earlier)
                }
                let now = Date()
                let version = try nextVersion(id, after: referral, at: now, on: session)
                let goalID = UUID.random()
                let row = try session.query(
                    """
                    INSERT INTO casework_goal (id, referral_id, life_domain, description, progress, set_by, set_at, idempotency_key)
                    VALUES (\(goalID)::uuid, \(id)::uuid, \(goal.lifeDomain.code), \(goal.description), \(goal.progress.rawValue), \(actor.subject),
                        \(now)::timestamptz, \(idempotencyKey))
                    RETURNING *
                    """
                ).first!
                try outbox.append(
                    GoalSetV1(
                        referralID: id, referralVersion: version, site: referral.site, goalID: goalID, lifeDomain: goal.lifeDomain, progress: goal.progress,
                        setAt: now), on: session)
                try referrals.audit("goal-set", referral: id, actor: actor, requestID: requestID, on: session)
                return .created(try GoalView(row: row))
            }
        }
    }

    func reviewGoal(_ goalID: UUID, referral id: UUID, progress: GoalProgress, note: String?, actor: Identity, requestID: String) async throws -> GoalView {
        try await pool.transaction { connection in
            try await connection.withSession { session in
                let referral = try open(id, actor: actor, on: session)
                guard
                    let row = try session.query(
                        "SELECT life_domain, progress FROM casework_goal WHERE id = \(goalID)::uuid AND referral_id = \(id)::uuid FOR UPDATE"
                    ).first,
                    let previous = GoalProgress(rawValue: try row.decode("progress"))
                else { throw ProblemDetails.noSuchResource }
                let domain = try LifeDomain(code: try row.decode("life_domain"))
                let now = Date()
                let version = try nextVersion(id, after: referral, at: now, on: session)
                try session.execute(
                    """
                    INSERT INTO casework_goal_review (goal_id, previous_progress, progress, note, reviewed_by, reviewed_at)
                    VALUES (\(goalID)::uuid, \(previous.rawValue), \(progress.rawValue), \(note), \(actor.subject), \(now)::timestamptz)
                    """)
                let updated = try session.query(
                    """
                    UPDATE casework_goal SET progress = \(progress.rawValue), reviewed_at = \(now)::timestamptz WHERE id = \(goalID)::uuid RETURNING *
                    """
                ).first!
                try outbox.append(
                    GoalReviewedV1(
                        referralID: id, referralVersion: version, site: referral.site, goalID: goalID, lifeDomain: domain, previousProgress: previous,
                        progress: progress, reviewedAt: now), on: session)
                try referrals.audit("goal-review", referral: id, actor: actor, requestID: requestID, on: session)
                return try GoalView(row: updated)
            }
        }
    }

    // MARK: Support level

    /// After assessing the client, the link worker sets how much support the pathway gets. The
    /// level travels as codes; the reason stays here. The same level again changes nothing.
    func reviseSupportLevel(_ level: SupportLevel, reason: String, referral id: UUID, actor: Identity, requestID: String) async throws -> ReferralView {
        try await pool.transaction { connection in
            try await connection.withSession { session in
                let referral = try open(id, actor: actor, on: session)
                let current = try session.query("SELECT support_level FROM referral WHERE id = \(id)::uuid").first!.decode("support_level", as: String.self)
                if current != level.rawValue {
                    guard let previous = SupportLevel(rawValue: current) else {
                        throw PostgresError(kind: .protocolViolation, message: "unknown support level \(current)", table: "referral", column: "support_level")
                    }
                    let now = Date()
                    let version = try nextVersion(id, after: referral, at: now, on: session)
                    try session.execute("UPDATE referral SET support_level = \(level.rawValue) WHERE id = \(id)::uuid")
                    try session.execute(
                        """
                        INSERT INTO support_level_revision (referral_id, previous_level, level, reason, revised_by, revised_at)
                        VALUES (\(id)::uuid, \(previous.rawValue), \(level.rawValue), \(reason), \(actor.subject), \(now)::timestamptz)
                        """)
                    try outbox.append(
                        SupportLevelChangedV1(referralID: id, referralVersion: version, site: referral.site, from: previous, to: level, changedAt: now),
                        on: session)
                    try referrals.audit("support-level-change", referral: id, actor: actor, requestID: requestID, on: session)
                }
                return try referrals.referral(id: id, on: session)!
            }
        }
    }

    // MARK: Notes

    /// Notes may be written whatever the status (why a referral was declined, say), never read
    /// outside the site's casework team; each read is audited.
    func writeNote(_ body: String, referral id: UUID, idempotencyKey: String?, actor: Identity, requestID: String) async throws -> Recorded<NoteView> {
        try await pool.transaction { connection in
            try await connection.withSession { session in
                _ = try workable(id, actor: actor, forUpdate: true, on: session)
                if let earlier = try earlier(
                    "casework_note", author: "author_id", referral: id, key: idempotencyKey, actor: actor, on: session, as: NoteView.init(row:))
                {
                    return .existing(earlier)
                }
                let row = try session.query(
                    """
                    INSERT INTO casework_note (id, referral_id, body, author_id, written_at, idempotency_key)
                    VALUES (\(UUID.random())::uuid, \(id)::uuid, \(body), \(actor.subject), clock_timestamp(), \(idempotencyKey))
                    RETURNING *
                    """
                ).first!
                try referrals.audit("note-write", referral: id, actor: actor, requestID: requestID, on: session)
                return .created(try NoteView(row: row))
            }
        }
    }

    func notes(referral id: UUID, actor: Identity, requestID: String) async throws -> [NoteView] {
        try await pool.withConnection { connection in
            try await connection.withSession { session in
                _ = try workable(id, actor: actor, forUpdate: false, on: session)
                try referrals.audit("read:notes", referral: id, actor: actor, requestID: requestID, on: session)
                return try session.query("SELECT * FROM casework_note WHERE referral_id = \(id)::uuid ORDER BY written_at, id").map(NoteView.init(row:))
            }
        }
    }
}

extension ContactView {
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), referralId: try row.decode("referral_id"), occurredAt: try row.decode("occurred_at"), mode: try row.decode("mode"),
            party: try row.decode("party"), reached: try row.decode("reached"), minutes: try row.decode("minutes"),
            note: try row.decode("note", as: String?.self), authorId: try row.decode("author_id"), loggedAt: try row.decode("logged_at"))
    }
}

extension GoalView {
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), referralId: try row.decode("referral_id"), lifeDomain: try row.decode("life_domain"),
            description: try row.decode("description"), progress: try row.decode("progress"), setBy: try row.decode("set_by"),
            setAt: try row.decode("set_at"), reviewedAt: try row.decode("reviewed_at", as: Date?.self))
    }
}

extension NoteView {
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), referralId: try row.decode("referral_id"), body: try row.decode("body"), authorId: try row.decode("author_id"),
            writtenAt: try row.decode("written_at"))
    }
}

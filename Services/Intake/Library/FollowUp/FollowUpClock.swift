import Contracts
import Foundation
import Logging
import Messaging
import PostgresClient
import ServiceLifecycle
import ServiceRuntime

/// Raises `referral.overdue` for each follow-up step past its time, then again when it passes
/// its escalation time. The clock is the `follow_up_step` table, so it survives restarts; a
/// step is raised in the transaction that marks it, on the referral's row taken with SKIP
/// LOCKED, so replicas running this at once raise each step once and never wait on each other
/// or on a transition in flight (that referral is simply looked at again next round).
struct FollowUpClock: Service {
    let pool: PostgresConnectionPool
    let outbox: Outbox
    let gate: ReadinessGate
    let logger: Logger
    var interval: Duration = .seconds(60)
    var batch = 100

    func run() async throws {
        guard await gate.wait() else { return }
        let channel = (pool.configuration.schema ?? "intake") + "_follow_up"
        await WakeUpLoop(pool: pool, channel: channel, pollInterval: interval, logger: logger).run(
            { try await round(now: Date()) == batch ? .now : .afterWakeUp },
            onError: { logger.warning("follow-up clock round failed; retrying", metadata: ["error": "\($0)"]) })
    }

    /// Raises what is due at `now`; returns how many steps it looked at.
    @discardableResult
    func round(now: Date) async throws -> Int {
        let due = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT referral_id, step FROM follow_up_step
                WHERE met_at IS NULL AND closed_at IS NULL
                  AND ((overdue_at IS NULL AND due_at <= \(now)::timestamptz) OR (escalated_at IS NULL AND escalate_at <= \(now)::timestamptz))
                ORDER BY due_at LIMIT \(batch)
                """
            ).map { (referral: try $0.decode("referral_id", as: UUID.self), step: try $0.decode("step", as: String.self)) }
        }
        for (referral, step) in due {
            try await raise(step, of: referral, now: now)
        }
        return due.count
    }

    private func raise(_ step: String, of referral: UUID, now: Date) async throws {
        try await pool.transaction { connection in
            try await connection.withSession { session in
                guard
                    let row = try session.query(
                        "SELECT site, version, owner_id FROM referral WHERE id = \(referral)::uuid FOR UPDATE SKIP LOCKED"
                    ).first,
                    let state = try session.query(
                        """
                        SELECT due_at, escalate_at, overdue_at IS NOT NULL AS overdue, escalated_at IS NOT NULL AS escalated FROM follow_up_step
                        WHERE referral_id = \(referral)::uuid AND step = \(step) AND met_at IS NULL AND closed_at IS NULL
                        """
                    ).first
                else { return }
                let dueAt: Date = try state.decode("due_at")
                let level: ReferralOverdueV1.Level
                if !(try state.decode("overdue", as: Bool.self)), dueAt <= now {
                    level = .overdue
                    try session.execute("UPDATE follow_up_step SET overdue_at = \(now)::timestamptz WHERE referral_id = \(referral)::uuid AND step = \(step)")
                } else if !(try state.decode("escalated", as: Bool.self)), try state.decode("escalate_at", as: Date.self) <= now {
                    level = .escalated
                    try session.execute("UPDATE follow_up_step SET escalated_at = \(now)::timestamptz WHERE referral_id = \(referral)::uuid AND step = \(step)")
                } else {
                    return  // another replica raised it since this round looked
                }
                let version = try row.decode("version", as: Int.self) + 1
                try session.execute("UPDATE referral SET version = \(version), updated_at = \(now)::timestamptz WHERE id = \(referral)::uuid")
                try outbox.append(
                    ReferralOverdueV1(
                        referralID: referral, referralVersion: version, site: try row.decode("site"), ownerID: try row.decode("owner_id", as: String?.self),
                        step: step, level: level, dueAt: dueAt, raisedAt: now), on: session)
            }
        }
    }
}

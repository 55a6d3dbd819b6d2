import Contracts
import Domain
import Foundation
import Logging
import Messaging
import Metrics
import PostgresClient
import ServiceLifecycle

/// Sends what is due. Each replica claims due notifications with `FOR UPDATE SKIP LOCKED` and a
/// lease, sends them, and records the result with its event through the outbox.
///
/// The one window that cannot be closed: a crash after the gateway accepted a message and
/// before `sent` was recorded. The lease then expires and the message is sent again, with the
/// same Message-ID / `webhook-id` / `Idempotency-Key` (the notification id), so the receiver
/// can drop the repeat.
public struct DeliveryLoop: Service {
    let pool: PostgresConnectionPool
    let outbox: Outbox
    let topics: TopicNames
    let gate: ReadinessGate
    let settings: NotificationSettings
    let channels: DeliveryChannels
    let schema: String
    let logger: Logger
    let lease: Duration
    let pollInterval: Duration

    private let sent = Counter(label: "passerelle_notifications_sent_total")
    private let failed = Counter(label: "passerelle_notifications_failed_total")
    private let retried = Counter(label: "passerelle_notification_retries_total")

    init(
        pool: PostgresConnectionPool, outbox: Outbox, topics: TopicNames, gate: ReadinessGate, settings: NotificationSettings, channels: DeliveryChannels,
        schema: String, logger: Logger, lease: Duration = .seconds(60), pollInterval: Duration = .milliseconds(500)
    ) {
        self.pool = pool
        self.outbox = outbox
        self.topics = topics
        self.gate = gate
        self.settings = settings
        self.channels = channels
        self.schema = schema
        self.logger = logger
        self.lease = lease
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        guard await gate.wait() else { return }
        await seedTemplates()
        let listener = PostgresListener(configuration: pool.configuration, channel: "\(schema)_notification", logger: logger)
        listener.start()
        defer { listener.stop() }
        let signal = WakeUpSignal()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in listener.wakeUps { signal.signal() } }
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    let claimed = await self.round()
                    if claimed == settings.concurrency { continue }
                    await cancelWhenGracefulShutdown { await signal.wait(timeout: self.pollInterval) }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Stores the default templates that are not there yet; edits are never overwritten.
    func seedTemplates() async {
        do {
            try await pool.withConnection { connection in
                for template in DefaultTemplates.all {
                    try await connection.query("""
                        INSERT INTO template (key, language, channel, subject, body, html, updated_by)
                        VALUES (\(template.key.rawValue), \(template.language), \(template.channel.rawValue), \(template.subject), \(template.body), \(template.html), 'passerelle')
                        ON CONFLICT DO NOTHING
                        """)
                }
            }
        } catch {
            logger.error("could not store the default templates", metadata: ["error": "\(error)"])
        }
    }

    /// Claims up to `concurrency` due notifications and delivers them in parallel; returns how many.
    @discardableResult
    func round() async -> Int {
        let claimed: [ClaimedNotification]
        do {
            claimed = try await claim(limit: settings.concurrency)
        } catch {
            logger.warning("could not claim notifications; retrying", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return 0
        }
        await withTaskGroup(of: Void.self) { group in
            for notification in claimed {
                group.addTask { await self.deliver(notification) }
            }
        }
        return claimed.count
    }

    func claim(limit: Int) async throws -> [ClaimedNotification] {
        let leaseSeconds = Int(lease.components.seconds)
        let rows = try await pool.withConnection { connection in
            try await connection.query("""
                UPDATE notification n SET status = 'sending', attempts = n.attempts + 1,
                    lease_until = now() + make_interval(secs => \(leaseSeconds)), updated_at = now()
                FROM (SELECT id FROM notification
                      WHERE (status IN ('pending', 'deferred') AND not_before <= now()) OR (status = 'sending' AND lease_until < now())
                      ORDER BY not_before LIMIT \(limit) FOR UPDATE SKIP LOCKED) due
                WHERE n.id = due.id
                RETURNING n.id, n.referral_id, n.source_event_id, n.recipient_kind, n.recipient_id, n.template, n.facts::text AS facts, n.attempts
                """)
        }
        return try rows.map { row in
            ClaimedNotification(
                id: try row.decode("id"), referralID: try row.decode("referral_id"), sourceEventID: try row.decode("source_event_id"),
                recipientKind: RecipientKind(rawValue: try row.decode("recipient_kind")) ?? .client, recipientID: try row.decode("recipient_id"),
                template: TemplateKey(rawValue: try row.decode("template")) ?? .referralAssigned,
                facts: try JSONDecoder().decode([String: TemplateValue].self, from: Data(try row.decode("facts", as: String.self).utf8)),
                attempts: try row.decode("attempts"))
        }
    }

    func deliver(_ notification: ClaimedNotification) async {
        let outcome: DeliveryOutcome
        var message: AddressedMessage?
        do {
            switch try await AddressedMessage.resolve(notification, settings: settings, pool: pool) {
            case .withheld(let reason):
                outcome = .withheld(reason)
            case .ready(let addressed):
                message = addressed
                try await channels.send(addressed, notificationID: notification.id)
                outcome = .sent
            }
        } catch let error as DeliveryError {
            outcome = .failed(error)
        } catch {
            outcome = .failed(DeliveryError(transient: true, "\(error)"))
        }
        do {
            try await record(outcome, for: notification, message: message)
        } catch {
            // The lease expires and another round picks it up again.
            logger.error("could not record a delivery", metadata: ["notification": "\(notification.id)", "error": "\(error)"])
        }
    }

    enum DeliveryOutcome {
        case sent
        case withheld(String)
        case failed(DeliveryError)
    }

    private func record(_ outcome: DeliveryOutcome, for notification: ClaimedNotification, message: AddressedMessage?) async throws {
        let outbox = outbox, topics = topics, retry = settings.retry
        let language = message?.language, channel = message?.channel.rawValue, address = message?.address
        let now = Date()
        switch outcome {
        case .sent:
            try await pool.sessionTransaction { session in
                try session.query("""
                    UPDATE notification SET status = 'sent', sent_at = \(now)::timestamptz, updated_at = now(), lease_until = NULL, last_error = NULL,
                        language = \(language), channel = \(channel), address = \(address)
                    WHERE id = \(notification.id)::uuid
                    """)
                _ = try outbox.append(NotificationSentV1(
                    notificationID: notification.id, referralID: notification.referralID, sourceEventID: notification.sourceEventID,
                    recipientKind: notification.recipientKind.rawValue, channel: channel ?? "", template: notification.template.rawValue,
                    language: language ?? "", attempts: notification.attempts, sentAt: now), on: session)
            }
            sent.increment()
        case .withheld(let reason):
            try await pool.withConnection { connection in
                try await connection.query("""
                    UPDATE notification SET status = 'withheld', last_error = \(reason), lease_until = NULL, updated_at = now() WHERE id = \(notification.id)::uuid
                    """)
            }
        case .failed(let error) where error.transient && notification.attempts < retry.maxAttempts:
            let next = now.addingTimeInterval(retry.delay(afterAttempt: notification.attempts))
            try await pool.withConnection { connection in
                try await connection.query("""
                    UPDATE notification SET status = 'pending', not_before = \(next)::timestamptz, last_error = \(error.detail), lease_until = NULL,
                        updated_at = now(), language = \(language), channel = \(channel)
                    WHERE id = \(notification.id)::uuid
                    """)
            }
            retried.increment()
            logger.info("delivery failed; will retry", metadata: ["notification": "\(notification.id)", "attempt": "\(notification.attempts)", "error": "\(error)"])
        case .failed(let error):
            try await pool.sessionTransaction { session in
                try session.query("""
                    UPDATE notification SET status = 'failed', last_error = \(error.detail), lease_until = NULL, updated_at = now(),
                        language = \(language), channel = \(channel)
                    WHERE id = \(notification.id)::uuid
                    """)
                let event = try outbox.append(NotificationFailedV1(
                    notificationID: notification.id, referralID: notification.referralID, sourceEventID: notification.sourceEventID,
                    recipientKind: notification.recipientKind.rawValue, channel: channel ?? "unresolved", template: notification.template.rawValue,
                    attempts: notification.attempts, error: error.detail, permanent: !error.transient, failedAt: now), on: session)
                // Operators inspect or replay undeliverable notifications from the dead-letter topic
                // (a copy of the event under an id of its own; the payload names the notification).
                var dead = event
                dead.id = UUID()
                try outbox.append(dead, topic: topics.deadLetter(.notifications), key: notification.referralID.uuidString.lowercased(), on: session)
            }
            failed.increment()
            logger.warning("notification failed", metadata: ["notification": "\(notification.id)", "attempts": "\(notification.attempts)", "error": "\(error)"])
        }
    }
}

/// A notification claimed for sending.
struct ClaimedNotification: Sendable {
    var id: UUID
    var referralID: UUID
    var sourceEventID: UUID
    var recipientKind: RecipientKind
    var recipientID: String
    var template: TemplateKey
    var facts: [String: TemplateValue]
    var attempts: Int
}

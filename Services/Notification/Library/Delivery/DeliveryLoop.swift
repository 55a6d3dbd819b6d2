import Backoff
import Contracts
import Domain
import Foundation
import Logging
import Messaging
import Metrics
import PostgresClient
import ServiceLifecycle
import Webhooks
import WireFormats

/// Sends what is due. Each replica claims due notifications with `FOR UPDATE SKIP LOCKED` and a
/// lease, sends them, and records the result with its event through the outbox.
///
/// While a batch is being delivered the worker renews its leases every third of the lease, so
/// a slow exchange (an SMTP relay may take `PASSERELLE_SMTP_TIMEOUT_SECONDS` per command, and an
/// exchange has up to ten) never lets the lease run out and another worker start the same
/// message. Should renewing fail (PostgreSQL out of reach), every SMTP command, and every HTTP
/// exchange with the SMS gateway or a webhook, is bounded by what is left of the lease
/// (`LeaseHold`), so the exchange is abandoned before it runs out.
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
    let templateCache = TemplateCache()

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

    /// Notified after a commit that planned notifications.
    static func wakeUpChannel(schema: String) -> String { schema + "_notification" }

    public func run() async throws {
        guard await gate.wait() else { return }
        await seedTemplates()
        // A round handles its own failures (it logs, pauses and claims nothing): it never throws.
        await WakeUpLoop(pool: pool, channel: Self.wakeUpChannel(schema: schema), pollInterval: pollInterval, logger: logger).run {
            await self.round() == settings.concurrency ? .now : .afterWakeUp
        }
    }

    /// Stores the default templates that are not there yet; edits are never overwritten.
    func seedTemplates() async {
        do {
            try await pool.withConnection { connection in
                for template in DefaultTemplates.all {
                    try await connection.query(
                        """
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

    /// Claims up to `concurrency` due notifications, delivers them in parallel and records the
    /// batch's results in one transaction; returns how many were claimed.
    @discardableResult
    func round() async -> Int {
        let claimed: [ClaimedNotification]
        let templates: TemplateSet
        // Before the claim: the database's lease starts later than this.
        let hold = LeaseHold(until: ContinuousClock.now + lease)
        do {
            let batch = try await claim(limit: settings.concurrency)
            claimed = batch.claimed
            guard !claimed.isEmpty else { return 0 }
            templates = try await templateCache.templates(stamp: batch.templatesStamp, pool: pool)
        } catch {
            logger.warning("could not claim notifications; retrying", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return 0
        }
        // Renewed until the results are recorded (which ends the leases).
        let renewal = Task { await self.renewLeases(of: claimed.map(\.id), hold: hold) }
        let results = await withTaskGroup(of: DeliveryResult.self) { group in
            for notification in claimed {
                group.addTask { await self.deliver(notification, templates: templates, hold: hold) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        do {
            try await record(results)
        } catch {
            // The leases expire and a later round sends these again, under the same ids.
            logger.error("could not record deliveries", metadata: ["notifications": "\(results.count)", "error": "\(error)"])
        }
        renewal.cancel()
        await renewal.value
        return claimed.count
    }

    /// Extends the leases of `ids` every third of the lease while they are being delivered. A
    /// lease that already ran out is not taken back (another worker may hold the row now); the
    /// hold then stops moving and the deliveries stop at its end.
    func renewLeases(of ids: [UUID], hold: LeaseHold) async {
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        while true {
            do {
                try await Task.sleep(for: lease / 3)
            } catch {
                return  // cancelled: the batch is recorded
            }
            let asked = ContinuousClock.now
            do {
                let renewed = try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        UPDATE notification SET lease_until = now() + make_interval(secs => \(seconds))
                        WHERE id = ANY(\(ids)::uuid[]) AND status = 'sending' AND lease_until >= now()
                        RETURNING id
                        """
                    ).count
                }
                if renewed == ids.count {
                    hold.extend(to: asked + lease)
                } else {
                    logger.warning("a delivery lease ran out before it was renewed", metadata: ["renewed": "\(renewed)", "claimed": "\(ids.count)"])
                }
            } catch {
                if Task.isCancelled { return }  // the batch was recorded meanwhile
                logger.warning("could not renew delivery leases", metadata: ["error": "\(error)"])
            }
        }
    }

    func claim(limit: Int) async throws -> (claimed: [ClaimedNotification], templatesStamp: String) {
        let leaseSeconds = Int(lease.components.seconds)
        return try await pool.withConnection { connection in
            try await ClaimedNotification.claim(limit: limit, leaseSeconds: leaseSeconds, on: connection)
        }
    }

    struct DeliveryResult: Sendable {
        var notification: ClaimedNotification
        var outcome: DeliveryOutcome
        var message: AddressedMessage?
    }

    func deliver(_ notification: ClaimedNotification, templates: TemplateSet, hold: LeaseHold? = nil) async -> DeliveryResult {
        var message: AddressedMessage?
        do {
            switch try AddressedMessage.resolve(notification, templates: templates, settings: settings) {
            case .withheld(let reason):
                return DeliveryResult(notification: notification, outcome: .withheld(reason))
            case .awaiting(let reason):
                return DeliveryResult(notification: notification, outcome: .awaiting(reason))
            case .ready(let addressed):
                message = addressed
                // What is left of the lease, less a tenth for recording the result.
                let margin = lease / 10
                var deadline: (@Sendable () -> ContinuousClock.Instant)?
                if let hold { deadline = { hold.expiresAt - margin } }
                try await channels.send(addressed, notificationID: notification.id, deadline: deadline)
                return DeliveryResult(notification: notification, outcome: .sent, message: message)
            }
        } catch let error as DeliveryError {
            return DeliveryResult(notification: notification, outcome: .failed(error), message: message)
        } catch {
            return DeliveryResult(notification: notification, outcome: .failed(DeliveryError(transient: true, "\(error)")), message: message)
        }
    }

    enum DeliveryOutcome: Sendable {
        case sent
        case withheld(String)
        case failed(DeliveryError)
        /// Not attempted: what it needs from another topic (the client's contact details) has
        /// not arrived yet.
        case awaiting(String)
    }

    /// How long a notification waits for the client's contact details (a consumer of the
    /// clients topic behind the others, a broker catching up) before it fails. Waiting is no
    /// delivery attempt: a lag longer than the attempts' backoff must not fail it for good.
    static let contactDetailsWait: TimeInterval = 24 * 3600

    /// What becomes of a notification after an attempt.
    private enum Disposition {
        case sent
        case withheld(String)
        case retry(DeliveryError, at: Date)
        case failed(DeliveryError)
        /// Again later, the claim's attempt given back.
        case wait(String, at: Date)
    }

    private func disposition(of result: DeliveryResult, now: Date) -> Disposition {
        switch result.outcome {
        case .sent: return .sent
        case .withheld(let reason): return .withheld(reason)
        case .failed(let error) where error.transient && result.notification.attempts < settings.retry.maxAttempts:
            // A gateway that answered 429/503 with Retry-After is not asked again sooner.
            var delay = settings.retry.delay(afterAttempt: result.notification.attempts)
            if let asked = error.retryAfter { delay = max(delay, asked.inSeconds) }
            return .retry(error, at: now.addingTimeInterval(delay))
        case .failed(let error): return .failed(error)
        case .awaiting(let reason):
            let waited = now.timeIntervalSince(result.notification.createdAt)
            guard waited < Self.contactDetailsWait else {
                return .failed(DeliveryError(transient: false, "\(reason) after \(Int(Self.contactDetailsWait / 3600)) hours"))
            }
            // Looked at again after a quarter of the time waited so far, within the retry bounds.
            let delay = min(settings.retry.maxDelay.inSeconds, max(settings.retry.baseDelay.inSeconds, waited / 4))
            return .wait(reason, at: now.addingTimeInterval(delay))
        }
    }

    /// One transaction (one commit) for a whole batch: each notification's new state and, for
    /// those sent or given up, its event through the outbox.
    private func record(_ results: [DeliveryResult]) async throws {
        let outbox = outbox
        let topics = topics
        let now = Date()
        let decided = results.map { ($0, disposition(of: $0, now: now)) }
        try await pool.sessionTransaction { session in
            for (result, disposition) in decided {
                let notification = result.notification
                let language = result.message?.language
                let channel = result.message?.channel.rawValue
                let address = result.message?.address
                switch disposition {
                case .sent:
                    // A client erased while the message was on its way: the erasure withheld the
                    // row and cleared its address; the message went, but the address is not
                    // written back (the row, re-read under its lock, says so).
                    try session.execute(
                        """
                        UPDATE notification SET status = 'sent', sent_at = \(now)::timestamptz, updated_at = now(), lease_until = NULL, last_error = NULL,
                            language = \(language), channel = \(channel), address = CASE WHEN status = 'withheld' THEN NULL ELSE \(address) END
                        WHERE id = \(notification.id)::uuid
                        """)
                    _ = try outbox.append(
                        NotificationSentV1(
                            notificationID: notification.id, referralID: notification.referralID, sourceEventID: notification.sourceEventID,
                            recipientKind: notification.recipientKind.rawValue, channel: channel ?? "", template: notification.template.rawValue,
                            language: language ?? "", attempts: notification.attempts, sentAt: now), on: session)
                case .withheld(let reason):
                    try session.execute(
                        """
                        UPDATE notification SET status = 'withheld', last_error = \(reason), lease_until = NULL, updated_at = now() WHERE id = \(notification.id)::uuid
                        """)
                case .wait(let reason, let next):
                    try session.execute(
                        """
                        UPDATE notification SET status = 'pending', not_before = \(next)::timestamptz, last_error = \(reason), lease_until = NULL,
                            updated_at = now(), attempts = greatest(attempts - 1, 0)
                        WHERE id = \(notification.id)::uuid
                        """)
                case .retry(let error, let next):
                    try session.execute(
                        """
                        UPDATE notification SET status = 'pending', not_before = \(next)::timestamptz, last_error = \(error.detail), lease_until = NULL,
                            updated_at = now(), language = \(language), channel = \(channel)
                        WHERE id = \(notification.id)::uuid
                        """)
                case .failed(let error):
                    try session.execute(
                        """
                        UPDATE notification SET status = 'failed', last_error = \(error.detail), lease_until = NULL, updated_at = now(),
                            language = \(language), channel = \(channel)
                        WHERE id = \(notification.id)::uuid
                        """)
                    let event = try outbox.append(
                        NotificationFailedV1(
                            notificationID: notification.id, referralID: notification.referralID, sourceEventID: notification.sourceEventID,
                            recipientKind: notification.recipientKind.rawValue, channel: channel ?? "unresolved", template: notification.template.rawValue,
                            attempts: notification.attempts, error: error.detail, permanent: !error.transient, failedAt: now), on: session)
                    // Operators inspect or replay undeliverable notifications from the dead-letter topic
                    // (a copy of the event under an id of its own; the payload names the notification).
                    var dead = event
                    dead.id = UUID.random()
                    try outbox.append(dead, topic: topics.deadLetter(.notifications), key: notification.referralID.uuidString.lowercased(), on: session)
                }
            }
        }
        for (result, disposition) in decided {
            let id = "\(result.notification.id)"
            let attempts = "\(result.notification.attempts)"
            switch disposition {
            case .sent: sent.increment()
            case .withheld, .wait: break
            case .retry(let error, _):
                retried.increment()
                logger.info("delivery failed; will retry", metadata: ["notification": "\(id)", "attempt": "\(attempts)", "error": "\(error)"])
            case .failed(let error):
                failed.increment()
                logger.warning("notification failed", metadata: ["notification": "\(id)", "attempts": "\(attempts)", "error": "\(error)"])
            }
        }
    }
}

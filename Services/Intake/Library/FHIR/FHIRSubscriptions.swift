import Domain
import Foundation
import Logging
import Messaging
import PostgresClient
import ServiceLifecycle
import ServiceRuntime
import Webhooks
import WireFormats

/// Topic-based subscriptions (FHIR R4 Subscriptions Backport IG) to the Gravity Task topic, for
/// EHRs that cannot poll: a rest-hook POSTs an `id-only` (or `empty`) notification Bundle each time
/// a Task they may read is created or changes. Notifications are written in the transaction of
/// the change (like the outbox), delivered in order per subscription, retried with backoff, and
/// signed the Standard Webhooks way, as notification's webhooks are (`Webhooks`).
enum FHIRSubscriptions {
    static let taskTopic = "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Task"
    static let serviceRequestTopic = "http://hl7.org/fhir/us/sdoh-clinicalcare/SubscriptionTopic/Servicerequest"
    static let backport = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
    static let filterCriteriaExtension = backport + "backport-filter-criteria"
    static let payloadContentExtension = backport + "backport-payload-content"
    static let statusProfile = backport + "backport-subscription-status-r4"
    /// Where the subscriber gives the secret its notifications are signed with (never echoed).
    static let secretExtension = "https://passerelle.example/fhir/StructureDefinition/webhook-secret"
    /// Search parameters of the Task topic a subscription may filter on (`canFilterBy`).
    static let filterParameters: Set<String> = ["owner", "requester", "status", "code", "focus"]

    /// Queues a notification of the referral's Task for every live subscription whose owner may
    /// read it and whose filters it meets, in the caller's transaction.
    static func enqueue(taskOf referral: UUID, on session: borrowing PostgresSession) throws {
        // Ordered by id, so concurrent changes lock subscriptions in one order. Most deployments
        // have few subscriptions or none: then nothing more is read.
        let subscriptions = try session.query(
            """
            SELECT id, owner_subject, owner_roles, owner_sites, filters::text AS filters FROM fhir_subscription
            WHERE status IN ('requested', 'active', 'error') AND topic = \(taskTopic) AND (end_at IS NULL OR end_at > now())
            ORDER BY id
            """)
        guard !subscriptions.isEmpty else { return }
        guard
            let task = try session.query(
                """
                SELECT t.status, t.requester->>'reference' AS requester, t.service_request_id, t.submitted_by, r.site, r.referrer_id
                FROM fhir_task t JOIN referral r ON r.id = t.referral_id WHERE t.referral_id = \(referral)::uuid
                """
            ).first
        else { return }
        let site: String = try task.decode("site")
        let values: [String: String] = [
            "owner": "Organization/\(site)", "requester": try task.decode("requester", as: String?.self) ?? "",
            "status": try task.decode("status"), "code": "fulfill", "focus": "ServiceRequest/\(try task.decode("service_request_id", as: String.self))",
        ]
        let audience = ReferralTasks.Audience(site: site, referrerID: try task.decode("referrer_id"), submittedBy: try task.decode("submitted_by"))
        for subscription in subscriptions {
            let owner = Identity(
                subject: try subscription.decode("owner_subject"),
                roles: Set(try subscription.decode("owner_roles", as: [String].self).compactMap(Role.init(rawValue:))),
                sites: Set(try subscription.decode("owner_sites", as: [String].self)))
            guard audience.includes(owner) else { continue }
            let filters = try JSONDecoder().decode([String: [String]].self, from: Data(try subscription.decode("filters", as: String.self).utf8))
            guard filters.allSatisfy({ name, accepted in values[name].map { accepted.contains($0) } ?? false }) else { continue }
            let id: UUID = try subscription.decode("id")
            let number = try session.query(
                """
                UPDATE fhir_subscription SET events_since_start = events_since_start + 1 WHERE id = \(id)::uuid RETURNING events_since_start
                """
            ).first!.decode("events_since_start", as: Int.self)
            try session.execute(
                """
                INSERT INTO fhir_subscription_notification (id, subscription_id, kind, event_number, focus)
                VALUES (\(UUID.random())::uuid, \(id)::uuid, 'event-notification', \(number), \("Task/\(referral.uuidString.lowercased())"))
                """)
            // Once committed, the delivery loop takes it at once rather than at its next poll.
            session.notifyAfterCommit(SubscriptionDelivery.wakeUpChannel(schema: session.schema ?? "intake"))
        }
    }

    /// `Task?owner=Organization/x&status=completed,failed` → `["owner": [...], "status": [...]]`.
    static func parseFilter(_ criteria: String) -> Result<[String: [String]], FilterProblem> {
        guard criteria.hasPrefix("Task?") else { return .failure(.init(detail: "must be a Task search, e.g. Task?owner=Organization/ottawa-west-chc")) }
        var filters: [String: [String]] = [:]
        for pair in criteria.dropFirst(5).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            guard parts.count == 2, !parts[1].isEmpty else { return .failure(.init(detail: "\"\(pair)\" is not name=value")) }
            guard filterParameters.contains(parts[0]) else {
                return .failure(.init(detail: "\(parts[0]) is not a filter of the Task topic (use \(filterParameters.sorted().joined(separator: ", ")))"))
            }
            filters[parts[0], default: []] += parts[1].split(separator: ",").map(String.init)
        }
        return .success(filters)
    }

    struct FilterProblem: Error {
        var detail: String
    }
}

/// Sends due subscription notifications: each round claims the oldest pending notification of
/// each subscription (so one subscription's events arrive in order) with a lease, POSTs them
/// in parallel, and records each result. A crash between the POST and its record sends it again
/// after the lease, under the same `webhook-id`, so the receiver can drop the repeat.
struct SubscriptionDelivery: Service {
    let pool: PostgresConnectionPool
    let gate: ReadinessGate
    let settings: FHIRSettings
    let logger: Logger
    var http = HTTPDelivery(userAgent: "passerelle-intake")
    var lease: Duration = .seconds(60)
    var pollInterval: Duration = .milliseconds(500)
    var batch = 16

    /// Notified after a commit that queued notifications.
    static func wakeUpChannel(schema: String) -> String { schema + "_fhir_delivery" }

    func run() async throws {
        guard await gate.wait() else { return }
        let channel = Self.wakeUpChannel(schema: pool.configuration.schema ?? "intake")
        // A round handles its own failures (it logs, pauses and claims nothing): it never throws.
        await WakeUpLoop(pool: pool, channel: channel, pollInterval: pollInterval, logger: logger).run {
            await round() == batch ? .now : .afterWakeUp
        }
    }

    struct Claimed: Sendable {
        var id: UUID
        var subscription: UUID
        var kind: String
        var eventNumber: Int?
        var focus: String?
        var attempts: Int
        var endpoint: String
        var secret: String
        var headers: [String]
        var content: String
        var status: String
        var eventsSinceStart: Int
    }

    /// Claims, delivers and records one batch; returns how many were claimed.
    @discardableResult
    func round() async -> Int {
        let claimed: [Claimed]
        do {
            claimed = try await claim()
        } catch {
            logger.warning("could not claim subscription notifications; retrying", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return 0
        }
        guard !claimed.isEmpty else { return 0 }
        let results = await withTaskGroup(of: (Claimed, DeliveryError?).self) { group in
            for notification in claimed {
                group.addTask { (notification, await self.deliver(notification)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        for (notification, failure) in results {
            do {
                try await record(notification, failure: failure)
            } catch {
                // The lease expires and a later round sends it again, under the same id.
                logger.error("could not record a subscription notification", metadata: ["notification": "\(notification.id)", "error": "\(error)"])
            }
        }
        return claimed.count
    }

    func claim() async throws -> [Claimed] {
        let leaseSeconds = Int(lease.components.seconds)
        return try await pool.withConnection { connection in
            try await connection.query(
                """
                WITH heads AS (
                    SELECT DISTINCT ON (subscription_id) id, next_attempt_at, lease_until FROM fhir_subscription_notification
                    WHERE sent_at IS NULL AND given_up_at IS NULL
                    ORDER BY subscription_id, coalesce(event_number, 0), created_at
                ), due AS (
                    SELECT id FROM heads WHERE next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now()) LIMIT \(batch)
                )
                UPDATE fhir_subscription_notification n SET lease_until = now() + make_interval(secs => \(leaseSeconds)), attempts = n.attempts + 1
                FROM fhir_subscription s, due
                WHERE n.id = due.id AND s.id = n.subscription_id AND (n.lease_until IS NULL OR n.lease_until < now())
                RETURNING n.id, n.subscription_id, n.kind, n.event_number, n.focus, n.attempts, s.endpoint, s.secret, s.headers, s.content,
                          s.status, s.events_since_start
                """
            ).map { row in
                Claimed(
                    id: try row.decode("id"), subscription: try row.decode("subscription_id"), kind: try row.decode("kind"),
                    eventNumber: try row.decode("event_number", as: Int?.self), focus: try row.decode("focus", as: String?.self),
                    attempts: try row.decode("attempts"), endpoint: try row.decode("endpoint"), secret: try row.decode("secret"),
                    headers: try row.decode("headers"), content: try row.decode("content"), status: try row.decode("status"),
                    eventsSinceStart: try row.decode("events_since_start"))
            }
        }
    }

    func deliver(_ notification: Claimed) async -> DeliveryError? {
        if notification.status == "off" { return DeliveryError(transient: false, "the subscription is off") }
        // Looked up once: the POST goes to the address that was checked (no second lookup to rebind).
        let target: CheckedTarget
        do {
            target = try await settings.endpoints.target(notification.endpoint)
        } catch {
            return DeliveryError(transient: false, "endpoint refused: \(error)")
        }
        let body: Data
        do {
            body = try NotificationBundle.encode(notification, baseURL: settings.baseURL)
        } catch {
            return DeliveryError(transient: false, "could not encode the notification: \(error)")
        }
        var headers = WebhookSignature(secret: notification.secret).headers(id: notification.id.uuidString.lowercased(), body: body)
        for header in notification.headers {
            let parts = header.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers.append((String(parts[0]).trimmingWhitespace(), String(parts[1]).trimmingWhitespace())) }
        }
        do {
            try await http.post(to: target, body: body, contentType: "application/fhir+json", headers: headers)
            return nil
        } catch {
            return error
        }
    }

    func record(_ notification: Claimed, failure: DeliveryError?) async throws {
        let settings = settings
        try await pool.sessionTransaction { session in
            guard let failure else {
                try session.execute(
                    """
                    UPDATE fhir_subscription_notification SET sent_at = now(), lease_until = NULL, last_error = NULL WHERE id = \(notification.id)::uuid
                    """)
                // A delivered handshake (or any delivery after errors) makes the subscription active.
                try session.execute(
                    """
                    UPDATE fhir_subscription SET status = 'active', error = NULL, updated_at = now()
                    WHERE id = \(notification.subscription)::uuid AND status IN ('requested', 'error')
                    """)
                return
            }
            if failure.transient && notification.attempts < settings.maxDeliveryAttempts {
                let next = Date().addingTimeInterval(settings.delay(afterAttempt: notification.attempts))
                try session.execute(
                    """
                    UPDATE fhir_subscription_notification SET next_attempt_at = \(next)::timestamptz, lease_until = NULL, last_error = \(failure.detail)
                    WHERE id = \(notification.id)::uuid
                    """)
            } else {
                try session.execute(
                    """
                    UPDATE fhir_subscription_notification SET given_up_at = now(), lease_until = NULL, last_error = \(failure.detail)
                    WHERE id = \(notification.id)::uuid
                    """)
                try session.execute(
                    """
                    UPDATE fhir_subscription SET status = 'error', error = \(failure.detail), updated_at = now()
                    WHERE id = \(notification.subscription)::uuid AND status <> 'off'
                    """)
            }
        }
        if let failure {
            logger.warning("subscription notification not delivered", metadata: ["notification": "\(notification.id)", "error": "\(failure.detail)"])
        }
    }
}

/// The R4 backport notification: a `history` Bundle whose first entry is the
/// SubscriptionStatus (a Parameters resource) and, for `id-only`, one entry per focus with its
/// URL and no resource.
enum NotificationBundle {
    static func encode(_ notification: SubscriptionDelivery.Claimed, baseURL: String) throws -> Data {
        let subscriptionURL = "\(baseURL)/Subscription/\(notification.subscription.uuidString.lowercased())"
        let now = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        var parameters: [AnyJSON] = [
            .object(["name": .string("subscription"), "valueReference": .object(["reference": .string(subscriptionURL)])]),
            .object(["name": .string("topic"), "valueCanonical": .string(FHIRSubscriptions.taskTopic)]),
            .object(["name": .string("status"), "valueCode": .string(notification.status == "requested" ? "requested" : "active")]),
            .object(["name": .string("type"), "valueCode": .string(notification.kind)]),
            .object(["name": .string("events-since-subscription-start"), "valueString": .string(String(notification.eventNumber ?? 0))]),
        ]
        var entries: [AnyJSON] = []
        if let number = notification.eventNumber, notification.kind == "event-notification" {
            var parts: [AnyJSON] = [
                .object(["name": .string("event-number"), "valueString": .string(String(number))]),
                .object(["name": .string("timestamp"), "valueInstant": .string(now)]),
            ]
            if notification.content == "id-only", let focus = notification.focus {
                parts.append(.object(["name": .string("focus"), "valueReference": .object(["reference": .string("\(baseURL)/\(focus)")])]))
                entries.append(
                    .object([
                        "fullUrl": .string("\(baseURL)/\(focus)"),
                        "request": .object(["method": .string("PUT"), "url": .string(focus)]),
                        "response": .object(["status": .string("200")]),
                    ]))
            }
            parameters.append(.object(["name": .string("notification-event"), "part": .array(parts)]))
        }
        let status: AnyJSON = .object([
            "resourceType": .string("Parameters"),
            "id": .string(notification.id.uuidString.lowercased()),
            "meta": .object(["profile": .array([.string(FHIRSubscriptions.statusProfile)])]),
            "parameter": .array(parameters),
        ])
        let bundle: AnyJSON = .object([
            "resourceType": .string("Bundle"),
            "id": .string(UUID.random().uuidString.lowercased()),
            "type": .string("history"),
            "timestamp": .string(now),
            "entry": .array(
                [
                    .object([
                        "fullUrl": .string("urn:uuid:\(notification.id.uuidString.lowercased())"),
                        "resource": status,
                        "request": .object(["method": .string("GET"), "url": .string("\(subscriptionURL)/$status")]),
                        "response": .object(["status": .string("200")]),
                    ])
                ] + entries),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(bundle)
    }
}

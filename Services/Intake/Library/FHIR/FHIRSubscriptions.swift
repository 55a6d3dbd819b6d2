import AsyncHTTPClient
import Crypto
import Domain
import Foundation
import Logging
import Messaging
import NIOCore
import NIOHTTP1
import NIOPosix
import PostgresClient
import ServiceLifecycle
import ServiceRuntime
import WireFormats

/// Topic-based subscriptions (FHIR R4 Subscriptions Backport IG) to the Gravity Task topic, for
/// EHRs that cannot poll: a rest-hook POSTs an `id-only` (or `empty`) notification Bundle each time
/// a Task they may read is created or changes. Notifications are written in the transaction of
/// the change (like the outbox), delivered in order per subscription, retried with backoff, and
/// signed the Standard Webhooks way, as notification's webhooks are.
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
        let subscriptions = try session.query("""
            SELECT id, owner_subject, owner_roles, owner_site, filters::text AS filters FROM fhir_subscription
            WHERE status IN ('requested', 'active', 'error') AND topic = \(taskTopic) AND (end_at IS NULL OR end_at > now())
            ORDER BY id
            """)
        guard !subscriptions.isEmpty else { return }
        guard let task = try session.query("""
            SELECT t.status, t.requester->>'reference' AS requester, t.service_request_id, t.submitted_by, r.site, r.referrer_id
            FROM fhir_task t JOIN referral r ON r.id = t.referral_id WHERE t.referral_id = \(referral)::uuid
            """).first else { return }
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
                site: try subscription.decode("owner_site", as: String?.self))
            guard audience.includes(owner) else { continue }
            let filters = try JSONDecoder().decode([String: [String]].self, from: Data(try subscription.decode("filters", as: String.self).utf8))
            guard filters.allSatisfy({ name, accepted in values[name].map { accepted.contains($0) } ?? false }) else { continue }
            let id: UUID = try subscription.decode("id")
            let number = try session.query("""
                UPDATE fhir_subscription SET events_since_start = events_since_start + 1 WHERE id = \(id)::uuid RETURNING events_since_start
                """).first!.decode("events_since_start", as: Int.self)
            try session.execute("""
                INSERT INTO fhir_subscription_notification (id, subscription_id, kind, event_number, focus)
                VALUES (\(UUID.random())::uuid, \(id)::uuid, 'event-notification', \(number), \("Task/\(referral.uuidString.lowercased())"))
                """)
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

/// Signs a notification the Standard Webhooks way, as notification's webhooks are:
/// `webhook-signature` is `v1,` + base64(HMAC-SHA256(secret, "<webhook-id>.<webhook-timestamp>.<body>")),
/// and a secret written `whsec_<base64>` is the decoded bytes.
struct NotificationSignature: Sendable {
    let key: SymmetricKey

    init(secret: String) {
        if secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))) {
            key = SymmetricKey(data: bytes)
        } else {
            key = SymmetricKey(data: Data(secret.utf8))
        }
    }

    func sign(id: String, timestamp: Int, body: Data) -> String {
        var signed = Data("\(id).\(timestamp).".utf8)
        signed.append(body)
        return "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
    }

    /// At least 24 characters, or `whsec_` and base64 of at least 24 bytes.
    static func isAcceptable(_ secret: String) -> Bool {
        if secret.hasPrefix("whsec_") { return (Data(base64Encoded: String(secret.dropFirst(6)))?.count ?? 0) >= 24 }
        return secret.count >= 24
    }
}

/// Where notifications may go. EHRs name their endpoints, so an endpoint must not reach the
/// machine's neighbourhood: unless the deployment allows it, it must be https and resolve to
/// public addresses only (no loopback, private, shared, link-local or metadata address) —
/// checked when the subscription is made and again before each delivery.
struct EndpointPolicy: Sendable {
    var allowPrivate: Bool

    /// nil when acceptable, otherwise why not.
    func problem(with urlText: String) async -> String? {
        guard let url = URL(string: urlText), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = url.host, !host.isEmpty,
            !urlText.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f })
        else { return "must be an absolute http or https URL" }
        if allowPrivate { return nil }
        if scheme != "https" { return "must be https" }
        // getaddrinfo blocks (it may wait on a DNS server): run it on NIO's blocking-work pool.
        let addresses = (try? await NIOThreadPool.singleton.runIfActive { Self.resolve(host) }) ?? []
        if addresses.isEmpty { return "host \(host) does not resolve" }
        for address in addresses where Self.isForbidden(address) {
            return "host \(host) resolves to \(address), a loopback, private, link-local or metadata address"
        }
        return nil
    }

    static func isForbidden(_ address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let bytes = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            return isForbiddenIPv4(bytes)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return true }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff { return isForbiddenIPv4(Array(bytes[12..<16])) }  // ::ffff:a.b.c.d
        if bytes[0..<15].allSatisfy({ $0 == 0 }) { return true }  // :: and ::1
        if bytes[0] & 0xfe == 0xfc { return true }  // fc00::/7 unique local
        if bytes[0] == 0xfe && bytes[1] & 0xc0 == 0x80 { return true }  // fe80::/10 link-local
        if bytes[0] == 0xfd && bytes[1] == 0x00 && bytes[2] == 0x0e && bytes[3] == 0xc2 { return true }  // AWS IPv6 metadata
        return false
    }

    private static func isForbiddenIPv4(_ b: [UInt8]) -> Bool {
        switch (b[0], b[1]) {
        case (0, _), (10, _), (127, _): return true  // this network, private, loopback
        case (169, 254): return true  // link-local and cloud metadata
        case (172, 16...31), (192, 168): return true  // private
        case (100, 64...127): return true  // shared (carrier-grade NAT), includes Alibaba's metadata address
        case (224...255, _): return true  // multicast, reserved, broadcast
        default: return false
        }
    }

    static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
            cursor = info.pointee.ai_next
        }
        return addresses
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
    var client: HTTPClient = .shared
    var lease: Duration = .seconds(60)
    var pollInterval: Duration = .milliseconds(500)
    var batch = 16

    func run() async throws {
        guard await gate.wait() else { return }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if await round() == batch { continue }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
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
        let results = await withTaskGroup(of: (Claimed, SubscriptionDeliveryError?).self) { group in
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
            try await connection.query("""
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
                """).map { row in
                Claimed(
                    id: try row.decode("id"), subscription: try row.decode("subscription_id"), kind: try row.decode("kind"),
                    eventNumber: try row.decode("event_number", as: Int?.self), focus: try row.decode("focus", as: String?.self),
                    attempts: try row.decode("attempts"), endpoint: try row.decode("endpoint"), secret: try row.decode("secret"),
                    headers: try row.decode("headers"), content: try row.decode("content"), status: try row.decode("status"),
                    eventsSinceStart: try row.decode("events_since_start"))
            }
        }
    }

    func deliver(_ notification: Claimed) async -> SubscriptionDeliveryError? {
        if notification.status == "off" { return SubscriptionDeliveryError(transient: false, "the subscription is off") }
        if let problem = await EndpointPolicy(allowPrivate: settings.allowPrivateEndpoints).problem(with: notification.endpoint) {
            return SubscriptionDeliveryError(transient: false, "endpoint refused: \(problem)")
        }
        let body: Data
        do {
            body = try NotificationBundle.encode(notification, baseURL: settings.baseURL)
        } catch {
            return SubscriptionDeliveryError(transient: false, "could not encode the notification: \(error)")
        }
        let id = notification.id.uuidString.lowercased()
        let timestamp = Int(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: notification.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/fhir+json")
        request.headers.add(name: "User-Agent", value: "passerelle-intake")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: NotificationSignature(secret: notification.secret).sign(id: id, timestamp: timestamp, body: body))
        for header in notification.headers {
            let parts = header.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { request.headers.add(name: String(parts[0]).trimmingWhitespace(), value: String(parts[1]).trimmingWhitespace()) }
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(15))
        } catch {
            return SubscriptionDeliveryError(transient: true, "POST \(Self.redacted(notification.endpoint)): \(error)")
        }
        let code = Int(response.status.code)
        // Read (a bounded part of) the answer so the connection can be reused.
        let answer = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
        guard (200..<300).contains(code) else {
            return SubscriptionDeliveryError(transient: code >= 500 || code == 408 || code == 429, "POST \(Self.redacted(notification.endpoint)): HTTP \(code) \(answer.prefix(200))")
        }
        return nil
    }

    func record(_ notification: Claimed, failure: SubscriptionDeliveryError?) async throws {
        let settings = settings
        try await pool.sessionTransaction { session in
            guard let failure else {
                try session.execute("""
                    UPDATE fhir_subscription_notification SET sent_at = now(), lease_until = NULL, last_error = NULL WHERE id = \(notification.id)::uuid
                    """)
                // A delivered handshake (or any delivery after errors) makes the subscription active.
                try session.execute("""
                    UPDATE fhir_subscription SET status = 'active', error = NULL, updated_at = now()
                    WHERE id = \(notification.subscription)::uuid AND status IN ('requested', 'error')
                    """)
                return
            }
            if failure.transient && notification.attempts < settings.maxDeliveryAttempts {
                let next = Date().addingTimeInterval(settings.delay(afterAttempt: notification.attempts))
                try session.execute("""
                    UPDATE fhir_subscription_notification SET next_attempt_at = \(next)::timestamptz, lease_until = NULL, last_error = \(failure.detail)
                    WHERE id = \(notification.id)::uuid
                    """)
            } else {
                try session.execute("""
                    UPDATE fhir_subscription_notification SET given_up_at = now(), lease_until = NULL, last_error = \(failure.detail)
                    WHERE id = \(notification.id)::uuid
                    """)
                try session.execute("""
                    UPDATE fhir_subscription SET status = 'error', error = \(failure.detail), updated_at = now()
                    WHERE id = \(notification.subscription)::uuid AND status <> 'off'
                    """)
            }
        }
        if let failure { logger.warning("subscription notification not delivered", metadata: ["notification": "\(notification.id)", "error": "\(failure.detail)"]) }
    }

    /// The URL without its query (tokens sometimes live there).
    static func redacted(_ url: String) -> String {
        String(url.prefix { $0 != "?" })
    }
}

struct SubscriptionDeliveryError: Error, Sendable, CustomStringConvertible {
    var transient: Bool
    var detail: String

    init(transient: Bool, _ detail: String) {
        self.transient = transient
        self.detail = detail
    }

    var description: String { detail }
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
                entries.append(.object([
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
            "entry": .array([
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

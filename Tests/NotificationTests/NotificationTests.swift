import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Messaging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import NotificationService

/// One notification service on its own schema, a real SMTP server with STARTTLS and AUTH, and
/// an HTTP receiver for webhooks and SMS; events go through the service's own handlers.
struct Harness {
    let test: ServiceTestHost
    let smtp: SMTPSink
    let receiver: WebhookReceiver
    let settings: NotificationSettings
    let loop: DeliveryLoop
    let route: IdempotentConsumer.Handler
    var pool: PostgresConnectionPool { test.pool }

    static let site = "ottawa-west-chc"

    /// `lease`: long enough by default for an SMTP exchange on a busy machine (a delivery gives up
    /// before its lease ends); short where a test waits for a lease to run out.
    static func make(quietHours: String = "none", maxAttempts: Int = 3, lease: Duration = .seconds(15)) async throws -> Harness {
        let smtp = try await SMTPSink(user: "relay", password: "relay-password")
        let receiver = try await WebhookReceiver(unsigned: ["/sms"])
        let environment = Self.environment(smtp: smtp, receiver: receiver, quietHours: quietHours, maxAttempts: maxAttempts)
        let test = try await ServiceTestHost.make(NotificationService.self, environment: environment)
        let settings = try NotificationSettings.fromEnvironment(Environment(environment))
        let loop = DeliveryLoop(
            pool: test.pool, outbox: test.host.components.outbox, topics: test.host.components.settings.topics, gate: test.host.components.gate,
            settings: settings, channels: try DeliveryChannels(settings: settings), schema: test.schema, logger: TestEnvironment.logger, lease: lease)
        await loop.seedTemplates()
        let harness = Harness(
            test: test, smtp: smtp, receiver: receiver, settings: settings, loop: loop,
            route: NotificationService.eventHandlers(
                planner: NotificationPlanner(settings: settings, deliveryWakeUp: DeliveryLoop.wakeUpChannel(schema: test.schema))
            ).handler)
        try await harness.directory()
        return harness
    }

    /// The service's settings for the SMTP sink and the receiver (webhooks and the SMS gateway).
    static func environment(smtp: SMTPSink, receiver: WebhookReceiver, quietHours: String = "none", maxAttempts: Int = 3) -> [String: String] {
        [
            "PASSERELLE_SMTP_HOST": "127.0.0.1", "PASSERELLE_SMTP_PORT": String(smtp.peer.port), "PASSERELLE_SMTP_SECURITY": "required",
            "PASSERELLE_SMTP_TRUST_ROOTS": smtp.certificate, "PASSERELLE_SMTP_USERNAME": "relay", "PASSERELLE_SMTP_PASSWORD": "relay-password",
            "PASSERELLE_SMTP_FROM": "passerelle@example.org", "PASSERELLE_SMS_GATEWAY_URL": receiver.url("/sms"),
            "PASSERELLE_SMS_GATEWAY_TOKEN": "sms-token", "PASSERELLE_NOTIFICATION_QUIET_HOURS": quietHours,
            "PASSERELLE_NOTIFICATION_MAX_ATTEMPTS": String(maxAttempts), "PASSERELLE_NOTIFICATION_RETRY_BASE_MS": "20",
            "PASSERELLE_NOTIFICATION_RETRY_MAX_MS": "50",
            // The receiver and the SMS gateway stand-in listen on 127.0.0.1.
            "PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS": "true",
        ]
    }

    /// A link worker by e-mail (English), a referrer and a partner by webhook.
    func directory() async throws {
        try await pool.withConnection { connection in
            try await connection.query("INSERT INTO webhook_target (id, url, secret) VALUES ('clinic', \(receiver.url("/webhook/clinic")), \(receiver.secret))")
            try await connection.query(
                "INSERT INTO webhook_target (id, url, secret) VALUES ('partner', \(receiver.url("/webhook/partner")), \(receiver.secret))")
            try await connection.query(
                """
                INSERT INTO recipient (kind, id, display_name, email, webhook_target, language, channel) VALUES
                ('link-worker', \(Self.linkWorker.uuidString.lowercased()), 'Sam Lee', 'sam@example.org', NULL, 'en', 'email'),
                ('referrer', 'dr-tremblay', 'Dre Tremblay', NULL, 'clinic', 'fr', 'webhook'),
                ('partner', \(Self.resource.uuidString.lowercased()), 'Club de marche', NULL, 'partner', 'fr', 'webhook')
                """)
        }
    }

    static let linkWorker = UUID()
    static let resource = UUID()

    func tearDown() async {
        smtp.peer.stop()
        receiver.stop()
        await test.tearDown()
    }

    /// Runs events through the consumer's handler, each in its own transaction.
    func deliver(_ events: [CloudEvent]) async throws {
        for (offset, event) in events.enumerated() {
            let consumed = ConsumedEvent(event: event, topic: "t", partition: 0, offset: Int64(offset), key: event.subject)
            try await pool.transaction { connection in try await route(consumed, connection) }
        }
    }

    func deliver(_ payloads: [any EventPayload]) async throws {
        try await deliver(payloads.map { try CloudEvent($0, source: "/test", time: Date()) })
    }

    /// Delivery rounds until nothing is due (or a few seconds pass).
    func drain() async throws {
        for _ in 0..<200 {
            await loop.round()
            let due = try await pool.withConnection {
                try await $0.query(
                    "SELECT count(*)::int AS n FROM notification WHERE status IN ('pending', 'sending') OR (status = 'deferred' AND not_before <= now())"
                ).first?.decode("n", as: Int.self)
            }
            if due == 0 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func notifications(_ referral: UUID) async throws -> [(
        template: String, kind: String, status: String, attempts: Int, language: String?, channel: String?, error: String?
    )] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT * FROM notification WHERE referral_id = \(referral)::uuid ORDER BY template, recipient_kind").map { row in
                (
                    try row.decode("template"), try row.decode("recipient_kind"), try row.decode("status"), try row.decode("attempts"),
                    try row.decode("language", as: String?.self), try row.decode("channel", as: String?.self), try row.decode("last_error", as: String?.self)
                )
            }
        }
    }

    func outboxTypes(topicSuffix: String = "notifications.v1") async throws -> [String] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT event_type FROM outbox WHERE topic LIKE \("%" + topicSuffix) ORDER BY id").map {
                try $0.decode("event_type", as: String.self)
            }
        }
    }

    // MARK: events

    struct Client {
        var referral = UUID()
        var client = UUID()
        var language = "fr"
        var channel = "email"
        var consent = Consent(contact: true, shareWithPartners: false, evaluationUse: true)
        var email: String? = "elodie@example.org"
        var phone: String? = "+16135550100"
        var priority = "urgent"
    }

    func received(_ c: Client) -> [any EventPayload] {
        [
            ReferralReceivedV1(
                referralID: c.referral, referralVersion: 1, clientID: c.client, site: Self.site, referrerID: "dr-tremblay", referrerRole: "physician",
                needs: ["loneliness"], interests: ["walking"], supportLevel: "medium", priority: c.priority, preferredLanguage: c.language, postalArea: "K1Y",
                coordinates: nil, ageBand: "65-74", accessibilityNeeds: [], preferredChannel: c.channel, consent: c.consent, receivedAt: Date()),
            ClientProfileV1(
                clientID: c.client, clientVersion: 1, givenName: "Élodie", familyName: "Gagnon", phone: c.phone, email: c.email, preferredLanguage: c.language,
                preferredChannel: c.channel, consent: c.consent, updatedAt: Date()),
        ]
    }

    func assigned(_ c: Client) -> ReferralAssignedV1 {
        ReferralAssignedV1(referralID: c.referral, referralVersion: 1, linkWorkerID: Self.linkWorker, site: Self.site, priority: c.priority, assignedAt: Date())
    }

    func status(_ c: Client, _ from: String, _ to: String, reason: String? = nil, outcome: String? = nil) -> ReferralStatusChangedV1 {
        ReferralStatusChangedV1(
            referralID: c.referral, referralVersion: 2, site: Self.site, from: from, to: to, action: "x", actorRole: "link-worker", actorID: "sam",
            reason: reason, outcome: outcome, changedAt: Date())
    }

    func enrolled(_ c: Client) -> ConnectionChangedV1 {
        ConnectionChangedV1(
            connectionID: UUID(), referralID: c.referral, referralVersion: 3, resourceID: Self.resource, from: "accepted", to: "enrolled", reason: nil,
            resourceName: "Club de marche du parc", resourceKind: "health-champion-group", categories: ["loneliness"], changedAt: Date())
    }
}

@Suite(
    "Notification: rules, templates and delivery over real SMTP and HTTP", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(3)),
    .serialized)
struct NotificationTests {
    @Test("the closed loop tells each party the right thing, in their language, over their channel")
    func closedLoop() async throws {
        let h = try await Harness.make()
        let c = Harness.Client()
        try await h.deliver(h.received(c) + [h.assigned(c), h.status(c, "received", "accepted")])
        try await h.deliver([
            ConnectionProposedV1(
                connectionID: UUID(), referralID: c.referral, referralVersion: 2, resourceID: Harness.resource, resourceKind: "health-champion-group",
                categories: ["loneliness"], resourceName: "Club de marche du parc", address: "100 rue Bank", schedule: "mardi 10 h", proposedAt: Date()),
            h.enrolled(c), h.status(c, "in-progress", "completed", outcome: "connected"),
        ])
        try await h.drain()

        let all = try await h.notifications(c.referral)
        let byTemplate = Dictionary(all.map { ("\($0.template)/\($0.kind)", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byTemplate["referral-assigned/link-worker"]?.status == "sent")
        #expect(byTemplate["referral-assigned/link-worker"]?.language == "en")
        #expect(byTemplate["client-referral-accepted/client"]?.status == "sent")
        #expect(byTemplate["client-referral-accepted/client"]?.language == "fr")
        #expect(byTemplate["client-connection-proposed/client"]?.status == "sent")
        #expect(byTemplate["client-enrolled/client"]?.status == "sent")
        #expect(byTemplate["referrer-referral-accepted/referrer"]?.status == "sent")
        #expect(byTemplate["referrer-connected/referrer"]?.status == "sent")
        #expect(byTemplate["referrer-referral-closed/referrer"]?.status == "sent")
        // No consent to share with partners: the partner is not told.
        #expect(byTemplate["partner-participant-enrolled/partner"]?.status == "withheld")
        #expect(all.count == 8)

        let mail = try h.smtp.messages()
        let worker = try #require(mail.first { $0.to == ["sam@example.org"] })
        #expect(worker.subject == "URGENT – New referral \(c.referral.uuidString.prefix(8))")
        #expect(worker.tls && worker.authenticated)
        let clientMail = mail.filter { $0.to == ["elodie@example.org"] }
        #expect(clientMail.count == 3)
        #expect(clientMail.contains { $0.subject == "Une activité pour vous : Club de marche du parc" && ($0.text ?? "").contains("100 rue Bank") })
        #expect(clientMail.contains { ($0.text ?? "").contains("Sam Lee, agent·e de liaison, vous appellera d'ici 2 jours ouvrables") })
        // The Message-ID is the notification id, so a relay or reader can drop a repeat.
        let ids = try await h.pool.withConnection {
            try await $0.query("SELECT id FROM notification WHERE status = 'sent'").map { try $0.decode("id", as: UUID.self) }
        }
        for message in mail { #expect(ids.contains { message.messageID == "<\($0.uuidString.lowercased())@passerelle.local>" }) }

        let hooks = try await h.receiver.records().filter { $0.path == "/webhook/clinic" }
        #expect(hooks.count == 3)  // accepted, connected, closed: the loop back to the referrer
        #expect(hooks.allSatisfy { ($0.body["language"] ?? nil) == "fr" })
        // No more client detail than the referrer has: never the client's contact.
        #expect(hooks.allSatisfy { !(($0.body["text"] ?? nil) ?? "").contains("elodie@example.org") })
        // The referrer learns what kind of resource the client joined (from the enrolment's event).
        #expect(hooks.contains { (($0.body["text"] ?? nil) ?? "").hasSuffix("personne reliée à une ressource (health-champion-group).") })
        let sent = try await h.outboxTypes().filter { $0 == NotificationSentV1.eventType }
        #expect(sent.count == 7)
        await h.tearDown()
    }

    @Test("consent, do-not-contact, partner sharing and a consent change before sending")
    func consentRules() async throws {
        let h = try await Harness.make()
        var noContact = Harness.Client()
        noContact.consent = Consent(contact: false, shareWithPartners: true, evaluationUse: false)
        var doNotContact = Harness.Client()
        doNotContact.channel = "none"
        var sharing = Harness.Client()
        sharing.consent = Consent(contact: true, shareWithPartners: true, evaluationUse: false)
        var withdrawn = Harness.Client()
        withdrawn.consent = Consent(contact: true, shareWithPartners: true, evaluationUse: false)
        for c in [noContact, doNotContact, sharing, withdrawn] {
            try await h.deliver(h.received(c) + [h.assigned(c), h.status(c, "received", "accepted"), h.enrolled(c)])
        }
        // Withdrawn after the messages were planned, before they were sent.
        try await h.deliver([
            ClientConsentChangedV1(
                referralID: withdrawn.referral, clientID: withdrawn.client, clientVersion: 2,
                consent: Consent(contact: false, shareWithPartners: false, evaluationUse: false), changedAt: Date())
        ])
        try await h.drain()

        func status(_ c: Harness.Client, _ template: String) async throws -> String? {
            try await h.notifications(c.referral).first { $0.template == template }?.status
        }
        #expect(try await status(noContact, "client-referral-accepted") == "withheld")
        #expect(try await status(noContact, "referral-assigned") == "sent")  // staff are still told
        #expect(try await status(doNotContact, "client-referral-accepted") == "withheld")
        #expect(try await status(doNotContact, "client-enrolled") == "withheld")
        #expect(try await status(sharing, "partner-participant-enrolled") == "sent")
        #expect(try await status(sharing, "client-enrolled") == "sent")
        #expect(try await status(withdrawn, "client-referral-accepted") == "withheld")
        #expect(try await status(withdrawn, "partner-participant-enrolled") == "withheld")

        // The partner hears first name and contact only.
        // Partners are told about the two who consented to sharing (one of them declined contact
        // by Passerelle, which does not stop the partner welcoming them).
        let partner = try await h.receiver.records().filter { $0.path == "/webhook/partner" }
        #expect(partner.count == 2)
        let text = (partner.first?.body["text"] ?? nil) ?? ""
        #expect(text.contains("Élodie") && text.contains("elodie@example.org") && !text.contains("Gagnon"))
        let clientMail = try h.smtp.messages().filter { $0.to == ["elodie@example.org"] }
        #expect(clientMail.count == 2)  // sharing's accepted + enrolled; nobody else's
        await h.tearDown()
    }

    @Test("language falls back to the site's default; SMS goes to the gateway with an idempotency key")
    func languageAndSMS() async throws {
        let h = try await Harness.make()
        try await h.pool.withConnection { connection in
            try await connection.query("INSERT INTO site_policy (site, default_language, time_zone) VALUES (\(Harness.site), 'en', 'America/Toronto')")
        }
        var c = Harness.Client()
        c.language = "es"
        c.channel = "sms"
        try await h.deliver(h.received(c) + [h.status(c, "received", "accepted")])
        try await h.drain()
        let notification = try #require(try await h.notifications(c.referral).first { $0.kind == "client" })
        #expect(notification.status == "sent" && notification.language == "en" && notification.channel == "sms")
        let sms = try #require(try await h.receiver.records().first { $0.path == "/sms" })
        #expect((sms.body["to"] ?? nil) == "+16135550100")
        #expect(((sms.body["body"] ?? nil) ?? "").hasPrefix("Hello Élodie"))
        #expect(sms.authorization == "Bearer sms-token")
        await h.tearDown()
    }

    @Test("quiet hours defer a client's message to the end of the window, never drop it")
    func quietHours() async throws {
        // A window that covers now, whatever the time of the run.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "America/Toronto")!
        let now = calendar.dateComponents([.hour, .minute], from: Date())
        let start = String(format: "%02d:%02d", ((now.hour ?? 0) + 23) % 24, now.minute ?? 0)
        let end = String(format: "%02d:%02d", ((now.hour ?? 0) + 2) % 24, now.minute ?? 0)
        let h = try await Harness.make(quietHours: "\(start)-\(end)")
        let c = Harness.Client()
        try await h.deliver(h.received(c) + [h.assigned(c), h.status(c, "received", "accepted")])
        try await h.drain()
        let client = try #require(try await h.notifications(c.referral).first { $0.kind == "client" })
        #expect(client.status == "deferred")
        let worker = try #require(try await h.notifications(c.referral).first { $0.kind == "link-worker" })
        #expect(worker.status == "sent")  // staff are not subject to the client's quiet hours
        let wait = try await h.pool.withConnection {
            try await $0.query("SELECT extract(epoch FROM not_before - now())::int AS s FROM notification WHERE recipient_kind = 'client'").first?.decode(
                "s", as: Int.self)
        }
        #expect((3000...7300).contains(wait ?? 0))
        // Time passes: the window ends and the message goes.
        try await h.pool.withConnection { try await $0.query("UPDATE notification SET not_before = now() WHERE recipient_kind = 'client'") }
        try await h.drain()
        #expect(try await h.notifications(c.referral).first { $0.kind == "client" }?.status == "sent")
        await h.tearDown()
    }

    @Test("a receiver failing twice then succeeding gets exactly one delivery; a permanent failure is failed, published and dead-lettered")
    func retriesAndFailures() async throws {
        let h = try await Harness.make(maxAttempts: 4)
        try await h.pool.withConnection { connection in
            try await connection.query("UPDATE webhook_target SET url = \(h.receiver.url("/webhook/flaky?fail=2")) WHERE id = 'clinic'")
            try await connection.query("UPDATE webhook_target SET url = \(h.receiver.url("/webhook/gone")) WHERE id = 'partner'")
        }
        var c = Harness.Client()
        c.consent = Consent(contact: true, shareWithPartners: true, evaluationUse: true)
        c.email = "invalid-mailbox@example.org"
        try await h.deliver(h.received(c) + [h.status(c, "received", "accepted"), h.enrolled(c)])
        try await h.drain()

        let all = try await h.notifications(c.referral)
        // Two messages to the flaky receiver share its two failures; each ends sent once.
        let referrer = all.filter { $0.kind == "referrer" }
        #expect(referrer.count == 2 && referrer.allSatisfy { $0.status == "sent" } && referrer.map(\.attempts).reduce(0, +) == 4)
        let flaky = try await h.receiver.records().filter { $0.path == "/webhook/flaky" }
        #expect(flaky.count == 2 && flaky.filter { !$0.duplicate }.count == 2)  // accepted + connected, each once
        let partner = try #require(all.first { $0.template == "partner-participant-enrolled" })
        #expect(partner.status == "failed" && partner.attempts == 1)  // 410 is permanent: no retry
        let mailbox = try #require(all.first { $0.template == "client-referral-accepted" })
        #expect(mailbox.status == "failed" && mailbox.attempts == 1 && (mailbox.error ?? "").contains("550"))
        // Partner (410) and the client's two messages to a mailbox that does not exist (550).
        #expect(try await h.outboxTypes().filter { $0 == NotificationFailedV1.eventType }.count == 3)
        #expect(try await h.outboxTypes(topicSuffix: "notifications.v1.dlq").count == 3)
        await h.tearDown()
    }

    @Test("a transient failure on every attempt ends failed after the configured limit")
    func retryLimit() async throws {
        let h = try await Harness.make(maxAttempts: 3)
        try await h.pool.withConnection {
            try await $0.query("UPDATE webhook_target SET url = \(h.receiver.url("/webhook/down?fail=100")) WHERE id = 'clinic'")
        }
        let c = Harness.Client()
        try await h.deliver(h.received(c) + [h.status(c, "received", "accepted")])
        try await h.drain()
        let referrer = try #require(try await h.notifications(c.referral).first { $0.kind == "referrer" })
        #expect(referrer.status == "failed" && referrer.attempts == 3 && (referrer.error ?? "").contains("503"))
        await h.tearDown()
    }

    @Test("a client's message waits for their contact details without spending its attempts, and goes once they arrive")
    func awaitsContactDetails() async throws {
        let h = try await Harness.make(maxAttempts: 2)
        let c = Harness.Client()
        // The referral and its acceptance, but not the profile (the clients topic's consumer behind).
        try await h.deliver([h.received(c)[0], h.status(c, "received", "accepted")])
        for _ in 0..<5 {
            try await h.pool.withConnection { _ = try await $0.query("UPDATE notification SET not_before = now() WHERE status = 'pending'") }
            await h.loop.round()
        }
        let waiting = try #require(try await h.notifications(c.referral).first { $0.template == "client-referral-accepted" })
        #expect(waiting.status == "pending" && waiting.attempts == 0, "\(waiting)")
        #expect((waiting.error ?? "").contains("have not arrived yet"))
        try await h.deliver([h.received(c)[1]])
        try await h.pool.withConnection { _ = try await $0.query("UPDATE notification SET not_before = now() WHERE status = 'pending'") }
        try await h.drain()
        let sent = try #require(try await h.notifications(c.referral).first { $0.template == "client-referral-accepted" })
        #expect(sent.status == "sent" && sent.attempts == 1, "\(sent)")
        await h.tearDown()
    }

    @Test("the same event consumed three times makes one notification and one message")
    func redelivery() async throws {
        let h = try await Harness.make()
        let c = Harness.Client()
        try await h.deliver(h.received(c))
        let event = try CloudEvent(h.assigned(c), source: "/test", time: Date())
        try await h.deliver([event, event, event])
        try await h.drain()
        #expect(try await h.notifications(c.referral).count == 1)
        #expect(try h.smtp.messages().count == 1)
        await h.tearDown()
    }

    @Test("an event that arrives before its referral waits for it instead of being lost")
    func occasionBeforeReferral() async throws {
        let h = try await Harness.make()
        let c = Harness.Client()
        try await h.deliver([h.assigned(c)])
        #expect(try await h.notifications(c.referral).isEmpty)
        try await h.deliver(h.received(c))
        try await h.drain()
        #expect(try await h.notifications(c.referral).map(\.status) == ["sent"])
        await h.tearDown()
    }

    @Test("a delivery loop that dies mid-batch loses nothing; a repeat after the gateway accepted carries the same id")
    func crashMidBatch() async throws {
        let h = try await Harness.make(lease: .seconds(1))
        var referrals: [Harness.Client] = []
        for _ in 0..<5 {
            let c = Harness.Client()
            referrals.append(c)
            try await h.deliver(h.received(c) + [h.status(c, "received", "accepted")])
        }
        // A replica claims the batch and dies before sending anything...
        let batch = try await h.loop.claim(limit: 10)
        let claimed = batch.claimed
        #expect(claimed.count == 10)
        // ...and another dies after one webhook was accepted, before recording it (the window).
        let referrerNotification = try #require(claimed.first { $0.recipientKind == .referrer })
        let templates = try await h.loop.templateCache.templates(stamp: batch.templatesStamp, pool: h.pool)
        guard case .ready(let message) = try AddressedMessage.resolve(referrerNotification, templates: templates, settings: h.settings) else {
            Issue.record("not ready")
            return
        }
        try await h.loop.channels.send(message, notificationID: referrerNotification.id)
        try await Task.sleep(for: .milliseconds(1100))  // the lease runs out
        try await h.drain()

        for c in referrals {
            #expect(try await h.notifications(c.referral).allSatisfy { $0.status == "sent" })
        }
        let hooks = try await h.receiver.records().filter { $0.path == "/webhook/clinic" }
        #expect(hooks.count == 6)  // five referrers, one of them twice...
        #expect(hooks.filter(\.duplicate).count == 1)  // ...with the same webhook-id, dropped by the receiver
        #expect(hooks.first { $0.duplicate }?.id == referrerNotification.id.uuidString.lowercased())
        #expect(try h.smtp.messages().count == 5)
        #expect(try await h.outboxTypes().count == 10)  // one sent event per notification
        await h.tearDown()
    }

    @Test("the API: delivery log by role and site, template validation, webhook target checks")
    func api() async throws {
        let h = try await Harness.make()
        let c = Harness.Client()
        try await h.deliver(h.received(c) + [h.assigned(c)])
        try await h.drain()
        let coordinator = try await h.test.token(.networkCoordinator)
        let worker = try await h.test.token(.linkWorker, site: Harness.site)
        let elsewhere = try await h.test.token(.linkWorker, site: "rural-chc")
        let analyst = try await h.test.token(.analyst)
        try await h.test.host.application.test(.router) { client in
            let path = "/v1/notifications?referral=\(c.referral.uuidString)"
            try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(worker)"]) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains("\"status\":\"sent\"") && body.contains("referral-assigned") && !body.contains("sam@example.org"))
            }
            try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(elsewhere)"]) { response in
                #expect(String(buffer: response.body).contains("\"notifications\":[]"))
            }
            try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(analyst)"]) { #expect($0.status == .forbidden) }
            // The referral is a required parameter: leaving it out is a malformed request.
            try await client.execute(uri: "/v1/notifications", method: .get, headers: [.authorization: "Bearer \(coordinator)"]) {
                #expect($0.status == .badRequest)
            }

            let bad = #"{"body": "{{#urgent}}Bonjour {{recipientNom}} {{reference}}"}"#
            try await client.execute(
                uri: "/v1/templates/referral-assigned/fr/text", method: .put,
                headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: bad)
            ) { response in
                #expect(response.status == .unprocessableContent)
                let body = String(buffer: response.body)
                #expect(body.contains("/body") && body.contains("Mustache"))
            }
            let unknown = #"{"body": "Bonjour {{recipientNom}} {{reference}}"}"#
            try await client.execute(
                uri: "/v1/templates/referral-assigned/fr/text", method: .put,
                headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: unknown)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("unknown variable \\\"recipientNom\\\""))
            }
            let long = #"{"body": "\#(String(repeating: "x", count: 300)) {{recipientName}} {{reference}}"}"#
            try await client.execute(
                uri: "/v1/templates/referral-assigned/fr/text", method: .put,
                headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: long)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("at most 306"))
            }
            let good = #"{"body": "{{#urgent}}URGENT {{/urgent}}Orientation {{reference}} pour {{recipientName}}"}"#
            try await client.execute(
                uri: "/v1/templates/referral-assigned/fr/text", method: .put, headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"],
                body: ByteBuffer(string: good)
            ) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/v1/templates/referral-assigned/fr/text", method: .put,
                headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: good)
            ) { #expect($0.status == .ok) }

            let metadata = #"{"url": "http://169.254.169.254/latest/meta-data", "secret": "Zq7vL2mX9tRw4KpB8nYc3HsJ6dFg1ATe"}"#
            try await client.execute(
                uri: "/v1/webhook-targets/evil", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: metadata)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("link-local or metadata"))
            }
            let ok = #"{"url": "\#(h.receiver.url("/webhook/new"))", "secret": "Zq7vL2mX9tRw4KpB8nYc3HsJ6dFg1ATe"}"#
            try await client.execute(
                uri: "/v1/webhook-targets/new", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: ok)
            ) { response in
                #expect(response.status == .ok)
                #expect(!String(buffer: response.body).contains("Zq7vL2mX9tRw4KpB8nYc3HsJ6dFg1ATe"))
            }
            // Long enough but guessable is as weak as short: whoever guesses it forges deliveries.
            for weak in ["0123456789abcdef0123456789abcdef", String(repeating: "ab", count: 20), "whsec_" + Data(count: 32).base64EncodedString()] {
                let body = #"{"url": "\#(h.receiver.url("/webhook/new"))", "secret": "\#(weak)"}"#
                try await client.execute(
                    uri: "/v1/webhook-targets/weak", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .unprocessableContent, "\(weak)")
                    #expect(String(buffer: response.body).contains("/secret"))
                    #expect(!String(buffer: response.body).contains(weak), "the refusal does not echo the secret")
                }
            }
            // Text PostgreSQL cannot store is a 422 at its field, in a body or a path, never a 500.
            for (uri, body, pointer) in [
                ("/v1/templates/referral-assigned/fr/text", #"{"body": "Orientation {{reference}}\u0000"}"#, "/body"),
                ("/v1/templates/referral-assigned/fr/text", #"{"body": "Orientation \ud800 {{reference}}"}"#, "/body"),
                (
                    "/v1/recipients/partner/clinic", #"{"displayName": "Clini\u0000que", "language": "fr", "channel": "sms", "phone": "6135550100"}"#,
                    "/displayName"
                ),
                ("/v1/recipients/partner/clinic%00", #"{"displayName": "Clinique", "language": "fr", "channel": "sms", "phone": "6135550100"}"#, "/path/id"),
                ("/v1/sites/ottawa-west-chc/policy", #"{"defaultLanguage": "fr", "timeZone": "America/Toronto\u0000"}"#, "/timeZone"),
                // An e-mail address that would write SMTP commands or headers, whatever the channel.
                (
                    "/v1/recipients/link-worker/lw-crlf",
                    #"{"displayName": "A", "language": "fr", "channel": "email", "email": "a@example.org\r\nRCPT TO:<b@example.org>"}"#, "/email"
                ),
                (
                    "/v1/recipients/link-worker/lw-crlf",
                    #"{"displayName": "A", "language": "fr", "channel": "sms", "phone": "6135550100", "email": "a@b@example.org"}"#, "/email"
                ),
            ] {
                try await client.execute(
                    uri: uri, method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"], body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .unprocessableContent, "\(uri) \(body)")
                    #expect(String(buffer: response.body).contains("\"pointer\":\"\(pointer)\""), "\(String(buffer: response.body))")
                }
            }
            // Members the API does not read are ignored, whatever they hold.
            try await client.execute(
                uri: "/v1/recipients/partner/clinic", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"displayName": "Clinique", "language": "fr", "channel": "sms", "phone": "6135550100", "x\u0000": ["\ud800"]}"#)
            ) { #expect($0.status == .ok) }
            // A recipient's webhook target must be registered first: naming another is 404.
            let unregistered = #"{"displayName": "Clinique", "language": "fr", "channel": "webhook", "webhookTarget": "nowhere"}"#
            try await client.execute(
                uri: "/v1/recipients/partner/clinic-2", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: unregistered)
            ) { #expect($0.status == .notFound) }
            let policy = #"{"defaultLanguage": "fr", "timeZone": "America/Toronto", "quietHours": "21:00-07:30"}"#
            try await client.execute(
                uri: "/v1/sites/Not%20A%20Site/policy", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: policy)
            ) { #expect($0.status == .unprocessableContent) }
            try await client.execute(
                uri: "/v1/sites/ottawa-west-chc/policy", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: policy.replacingOccurrences(of: "21:00", with: "9:00"))
            ) { #expect($0.status == .unprocessableContent) }
            // An edit reaches replicas that already hold the templates (this one sent with them above).
            let edited = #"{"body": "Orientation {{reference}} acceptée par {{linkWorkerName}} (modèle modifié)"}"#
            try await client.execute(
                uri: "/v1/templates/referrer-referral-accepted/fr/text", method: .put,
                headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: edited)
            ) { #expect($0.status == .ok) }
        }
        try await h.deliver([h.status(c, "received", "accepted")])
        try await h.drain()
        let hook = try #require(try await h.receiver.records().first { $0.path == "/webhook/clinic" })
        #expect(((hook.body["text"] ?? nil) ?? "").hasSuffix("(modèle modifié)"))
        await h.tearDown()
    }
}

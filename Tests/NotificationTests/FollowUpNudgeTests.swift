import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaClient
import Logging
import Messaging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import NotificationService

/// Follow-up clocks as messages: a step past its time nudges the referral's owner, past its
/// escalation time it tells the coordinators of the referral's own site; once per referral,
/// step and level, however often or under whatever event id it arrives.
@Suite(
    "Notification: follow-up nudges and escalations to coordinators", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(3)),
    .serialized)
struct FollowUpNudgeTests {
    static let otherSite = "rural-east"

    /// Coordinators as the API registers them: two at the harness's site, one elsewhere.
    func coordinators(_ h: Harness) async throws {
        try await h.pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO recipient (kind, id, site, display_name, email, language, channel) VALUES
                ('coordinator', \(Harness.site + "/claire"), \(Harness.site), 'Claire Roy', 'claire@example.org', 'fr', 'email'),
                ('coordinator', \(Harness.site + "/marc"), \(Harness.site), 'Marc Lee', 'marc@example.org', 'en', 'email'),
                ('coordinator', \(Self.otherSite + "/zoe"), \(Self.otherSite), 'Zoé Côté', 'zoe@example.org', 'fr', 'email')
                """)
        }
    }

    static func overdue(
        _ c: Harness.Client, _ level: ReferralOverdueV1.Level, step: String = "first-contact", site: String = Harness.site, owner: String? = ownerID
    ) -> ReferralOverdueV1 {
        ReferralOverdueV1(
            referralID: c.referral, referralVersion: level == .overdue ? 3 : 4, site: site, ownerID: owner, step: step, level: level,
            dueAt: Date(timeIntervalSince1970: 1_796_000_000), raisedAt: Date())
    }

    /// The harness's link worker, as the owner id intake names (the staff id they accepted with).
    static let ownerID = Harness.linkWorker.uuidString.lowercased()

    @Test("overdue nudges the owner, escalated tells the site's coordinators; once each, whatever is redelivered; no client detail")
    func nudgeThenEscalate() async throws {
        let h = try await Harness.make()
        try await coordinators(h)
        let c = Harness.Client()
        try await h.deliver(h.received(c) + [h.assigned(c)])
        let overdue = try CloudEvent(Self.overdue(c, .overdue), source: "/test", time: Date())
        // The same event three times, and the same step and level again under a new event id.
        try await h.deliver([overdue, overdue, overdue])
        try await h.deliver([Self.overdue(c, .overdue)])
        let escalated = try CloudEvent(Self.overdue(c, .escalated), source: "/test", time: Date())
        try await h.deliver([escalated, escalated])
        // An escalation that names another site still goes to the referral's own site only.
        try await h.deliver([Self.overdue(c, .escalated, step: "follow-up-6w", site: Self.otherSite)])
        try await h.drain()

        let all = try await h.notifications(c.referral)
        #expect(all.filter { $0.template == "link-worker-follow-up-overdue" }.map(\.kind) == ["link-worker"])
        let escalations = all.filter { $0.template == "coordinator-follow-up-escalated" }
        #expect(escalations.count == 4)  // two steps × two coordinators of the site
        #expect(escalations.allSatisfy { $0.kind == "coordinator" && $0.status == "sent" })
        let recipients = try await h.pool.withConnection { connection in
            try await connection.query(
                "SELECT DISTINCT recipient_id FROM notification WHERE referral_id = \(c.referral)::uuid AND recipient_kind = 'coordinator' ORDER BY 1"
            ).map { try $0.decode("recipient_id", as: String.self) }
        }
        #expect(recipients == [Harness.site + "/claire", Harness.site + "/marc"])

        let mail = try h.smtp.messages()
        let reference = String(c.referral.uuidString.prefix(8))
        let nudges = mail.filter { $0.to == ["sam@example.org"] && $0.subject.contains("Follow-up overdue") }
        #expect(nudges.count == 1)
        #expect(nudges.first?.subject == "URGENT – Follow-up overdue: referral \(reference)")
        #expect((nudges.first?.text ?? "").contains("first-contact") && (nudges.first?.text ?? "").contains("2026-11-30"))
        let claire = mail.filter { $0.to == ["claire@example.org"] }
        #expect(claire.count == 2)
        #expect(claire.contains { $0.subject == "Suivi non fait : orientation \(reference) (\(Harness.site))" })
        #expect(claire.contains { ($0.text ?? "").contains("confiée à Sam Lee") })
        #expect(mail.filter { $0.to == ["marc@example.org"] }.count == 2)
        #expect(mail.allSatisfy { $0.to != ["zoe@example.org"] }, "a coordinator of another site is told nothing")
        // A coordinator learns the reference and the step, never who the client is or how to reach them.
        for message in mail where message.to != ["elodie@example.org"] {
            let text = (message.text ?? "") + (message.html ?? "") + message.subject
            #expect(!text.contains("Élodie") && !text.contains("Gagnon") && !text.contains("elodie@example.org") && !text.contains("5550100"))
        }
        await h.tearDown()
    }

    @Test("no owner named: the link worker matching assigned is nudged; none assigned: no one is")
    func ownerFallsBackToAssignment() async throws {
        let h = try await Harness.make()
        let c = Harness.Client()
        try await h.deliver(h.received(c) + [h.assigned(c), Self.overdue(c, .overdue, owner: nil)])
        let unassigned = Harness.Client()
        try await h.deliver(h.received(unassigned) + [Self.overdue(unassigned, .overdue, owner: nil)])
        // An owner nobody registered: planned, then failed for want of an address (visible in the log).
        let stranger = Harness.Client()
        try await h.deliver(h.received(stranger) + [Self.overdue(stranger, .overdue, owner: "someone-unregistered")])
        try await h.drain()
        let nudges = try await h.notifications(c.referral).filter { $0.template == "link-worker-follow-up-overdue" }
        #expect(nudges.map(\.status) == ["sent"] && nudges.map(\.kind) == ["link-worker"])
        #expect(try await h.notifications(unassigned.referral).isEmpty)
        let failed = try await h.notifications(stranger.referral)
        #expect(failed.map(\.status) == ["failed"] && (failed.first?.error ?? "").contains("no contact is registered"))
        #expect(try h.smtp.messages().filter { $0.to == ["sam@example.org"] && $0.subject.contains("Follow-up overdue") }.count == 1)
        await h.tearDown()
    }

    @Test("an overdue for an unknown referral waits and tells no one; for an erased one it is dropped, not parked")
    func unknownAndErased() async throws {
        let h = try await Harness.make()
        try await coordinators(h)
        let unknown = Harness.Client()
        try await h.deliver([Self.overdue(unknown, .overdue), Self.overdue(unknown, .escalated)])
        let erased = Harness.Client()
        try await h.deliver(h.received(erased) + [h.assigned(erased), ClientErasedV1(referralID: erased.referral, clientID: erased.client, erasedAt: Date())])
        try await h.deliver([Self.overdue(erased, .overdue), Self.overdue(erased, .escalated)])
        try await h.drain()
        #expect(try await h.notifications(unknown.referral).isEmpty)
        // Only the assignment's message, planned before the erasure (and withheld by it).
        #expect(try await h.notifications(erased.referral).map(\.template) == ["referral-assigned"])
        let parked = try await h.pool.withConnection { connection in
            try await connection.query("SELECT referral_id FROM parked_occasion").map { try $0.decode("referral_id", as: UUID.self) }
        }
        #expect(parked == [unknown.referral, unknown.referral])
        #expect(try h.smtp.messages().isEmpty)
        // A replay that brings the erased referral's arrival again keeps it out, and its occasions.
        try await h.deliver(h.received(erased))
        #expect(try await h.notifications(erased.referral).map(\.template) == ["referral-assigned"])
        await h.tearDown()
    }

    @Test("coordinators keep their own site's list: another site's is 404, a registration never redirects another site's messages")
    func coordinatorAPI() async throws {
        let h = try await Harness.make()
        let own = try await h.test.token(.coordinator, subject: "claire", site: Harness.site)
        let other = try await h.test.token(.coordinator, subject: "zoe", site: Self.otherSite)
        let network = try await h.test.token(.networkCoordinator)
        let worker = try await h.test.token(.linkWorker, site: Harness.site)
        func call(_ method: HTTPRequest.Method, _ path: String, _ token: String, _ body: String? = nil) async throws -> (HTTPResponse.Status, String) {
            try await h.test.host.application.test(.router) { client in
                try await client.execute(
                    uri: path, method: method, headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                    body: body.map { ByteBuffer(string: $0) }
                ) { ($0.status, String(buffer: $0.body)) }
            }
        }
        let claire = #"{"displayName": "Claire Roy", "email": "claire@example.org", "language": "fr", "channel": "email"}"#
        let path = "/v1/sites/\(Harness.site)/coordinators"
        #expect(try await call(.put, "\(path)/claire", own, claire).0 == .ok)
        // Another site's coordinator: the site is unknown to them, for every operation.
        let hijack = #"{"displayName": "Claire", "email": "attacker@example.org", "language": "fr", "channel": "email"}"#
        #expect(try await call(.put, "\(path)/claire", other, hijack).0 == .notFound)
        #expect(try await call(.get, path, other).0 == .notFound)
        #expect(try await call(.delete, "\(path)/claire", other).0 == .notFound)
        // The same id registered at their own site is a registration of that site only.
        #expect(try await call(.put, "/v1/sites/\(Self.otherSite)/coordinators/claire", other, hijack).0 == .ok)
        let (status, listed) = try await call(.get, path, own)
        #expect(status == .ok && listed.contains("claire@example.org") && !listed.contains("attacker@example.org"))
        #expect(listed.contains(#""id":"claire""#) && listed.contains(#""site":"\#(Harness.site)""#))
        #expect(try await call(.get, path, network).1.contains("claire@example.org"))
        // A link worker manages no one; bad bodies are 422 at their field.
        #expect(try await call(.put, "\(path)/sam", worker, claire).0 == .forbidden)
        let webhook = #"{"displayName": "Hook", "webhookTarget": "clinic", "language": "fr", "channel": "webhook"}"#
        let (refused, problem) = try await call(.put, "\(path)/hook", own, webhook)
        #expect(refused == .unprocessableContent && problem.contains("/channel"))
        let noEmail = #"{"displayName": "Claire", "language": "fr", "channel": "email"}"#
        #expect(try await call(.put, "\(path)/x", own, noEmail).1.contains("/email"))
        #expect(try await call(.put, "\(path)/x", own, #"{"displayName": " ", "phone": "12", "language": "fr", "channel": "sms"}"#).0 == .unprocessableContent)
        #expect(try await call(.put, "/v1/sites/Not_A_Site/coordinators/x", network, claire).0 == .unprocessableContent)

        // Escalations follow the registrations: the site's Claire, not the other site's.
        let c = Harness.Client()
        try await h.deliver(h.received(c) + [h.assigned(c), Self.overdue(c, .escalated)])
        try await h.drain()
        #expect(try h.smtp.messages().map(\.to).filter { $0 != ["sam@example.org"] } == [["claire@example.org"]])

        #expect(try await call(.delete, "\(path)/claire", own).0 == .noContent)
        #expect(try await call(.delete, "\(path)/claire", own).0 == .notFound)
        #expect(try await call(.get, path, own).1 == #"{"coordinators":[]}"#)
        #expect(try await call(.get, "/v1/sites/\(Self.otherSite)/coordinators", other).1.contains("attacker@example.org"))
        // With no coordinator left at the site, the escalation of another step is logged as reaching no one.
        try await h.deliver([Self.overdue(c, .escalated, step: "follow-up-6w")])
        let unheard = try await h.notifications(c.referral).filter { $0.template == "coordinator-follow-up-escalated" && $0.status == "failed" }
        #expect(unheard.count == 1 && (unheard.first?.error ?? "").contains("no coordinator is registered for site \(Harness.site)"))
        await h.tearDown()
    }

    @Test("through the broker: an overdue published twice, and again under a new id, nudges the owner once")
    func throughTheBroker() async throws {
        let smtp = try await SMTPSink(user: "relay", password: "relay-password")
        let receiver = try await WebhookReceiver(unsigned: ["/sms"])
        let id = UUID().uuidString.prefix(8).lowercased()
        var database = TestEnvironment.postgresConfiguration()
        database.schema = "notification_\(id)"
        let topics = TopicNames(prefix: "notification-\(id).")
        let settings = ServiceSettings(
            serviceName: "notification", httpPort: 0, postgres: database, kafka: TestEnvironment.kafkaConfiguration, topics: topics,
            consumerGroup: "notification-\(id)", auth: AuthSettings(hmacSecret: "nudge-tests-secret-0123456789-abcdef-0123"), logLevel: .warning,
            environment: Environment(Harness.environment(smtp: smtp, receiver: receiver)))
        try await KafkaTopicAdmin.createTopics(
            topics.provisioning.map { KafkaTopicSpecification(name: $0.name, partitions: 3, configs: $0.configs) },
            configuration: TestEnvironment.kafkaConfiguration, logger: TestEnvironment.logger)
        let host = try await ServiceHost.build(NotificationService.self, settings: settings, logger: TestEnvironment.logger)
        try await SchemaMigrator(schema: database.schema!, migrations: NotificationService.migrations).migrate(
            host.components.pool, logger: TestEnvironment.logger)
        let pool = host.components.pool
        try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO recipient (kind, id, site, display_name, email, language, channel) VALUES
                ('link-worker', \(Self.ownerID), NULL, 'Sam Lee', 'sam@example.org', 'en', 'email'),
                ('coordinator', \(Harness.site + "/claire"), \(Harness.site), 'Claire Roy', 'claire@example.org', 'fr', 'email')
                """)
        }
        let running = Task { try await host.run() }
        func publish(_ events: [CloudEvent]) async throws {
            for event in events {
                _ = try await host.components.producer.send(
                    topic: topics.name(.referrals), key: Array(event.subject.utf8), value: event.data,
                    headers: event.headers.map { KafkaHeader(key: $0.key, text: $0.value) })
            }
        }
        let fixture = Harness.Client()
        let received = ReferralReceivedV1(
            referralID: fixture.referral, referralVersion: 1, clientID: fixture.client, site: Harness.site, referrerID: "dr-tremblay",
            referrerRole: "physician", needs: ["loneliness"], interests: [], supportLevel: "medium", priority: "routine", preferredLanguage: "fr",
            postalArea: "K1Y", coordinates: nil, ageBand: "65-74", accessibilityNeeds: [], preferredChannel: "none",
            consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), receivedAt: Date())
        let overdue = try CloudEvent(Self.overdue(fixture, .overdue), source: "/test")
        let escalated = try CloudEvent(Self.overdue(fixture, .escalated), source: "/test")
        try await publish([
            try CloudEvent(received, source: "/test"), overdue, overdue, try CloudEvent(Self.overdue(fixture, .overdue), source: "/test"), escalated,
            escalated,
        ])
        let delivered = try await eventually(timeout: .seconds(60)) { try smtp.messages().count >= 2 }
        #expect(delivered, "the nudge and the escalation arrive")
        // Time for a duplicate to show if there were one: every event processed, nothing pending.
        let settled = try await eventually(timeout: .seconds(30)) {
            try await pool.withConnection { connection in
                let processed = try await connection.query("SELECT count(*)::int AS n FROM processed_events").first!.decode("n", as: Int.self)
                let pending = try await connection.query("SELECT count(*)::int AS n FROM notification WHERE status <> 'sent'").first!.decode(
                    "n", as: Int.self)
                return processed == 4 && pending == 0
            }
        }
        #expect(settled, "four distinct events processed, every notification sent")
        let mail = try smtp.messages()
        #expect(mail.map(\.to).sorted { $0[0] < $1[0] } == [["claire@example.org"], ["sam@example.org"]])
        await host.shutdown()
        _ = try? await running.value
        let schema = database.schema!
        _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: schema) CASCADE") }
        smtp.peer.stop()
        receiver.stop()
    }
}

import Foundation
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import NotificationService

/// Two delivery workers on one schema and an SMTP relay slower than the lease: every reply line
/// comes 2 s late, so one exchange (greeting, a multi-line EHLO, MAIL, RCPT, DATA, the message,
/// QUIT) takes about 22 s, and its EHLO alone longer than the 12 s lease. Each worker claims
/// whatever is due whenever it can. (The lease is renewed every 4 s; a machine busy enough to
/// delay a renewal past the lease's last 1.2 s makes the exchange give up, which this test would
/// report as a second attempt.)
@Suite("Notification: delivery leases over a slow SMTP relay", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(3)))
struct DeliveryLeaseTests {
    @Test("an exchange longer than the lease keeps it: each message goes out once, never twice at the same time")
    func slowRelay() async throws {
        let h = try await Harness.make()
        let relay = try await SMTPSink(replyDelay: 2.0)
        let environment = Environment([
            "PASSERELLE_SMTP_HOST": "127.0.0.1", "PASSERELLE_SMTP_PORT": String(relay.peer.port), "PASSERELLE_SMTP_SECURITY": "none",
            "PASSERELLE_SMTP_FROM": "passerelle@example.org", "PASSERELLE_SMTP_TIMEOUT_SECONDS": "24",
            "PASSERELLE_NOTIFICATION_QUIET_HOURS": "none", "PASSERELLE_NOTIFICATION_ALLOW_PRIVATE_TARGETS": "true",
        ])
        let settings = try NotificationSettings.fromEnvironment(environment)
        let lease = Duration.seconds(12)
        let workers = try (0..<2).map { _ in
            DeliveryLoop(
                pool: h.pool, outbox: h.test.host.components.outbox, topics: h.test.host.components.settings.topics, gate: h.test.host.components.gate,
                settings: settings, channels: try DeliveryChannels(settings: settings), schema: h.test.schema, logger: TestEnvironment.logger, lease: lease)
        }
        // Per referral: the link worker and the client by e-mail, the referrer by webhook.
        let clients = (0..<3).map { index in Harness.Client(channel: "email", email: "client\(index)@example.org") }
        for c in clients {
            try await h.deliver(h.received(c) + [h.assigned(c), h.status(c, "received", "accepted")])
        }
        let pool = h.pool
        let expectedMessages = try await pool.withConnection {
            try await $0.query("SELECT count(*)::int AS n FROM notification WHERE recipient_kind IN ('client', 'link-worker')").first!.decode("n", as: Int.self)
        }
        #expect(expectedMessages == 6)

        let deadline = ContinuousClock.now + .seconds(140)
        await withTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask {
                    while ContinuousClock.now < deadline {
                        await worker.round()
                        let due = try? await pool.withConnection {
                            try await $0.query("SELECT count(*)::int AS n FROM notification WHERE status IN ('pending', 'sending', 'deferred')").first?
                                .decode("n", as: Int.self)
                        }
                        if due == 0 { return }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
        }

        let received = try relay.messages()
        let perMessage = Dictionary(grouping: received, by: \.messageID)
        #expect(received.count == expectedMessages, "\(received.count) messages accepted for \(expectedMessages) notifications")
        #expect(perMessage.values.allSatisfy { $0.count == 1 }, "sent more than once: \(perMessage.filter { $0.value.count > 1 }.keys.sorted())")
        // The exchanges did outlast the lease: without renewal a second worker would have taken them.
        let longest = received.compactMap(\.seconds).max() ?? 0
        #expect(longest > 13, "the longest exchange took \(longest) s")
        let states = try await pool.withConnection { connection in
            try await connection.query("SELECT status, attempts FROM notification WHERE recipient_kind IN ('client', 'link-worker')").map {
                (try $0.decode("status", as: String.self), try $0.decode("attempts", as: Int.self))
            }
        }
        #expect(states.allSatisfy { $0.0 == "sent" && $0.1 == 1 }, "each sent at its first attempt: \(states)")
        relay.peer.stop()
        await h.tearDown()
    }
}

import Contracts
import Domain
import Foundation
import Messaging
import PostgresClient
import TestSupport
import Testing

@testable import NotificationService

@Suite(
    "Notification: erasure holds, errors name no one, each recipient learns only what their purpose needs", .enabled(if: TestEnvironment.integrationEnabled),
    .timeLimit(.minutes(3)), .serialized)
struct NotificationPrivacyTests {
    func contacts(_ h: Harness, _ client: UUID) async throws -> Int {
        try await h.pool.withConnection {
            try await $0.query("SELECT count(*)::int AS n FROM client_contact WHERE client_id = \(client)::uuid").first!.decode("n", as: Int.self)
        }
    }

    @Test("a profile handled after the erasure (another topic, another lane) does not bring the contact details back")
    func lateProfileStaysOut() async throws {
        let h = try await Harness.make()
        let c = Harness.Client()
        try await h.deliver(h.received(c))
        #expect(try await contacts(h, c.client) == 1)
        try await h.deliver([ClientErasedV1(referralID: c.referral, clientID: c.client, erasedAt: Date())])
        #expect(try await contacts(h, c.client) == 0)
        // The profile of a later change, published before the erasure, handled after it.
        try await h.deliver([
            ClientProfileV1(
                clientID: c.client, clientVersion: 2, givenName: "Élodie", familyName: "Gagnon", phone: c.phone, email: c.email, preferredLanguage: "fr",
                preferredChannel: "email", consent: c.consent, updatedAt: Date())
        ])
        #expect(try await contacts(h, c.client) == 0, "the erased marker keeps it out")
        // A replay of the referral from the topic's beginning records nothing either.
        try await h.deliver(h.received(c))
        #expect(try await contacts(h, c.client) == 0)
        let audience = try await h.pool.withConnection {
            try await $0.query("SELECT count(*)::int AS n FROM referral_audience WHERE client_id = \(c.client)::uuid").first!.decode("n", as: Int.self)
        }
        #expect(audience == 0)
        await h.tearDown()
    }

    @Test("the clients topic's tombstone erases the contact details on its own, and keeps them out")
    func tombstoneErases() async throws {
        let h = try await Harness.make()
        let c = Harness.Client()
        try await h.deliver(h.received(c))
        #expect(try await contacts(h, c.client) == 1)
        let key = c.client.uuidString.lowercased()
        try await h.deliver([CloudEvent(source: "/passerelle/intake", type: CloudEvent.tombstoneType, subject: key, data: nil)])
        #expect(try await contacts(h, c.client) == 0)
        try await h.deliver([h.received(c)[1]])
        #expect(try await contacts(h, c.client) == 0, "a profile after the tombstone stays out")
        await h.tearDown()
    }

    @Test("a refused e-mail is recorded and published without the address the relay quoted back")
    func errorsNameNoOne() async throws {
        let h = try await Harness.make()
        var c = Harness.Client()
        c.email = "invalid-\(UUID().uuidString.prefix(6).lowercased())@example.org"
        try await h.deliver(h.received(c) + [h.status(c, "received", "accepted")])
        try await h.drain()
        let failed = try #require(try await h.notifications(c.referral).first { $0.template == "client-referral-accepted" })
        #expect(failed.status == "failed")
        let error = try #require(failed.error)
        #expect(error.contains("550") && error.contains("<recipient>"), "\(error)")
        #expect(!error.contains(c.email!))
        let published = try await h.pool.withConnection {
            try await $0.query("SELECT coalesce(payload, '') AS p FROM outbox").map { try $0.decode("p", as: String.self) }
        }
        #expect(published.contains { $0.contains("<recipient>") }, "the failure is published")
        #expect(!published.contains { $0.contains(c.email!) }, "no event names the address, dead-letter copy included")
        await h.tearDown()
    }
}

@Suite("Who learns what about the client: one rule per recipient kind")
struct DisclosureTests {
    static let client = ClaimedNotification.ClientContact(
        givenName: "Élodie", phone: "+16135550142", email: "elodie@example.org", preferredLanguage: "fr", preferredChannel: "email", consentContact: true,
        consentShareWithPartners: true)

    @Test("the client is addressed by their first name; a referrer and a link worker learn nothing about them")
    func perKind() {
        #expect(Disclosure.about(Self.client, to: .client) == .disclose(["recipientName": .text("Élodie")]))
        #expect(Disclosure.about(Self.client, to: .referrer) == .disclose([:]))
        #expect(Disclosure.about(Self.client, to: .linkWorker) == .disclose([:]))
    }

    @Test("a partner gets first name and contact only with the client's consent to sharing; otherwise nothing is sent")
    func partnerNeedsConsent() {
        #expect(
            Disclosure.about(Self.client, to: .partner)
                == .disclose([
                    "participantFirstName": .text("Élodie"), "participantPhone": .text("+16135550142"), "participantEmail": .text("elodie@example.org"),
                ]))
        var withheld = Self.client
        withheld.consentShareWithPartners = false
        guard case .withhold = Disclosure.about(withheld, to: .partner) else {
            Issue.record("a partner was told about a client who did not consent to sharing")
            return
        }
    }

    @Test("no template a rule sends to a recipient kind can name more of the client than that kind may learn")
    func templatesStayWithinTheRule() {
        for rule in NotificationRules.all {
            let allowed = Disclosure.personalVariables[rule.recipient] ?? []
            let identifying = rule.template.variables.intersection(Disclosure.identifying)
            #expect(
                identifying.isSubset(of: allowed),
                "\(rule.template.rawValue) for \(rule.recipient.rawValue) declares \(identifying.subtracting(allowed).sorted())")
        }
        // Every kind has a rule, and only the partner's names the client beyond the greeting.
        #expect(Set(Disclosure.personalVariables.keys) == Set(RecipientKind.allCases))
        #expect(RecipientKind.allCases.filter { !(Disclosure.personalVariables[$0] ?? []).isDisjoint(with: Disclosure.identifying) } == [.partner])
    }
}

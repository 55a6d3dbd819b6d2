import Contracts
import Domain
import Foundation
import PostgresClient
import TestSupport
import Testing

@testable import EvaluationService

@Suite("Evaluation: what the analyst stream lets out")
struct QuasiIdentifierRuleTests {
    @Test("times become the start of their week in the network's time zone")
    func weeks() throws {
        let rule = QuasiIdentifiers(zone: try #require(TimeZone(identifier: "America/Toronto")))
        // Wednesday 18 November 2026, 11:06 UTC → Monday 16 November, 00:00 in Toronto (05:00 UTC).
        #expect(rule.week(Date(timeIntervalSince1970: 1_795_000_000)) == Date(timeIntervalSince1970: 1_794_805_200))
        // Monday 00:30 in Toronto is the new week; a second before Monday's midnight there
        // (already Monday in UTC) is still the week before.
        #expect(rule.week(Date(timeIntervalSince1970: 1_794_807_000)) == Date(timeIntervalSince1970: 1_794_805_200))
        #expect(rule.week(Date(timeIntervalSince1970: 1_794_805_199)) == Date(timeIntervalSince1970: 1_794_200_400))
    }

    @Test("area, then language, then age band are left out as fewer clients share them")
    func coarsening() throws {
        let rule = QuasiIdentifiers(zone: .gmt)
        let event = PathwayUpdatedV1(
            pathway: "p", client: "c", pathwayVersion: 1, site: "s", referrerRole: "physician", needs: ["loneliness"], supportLevel: "light",
            priority: "routine", status: "received", ageBand: "75+", area: "K1Y", language: "fr", receivedAt: Date(), acceptedAt: nil,
            firstContactAt: nil, connectedAt: nil, closedAt: nil, connectionCount: 0, closureOutcome: nil, updatedAt: Date())
        func coarsened(_ area: Int, _ language: Int, _ ageBand: Int) -> [String?] {
            var copy = event
            rule.coarsen(&copy, sharing: .init(area: area, language: language, ageBand: ageBand))
            return [copy.area, copy.language, copy.ageBand]
        }
        #expect(coarsened(5, 9, 12) == ["K1Y", "fr", "75+"])
        #expect(coarsened(4, 5, 12) == [nil, "fr", "75+"])
        #expect(coarsened(1, 4, 5) == [nil, nil, "75+"])
        #expect(coarsened(1, 1, 4) == [nil, nil, nil])
    }
}

@Suite("Evaluation: the analyst stream generalises and retracts", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct AnalystPrivacyTests {
    /// What the projection put in the outbox for analysts, in order.
    static func published(_ test: ServiceTestHost) async throws -> [(type: String, event: CloudEvent)] {
        try await test.pool.withConnection { connection in
            try await connection.query("SELECT event_type, payload FROM outbox ORDER BY id").map { row in
                let type = try row.decode("event_type", as: String.self)
                let payload = try row.decode("payload", as: String.self)
                return (type, CloudEvent(source: "/test", type: type, subject: "", data: Array(payload.utf8)))
            }
        }
    }

    @Test("a rare site, area, age band and language combination is coarsened; times go by the week; non-consenting clients count for nothing")
    func generalisation() async throws {
        let test = try await Fixture.host()
        let key = try PseudonymKey(Fixture.pseudonymKey)
        let t0 = Date(timeIntervalSince1970: 1_795_000_000)
        let common = (0..<5).map { _ in UUID() }
        let (rareArea, otherLanguage, young) = (UUID(), UUID(), UUID())
        var events: [any EventPayload] = []
        // Three who did not consent share the rare area: they must not make it common.
        for _ in 0..<3 { events.append(Fixture.received(UUID(), ageBand: "75+", language: "fr", area: "K2P", evaluationUse: false, at: t0)) }
        for referral in common { events.append(Fixture.received(referral, ageBand: "75+", language: "fr", area: "K1Y", at: t0)) }
        events.append(Fixture.received(rareArea, ageBand: "75+", language: "fr", area: "K2P", at: t0))
        events.append(Fixture.received(otherLanguage, ageBand: "75+", language: "en", area: "K1Y", at: t0))
        events.append(Fixture.received(young, ageBand: "18-24", language: "fr", area: "K1Y", at: t0))
        // A later change of the first pathway: by now five share its combination.
        events.append(Fixture.status(common[0], 2, "received", "accepted", at: t0.addingTimeInterval(3_600)))
        try await Fixture.deliver(events, to: test)

        var updates: [String: [PathwayUpdatedV1]] = [:]
        for (type, event) in try await Self.published(test) {
            #expect(type == PathwayUpdatedV1.eventType)
            let update = try event.decode(PathwayUpdatedV1.self)
            updates[update.pathway, default: []].append(update)
            // Wednesday 18 November 2026 → Monday 16 November, 00:00 in Toronto.
            #expect(update.receivedAt == Date(timeIntervalSince1970: 1_794_805_200))
            #expect(update.updatedAt == Date(timeIntervalSince1970: 1_794_805_200))
            #expect(update.acceptedAt == nil || update.acceptedAt == Date(timeIntervalSince1970: 1_794_805_200))
        }
        func fields(_ update: PathwayUpdatedV1?) -> [String?] { [update?.area, update?.language, update?.ageBand] }
        // The first four of the common combination went out before five shared it.
        for (i, referral) in common.enumerated() {
            let first = updates[key.pathway(referral)]?.first
            #expect(fields(first) == (i < 4 ? [nil, nil, nil] : ["K1Y", "fr", "75+"]), "pathway \(i)")
        }
        #expect(fields(updates[key.pathway(common[0])]?.last) == ["K1Y", "fr", "75+"])
        #expect(fields(updates[key.pathway(rareArea)]?.first) == [nil, "fr", "75+"])
        #expect(fields(updates[key.pathway(otherLanguage)]?.first) == [nil, nil, "75+"])
        #expect(fields(updates[key.pathway(young)]?.first) == [nil, nil, nil])
        #expect(updates[key.pathway(young)]?.first?.site == Fixture.site)
        await test.tearDown()
    }

    @Test("an erased client's pathway is retracted; an erasure of a pathway never held publishes nothing")
    func retraction() async throws {
        let test = try await Fixture.host()
        let key = try PseudonymKey(Fixture.pseudonymKey)
        let (kept, erased, withdrawn, unknown) = (UUID(), UUID(), UUID(), UUID())
        let clients = [erased: UUID(), withdrawn: UUID()]
        try await Fixture.deliver(
            [
                Fixture.received(kept), Fixture.received(erased, client: clients[erased]!),
                Fixture.received(withdrawn, client: clients[withdrawn]!),
                ClientConsentChangedV1(
                    referralID: withdrawn, clientID: clients[withdrawn]!, clientVersion: 2,
                    consent: Consent(contact: true, shareWithPartners: false, evaluationUse: false), changedAt: Date()),
                ClientErasedV1(referralID: erased, clientID: clients[erased]!, erasedAt: Date()),
                // Consent was withdrawn before the erasure: what went out before is retracted all the same.
                ClientErasedV1(referralID: withdrawn, clientID: clients[withdrawn]!, erasedAt: Date()),
                ClientErasedV1(referralID: unknown, clientID: UUID(), erasedAt: Date()),
                // Redelivered: the pathway is gone, nothing more to retract.
                ClientErasedV1(referralID: erased, clientID: clients[erased]!, erasedAt: Date()),
            ], to: test)
        let published = try await Self.published(test)
        let retracted = try published.filter { $0.type == PathwayRetractedV1.eventType }.map { try $0.event.decode(PathwayRetractedV1.self).pathway }
        #expect(retracted == [key.pathway(erased), key.pathway(withdrawn)])
        #expect(published.filter { $0.type == PathwayUpdatedV1.eventType }.count == 3)
        #expect(try await test.pool.withConnection { try await $0.query("SELECT count(*) AS n FROM pathway").first!.decode("n", as: Int.self) } == 1)
        await test.tearDown()
    }
}

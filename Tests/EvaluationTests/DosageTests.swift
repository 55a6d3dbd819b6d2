import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import EvaluationService

/// Casework "dosage": intake's contact and goal events folded into the pathway, reported with
/// the same windows and suppression as every other report.
@Suite("Evaluation: casework dosage and goal attainment", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct DosageTests {
    static let t0 = ReportTests.t0
    static func at(hours: Double) -> Date { t0.addingTimeInterval(hours * 3600) }

    static func contact(_ referral: UUID, _ version: Int, reached: Bool, minutes: Int, site: String = Fixture.site) -> ContactLoggedV1 {
        ContactLoggedV1(
            referralID: referral, referralVersion: version, site: site, contactID: UUID(), mode: .phone, party: .client, reached: reached, minutes: minutes,
            occurredAt: at(hours: Double(version)))
    }

    static func goalSet(_ referral: UUID, _ version: Int, goal: UUID, progress: GoalProgress = .notStarted) throws -> GoalSetV1 {
        GoalSetV1(
            referralID: referral, referralVersion: version, site: Fixture.site, goalID: goal, lifeDomain: try LifeDomain(code: "social-connection"),
            progress: progress, setAt: at(hours: Double(version)))
    }

    static func review(_ referral: UUID, _ version: Int, goal: UUID, _ previous: GoalProgress, _ progress: GoalProgress) throws -> GoalReviewedV1 {
        GoalReviewedV1(
            referralID: referral, referralVersion: version, site: Fixture.site, goalID: goal, lifeDomain: try LifeDomain(code: "social-connection"),
            previousProgress: previous, progress: progress, reviewedAt: at(hours: Double(version)))
    }

    /// Seven clients contacted: six reached once for 30 minutes after an unanswered call, one
    /// only tried; six with a goal, five of which moved on, two achieved; three never contacted.
    static func script() throws -> (events: [any EventPayload], contacted: [UUID]) {
        var events: [any EventPayload] = []
        let contacted = (0..<7).map { _ in UUID() }
        for (i, referral) in contacted.enumerated() {
            events.append(Fixture.received(referral, at: t0))
            events.append(Fixture.status(referral, 2, "received", "accepted", at: at(hours: 2)))
            events.append(contact(referral, 3, reached: false, minutes: 2))
            guard i < 6 else { continue }
            events.append(contact(referral, 4, reached: true, minutes: 30))
            let goal = UUID()
            events.append(try goalSet(referral, 5, goal: goal))
            if i < 5 { events.append(try review(referral, 6, goal: goal, .notStarted, .started)) }
            if i < 2 { events.append(try review(referral, 7, goal: goal, .started, .achieved)) }
        }
        for _ in 0..<3 { events.append(Fixture.received(UUID(), at: t0)) }
        return (events, contacted)
    }

    func rows(_ response: TestResponse) throws -> [[String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
        return try #require(object["rows"] as? [[String: Any]])
    }

    @Test("contacts, minutes, reach and goal attainment per pathway; redelivered or replayed casework counts once; small cells hidden")
    func dosage() async throws {
        let test = try await Fixture.host()
        let (events, contacted) = try Self.script()
        try await Fixture.deliver(events, to: test)
        // The same contact again (a replay under a new event id) and a stale review: no change.
        try await Fixture.deliver(
            [Self.contact(contacted[0], 4, reached: true, minutes: 30), try Self.review(contacted[1], 6, goal: UUID(), .notStarted, .achieved)], to: test)
        let held = try await test.pool.withConnection { connection in
            try await connection.query(
                "SELECT contacts_logged, contacts_reached, contact_minutes, goal_progress FROM pathway WHERE referral_id = \(contacted[0])::uuid"
            ).first
        }
        #expect(try held?.decode("contacts_logged", as: Int.self) == 2)
        #expect(try held?.decode("contacts_reached", as: Int.self) == 1)
        #expect(try held?.decode("contact_minutes", as: Int.self) == 32)
        #expect(try held?.decode("goal_progress", as: [String].self) == ["achieved"])

        let analyst = try await test.token(.analyst)
        try await test.host.application.test(.router) { client in
            func get(_ uri: String) async throws -> TestResponse {
                try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(analyst)"])
            }
            let engagement = try rows(try await get("/v1/reports/engagement?site=\(Fixture.site)"))
            let byStage = Dictionary(uniqueKeysWithValues: engagement.map { ($0["stage"] as! String, $0) })
            #expect(engagement.map { $0["stage"] as! String } == ["received", "contacted", "reached", "goals-set", "goals-improved", "goals-achieved", "all"])
            func figure(_ stage: String, _ measure: String) -> String { byStage[stage].map { "\($0[measure] ?? "nil")" } ?? "missing" }
            #expect(figure("received", "clients") == "10")
            #expect(figure("contacted", "clients") == "7" && figure("contacted", "total") == "13" && figure("contacted", "share") == "0.7")
            #expect(figure("reached", "clients") == "6" && figure("reached", "total") == "6" && figure("reached", "share") == "0.6")
            #expect(figure("goals-set", "clients") == "6" && figure("goals-set", "total") == "6")
            #expect(figure("goals-improved", "clients") == "5" && figure("goals-improved", "total") == "5" && figure("goals-improved", "share") == "0.5")
            // Two clients achieved a goal: hidden, and so is the share made of that cell.
            #expect(figure("goals-achieved", "clients") == "<5" && figure("goals-achieved", "total") == "<5")
            #expect(figure("goals-achieved", "share") == "<5")
            #expect(byStage["received"]?["share"] is NSNull)

            let dosage = try rows(try await get("/v1/reports/dosage?site=\(Fixture.site)"))
            let byMeasure = Dictionary(uniqueKeysWithValues: dosage.map { ($0["measure"] as! String, $0) })
            #expect(byMeasure["contacts"]?["n"] as? Int == 7)
            #expect(abs((byMeasure["contacts"]?["mean"] as? Double ?? 0) - 13.0 / 7) < 0.001)
            #expect(byMeasure["contacts"]?["median"] as? Double == 2)
            #expect(byMeasure["minutes"]?["median"] as? Double == 32)
            #expect(abs((byMeasure["minutes"]?["mean"] as? Double ?? 0) - (6 * 32 + 2) / 7.0) < 0.001)
            #expect(abs((byMeasure["reached-contacts"]?["mean"] as? Double ?? 0) - 6.0 / 7) < 0.001)

            // By age band: the 75+ group is everyone; a breakdown hides what the groups would give away.
            let byAge = try rows(try await get("/v1/reports/engagement?site=\(Fixture.site)&by=age-band"))
            let achieved = byAge.filter { $0["stage"] as? String == "goals-achieved" }
            #expect(!achieved.isEmpty && achieved.allSatisfy { "\($0["clients"]!)" == "<5" })

            // Whole months only: the month that is not over yet shows nothing.
            let today = Date().formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "America/Toronto")!).year().month().day())
            let current = try rows(try await get("/v1/reports/engagement?site=\(Fixture.site)&from=\(today)"))
            #expect(current.isEmpty)
        }
        await test.tearDown()
    }

    @Test("casework about an erased client's pathway is dropped, before or after the erasure, live and in the rebuild's reducer")
    func erasedPathway() async throws {
        let test = try await Fixture.host()
        let (before, after) = (UUID(), UUID())
        let (clientBefore, clientAfter) = (UUID(), UUID())
        try await Fixture.deliver(
            [
                Fixture.received(before, client: clientBefore, at: Self.t0), Self.contact(before, 2, reached: true, minutes: 45),
                try Self.goalSet(before, 3, goal: UUID()),
                ClientErasedV1(referralID: before, clientID: clientBefore, erasedAt: Self.at(hours: 5)),
                Fixture.received(after, client: clientAfter, at: Self.t0),
                ClientErasedV1(referralID: after, clientID: clientAfter, erasedAt: Self.at(hours: 5)),
                Self.contact(after, 3, reached: true, minutes: 45), try Self.goalSet(after, 4, goal: UUID()),
                try Self.review(after, 5, goal: UUID(), .notStarted, .achieved),
            ], to: test)
        let held = try await test.pool.withConnection { connection in
            try await connection.query("SELECT count(*)::int AS n FROM pathway WHERE referral_id IN (\(before)::uuid, \(after)::uuid)").first!.decode(
                "n", as: Int.self)
        }
        #expect(held == 0)
        // The reducer alone (what the rebuild runs): nothing held, nothing brought back.
        var state = PathwayState()
        ProjectionEvent.erased(ClientErasedV1(referralID: after, clientID: clientAfter, erasedAt: Self.t0)).apply(to: &state)
        ProjectionEvent.contactLogged(Self.contact(after, 3, reached: true, minutes: 45)).apply(to: &state)
        #expect(state.pathway == nil)
        // Casework is reported in aggregate only: the analyst stream carries none of it.
        let streamed = try await test.pool.withConnection { connection in
            try await connection.query("SELECT event_type FROM outbox ORDER BY id").map { try $0.decode("event_type", as: String.self) }
        }
        #expect(streamed.allSatisfy { $0 == PathwayUpdatedV1.eventType || $0 == PathwayRetractedV1.eventType })
        #expect(streamed.filter { $0 == PathwayUpdatedV1.eventType }.count == 2)  // one per arrival, none per contact or goal
        await test.tearDown()
    }

    @Test("the reducer: a goal's start is kept, its latest progress wins, versions already applied change nothing")
    func reducer() throws {
        let referral = UUID()
        let goal = UUID()
        var state = PathwayState()
        ProjectionEvent.received(Fixture.received(referral, at: Self.t0)).apply(to: &state)
        for event in [
            ProjectionEvent.goalSet(try Self.goalSet(referral, 2, goal: goal, progress: .started)),
            .goalReviewed(try Self.review(referral, 3, goal: goal, .started, .partlyAchieved)),
            .goalReviewed(try Self.review(referral, 3, goal: goal, .started, .noLongerRelevant)),  // a replay of version 3
            .contactLogged(Self.contact(referral, 4, reached: true, minutes: -5)),  // minutes are never negative
            .contactLogged(Self.contact(referral, 2, reached: true, minutes: 10)),  // older than what was applied
        ] {
            event.apply(to: &state)
        }
        let pathway = try #require(state.pathway)
        #expect(pathway.goalIDs == [goal.uuidString.lowercased()])
        #expect(pathway.goalStartProgress == ["started"] && pathway.goalProgress == ["partly-achieved"])
        #expect(pathway.contactsLogged == 1 && pathway.contactsReached == 1 && pathway.contactMinutes == 0)
        #expect(pathway.pathwayVersion == 4)
        #expect(pathway.updatedAt == Self.t0, "casework does not move what analysts see of the pathway")
    }

    @Test("the reducer: a revised support level replaces the referral's, once, in version order")
    func supportLevel() throws {
        let referral = UUID()
        var state = PathwayState()
        ProjectionEvent.received(Fixture.received(referral, supportLevel: "light", at: Self.t0)).apply(to: &state)
        let later = Self.t0.addingTimeInterval(3600)
        for event in [
            ProjectionEvent.supportLevelChanged(
                SupportLevelChangedV1(referralID: referral, referralVersion: 3, site: Fixture.site, from: .light, to: .holistic, changedAt: later)),
            // Older than what was applied: a redelivery out of order.
            .supportLevelChanged(
                SupportLevelChangedV1(referralID: referral, referralVersion: 2, site: Fixture.site, from: .light, to: .medium, changedAt: Self.t0)),
        ] {
            event.apply(to: &state)
        }
        let pathway = try #require(state.pathway)
        #expect(pathway.supportLevel == "holistic" && pathway.pathwayVersion == 3 && pathway.updatedAt == later)
        // For a pathway not held (an erased client's), nothing.
        var empty = PathwayState()
        ProjectionEvent.supportLevelChanged(
            SupportLevelChangedV1(referralID: referral, referralVersion: 3, site: Fixture.site, from: .light, to: .holistic, changedAt: later)
        ).apply(to: &empty)
        #expect(empty.pathway == nil)
    }
}

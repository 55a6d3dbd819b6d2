import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceRuntime
import TestSupport
import Testing

@testable import EvaluationService

@Suite("Evaluation: programme reports with small cells suppressed", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct ReportTests {
    static let t0 = Date(timeIntervalSince1970: 1_795_000_000)
    static func at(hours: Double) -> Date { t0.addingTimeInterval(hours * 3600) }

    /// Six consenting clients aged 75+ walk the loop (contacted after 10…15 h, five connected
    /// at 48 h, four completed), two aged 45–64 are turned away, three who did not consent to
    /// evaluation use wait.
    static func script() -> (events: [any EventPayload], walkers: [UUID]) {
        var events: [any EventPayload] = []
        let walkers = (0..<6).map { _ in UUID() }
        for (i, referral) in walkers.enumerated() {
            events.append(Fixture.received(referral, ageBand: "75+", at: t0))
            events.append(Fixture.status(referral, 2, "received", "accepted", at: at(hours: 2)))
            events.append(Fixture.status(referral, 3, "accepted", "in-progress", at: at(hours: 10 + Double(i))))
            if i < 5 {
                events.append(
                    ConnectionChangedV1(
                        connectionID: UUID(), referralID: referral, referralVersion: 3, resourceID: UUID(), from: "accepted",
                        to: "enrolled", reason: nil, changedAt: at(hours: 48)))
            }
            if i < 4 { events.append(Fixture.status(referral, 4, "in-progress", "completed", at: at(hours: 400), outcome: "connected")) }
        }
        for _ in 0..<2 {
            let referral = UUID()
            events.append(Fixture.received(referral, needs: ["housing"], ageBand: "45-64", at: t0))
            events.append(Fixture.status(referral, 2, "received", "rejected", at: at(hours: 5), reason: "out of area"))
        }
        for _ in 0..<3 { events.append(Fixture.received(UUID(), ageBand: "25-44", evaluationUse: false, at: t0)) }
        return (events, walkers)
    }

    func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
    }

    func rows(_ response: TestResponse) throws -> [[String: Any]] {
        try #require(try json(response)["rows"] as? [[String: Any]])
    }

    @Test("a scripted programme gives the right counts, funnel, timings, outcome change and service use, small cells hidden")
    func figures() async throws {
        let test = try await Fixture.host()
        let (events, walkers) = Self.script()
        try await Fixture.deliver(events, to: test)
        let analyst = try await test.token(.analyst)
        let coordinator = try await test.token(.networkCoordinator)
        try await test.host.application.test(.router) { client in
            func get(_ uri: String, token: String? = nil, accept: String? = nil) async throws -> TestResponse {
                var headers: HTTPFields = [.authorization: "Bearer \(token ?? analyst)"]
                if let accept { headers[.accept] = accept }
                return try await client.execute(uri: uri, method: .get, headers: headers)
            }
            func post(_ uri: String, _ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: uri, method: .post, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                    body: ByteBuffer(string: body))
            }
            func put(_ uri: String, _ body: String) async throws -> TestResponse {
                try await client.execute(
                    uri: uri, method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                    body: ByteBuffer(string: body))
            }
            for (i, referral) in walkers.enumerated() {
                #expect(
                    try await post("/v1/referrals/\(referral)/outcomes", #"{"instrument": "ucla3", "timepoint": "baseline", "answers": [3, 3, 3]}"#).status
                        == .created)
                let later = i < 3 ? "[2, 2, 1]" : "[2, 1, 1]"
                #expect(
                    try await post("/v1/referrals/\(referral)/outcomes", #"{"instrument": "ucla3", "timepoint": "follow-up-12w", "answers": \#(later)}"#).status
                        == .created)
                #expect(
                    try await put("/v1/referrals/\(referral)/service-use", #"{"before": {"primaryCareVisits": 6}, "after": {"primaryCareVisits": 4}}"#).status
                        == .ok)
            }

            let overview = try rows(try await get("/v1/reports/overview?site=\(Fixture.site)"))
            #expect(overview.count == 1)
            #expect(overview.first?["referrals"] as? Int == 11)
            #expect(overview.first?["clients"] as? Int == 11)
            #expect(overview.first?["referrers"] as? Int == 1)

            let byAge = try rows(try await get("/v1/reports/overview?by=age-band"))
            let clients = Dictionary(uniqueKeysWithValues: byAge.map { ($0["group"] as! String, "\($0["clients"]!)") })
            // 2 and 3 are small; 25–44 never shows: those clients did not consent to evaluation use.
            #expect(clients == ["45-64": "<5", "75+": "6", "undisclosed": "<5", "all": "11"])

            let funnel = try rows(try await get("/v1/reports/funnel"))
            let stages = funnel.map { "\($0["stage"]!)=\($0["referrals"]!)" }
            #expect(stages == ["received=11", "accepted=6", "contacted=6", "connected=5", "completed=<5", "dropped:rejected=<5", "open=5", "all=11"])

            // Six closed, four of them completed: but the funnel hides completed and rejected, so
            // neither the closures (their sum) nor the rate may be shown.
            let completion = try rows(try await get("/v1/reports/completion"))
            #expect(completion.first?["closed"] as? String == "<5")
            #expect(completion.first?["completed"] as? String == "<5")
            #expect(completion.first?["completionRate"] as? String == "<5")

            let timings = try rows(try await get("/v1/reports/timings"))
            let contact = try #require(timings.first { $0["interval"] as? String == "to-first-contact" })
            #expect(contact["n"] as? Int == 6)
            #expect(contact["medianHours"] as? Double == 12.5)
            #expect(contact["p90Hours"] as? Double == 14.5)
            let connection = try #require(timings.first { $0["interval"] as? String == "to-connection" })
            #expect(connection["medianHours"] as? Double == 48)

            let outcomes = try rows(try await get("/v1/reports/outcomes"))
            let ucla = try #require(outcomes.first { $0["instrument"] as? String == "ucla3" && $0["score"] as? String == "total" })
            #expect(ucla["n"] as? Int == 6)
            #expect(ucla["meanChange"] as? Double == -4.5)
            // sd √0.3, t(5) = 2.571: −4.5 ± 0.575
            #expect(abs((ucla["ci95Low"] as? Double ?? 0) - -5.075) < 0.002)
            #expect(abs((ucla["ci95High"] as? Double ?? 0) - -3.925) < 0.002)

            let visits = try rows(try await get("/v1/reports/service-use"))
            let primary = try #require(visits.first { $0["visits"] as? String == "primary-care" })
            #expect(primary["meanChange"] as? Double == -2)

            let csv = try await get("/v1/reports/overview?by=age-band", accept: "text/csv")
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = String(buffer: csv.body).split(separator: "\r\n").map(String.init)
            #expect(lines.first == "group,clients,referrers,referrals")
            #expect(lines.contains("45-64,<5,<5,<5"))
            #expect(lines.contains("75+,6,1,6"))
            #expect(try await get("/v1/reports/needs?format=csv").status == .ok)
            #expect(try await get("/v1/reports/unmet-needs?by=area&format=csv").status == .ok)

            let invalid = try await get("/v1/reports/overview?by=shoe-size&from=yesterday&format=xml")
            #expect(invalid.status == .unprocessableContent)
            let pointers = Set((try json(invalid)["errors"] as? [[String: String]] ?? []).compactMap { $0["pointer"] })
            #expect(pointers == ["?by", "?from", "?format"])
            #expect(try await get("/v1/reports/nothing").status == .notFound)
            let worker = try await test.token(.linkWorker, site: Fixture.site)
            #expect(try await get("/v1/reports/overview", token: worker).status == .forbidden)
            // Months that are not over are not reported.
            let future = try json(try await get("/v1/reports/overview?from=2030-01-01"))
            #expect((future["rows"] as? [Any])?.isEmpty == true)
            // A period inside November is the whole of November, midnight to midnight in Toronto.
            let november = try json(try await get("/v1/reports/overview?from=2026-11-18T10:00:00Z&to=2026-11-20"))
            #expect(november["from"] as? String == "2026-11-01T04:00:00Z")
            #expect(november["to"] as? String == "2026-12-01T05:00:00Z")
            #expect((november["rows"] as? [[String: Any]])?.first?["clients"] as? Int == 11)
            #expect(try rows(try await get("/v1/reports/overview?from=2026-10-01&to=2026-11-01")).isEmpty)
        }
        await test.tearDown()
    }

    @Test("equity breakdowns read only the sociodemographics clients consented to share")
    func equity() async throws {
        let test = try await Fixture.host()
        var events: [any EventPayload] = []
        for i in 0..<7 {
            events.append(Fixture.received(UUID(), sociodemographics: Sociodemographics(gender: .woman, incomeBand: .under20k, newcomer: i < 5), at: Self.t0))
        }
        for _ in 0..<5 { events.append(Fixture.received(UUID(), sociodemographics: Sociodemographics(gender: .man, newcomer: false), at: Self.t0)) }
        for _ in 0..<2 { events.append(Fixture.received(UUID(), at: Self.t0)) }  // answered nothing
        for _ in 0..<3 {  // answered, but did not consent to evaluation use: nothing is kept
            events.append(Fixture.received(UUID(), evaluationUse: false, sociodemographics: Sociodemographics(gender: .woman, newcomer: true), at: Self.t0))
        }
        try await Fixture.deliver(events, to: test)
        let analyst = try await test.token(.analyst)
        try await test.host.application.test(.router) { client in
            func groups(_ by: String) async throws -> [String: String] {
                let response = try await client.execute(uri: "/v1/reports/overview?by=\(by)", method: .get, headers: [.authorization: "Bearer \(analyst)"])
                #expect(response.status == .ok)
                return Dictionary(uniqueKeysWithValues: try rows(response).map { ($0["group"] as! String, "\($0["clients"]!)") })
            }
            let gender = try await groups("gender")
            let newcomer = try await groups("newcomer")
            let income = try await groups("income-band")
            #expect(gender == ["woman": "7", "man": "5", "undisclosed": "5", "all": "17"])
            #expect(newcomer == ["yes": "5", "no": "7", "undisclosed": "5", "all": "17"])
            #expect(income == ["under-20k": "7", "undisclosed": "10", "all": "17"])
        }
        await test.tearDown()
    }
}

@Suite("Evaluation: a report's format from Accept")
struct ReportFormatTests {
    @Test("CSV only when Accept ranks it above JSON; a client taking both gets JSON")
    func negotiation() {
        #expect(ReportRoutes.prefersCSV(accept: "text/csv"))
        #expect(ReportRoutes.prefersCSV(accept: "text/csv, application/json"))
        #expect(ReportRoutes.prefersCSV(accept: "application/json;q=0.5, text/csv"))
        #expect(!ReportRoutes.prefersCSV(accept: "application/json, text/csv"))
        #expect(!ReportRoutes.prefersCSV(accept: "*/*"))
        #expect(!ReportRoutes.prefersCSV(accept: "text/csv;q=0, application/json"))
        #expect(!ReportRoutes.prefersCSV(accept: nil))
    }
}

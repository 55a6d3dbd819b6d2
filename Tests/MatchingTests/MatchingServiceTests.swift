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

@testable import MatchingService

@Suite("Matching service: catalogue API, matching and assignment against PostgreSQL", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct MatchingServiceTests {
    func received(_ referral: UUID = UUID(), needs: [String] = ["loneliness"], site: String = "ottawa-west-chc", language: String = "fr") -> ReferralReceivedV1
    {
        ReferralReceivedV1(
            referralID: referral, referralVersion: 1, clientID: UUID(), site: site, referrerID: "dr", referrerRole: "physician", needs: needs,
            interests: ["walking"], supportLevel: "light", priority: "urgent", preferredLanguage: language, postalArea: "K1Y",
            coordinates: try! Coordinates(latitude: 45.40, longitude: -75.72), ageBand: "65-74", accessibilityNeeds: [], preferredChannel: "sms",
            consent: Consent(contact: true, shareWithPartners: false, evaluationUse: true), receivedAt: Date())
    }

    @Test("open_at finds the resources whose opening hours hold that moment: opening time in, closing time out, past midnight into the next day")
    func openAt() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let coordinator = try await test.token(.networkCoordinator)
        let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
        try await test.host.application.test(.router) { client in
            let json: HTTPFields = [.authorization: "Bearer \(coordinator)", .contentType: "application/json"]
            func resource(_ name: String, weekdays: [Int], hours: String?) -> String {
                #"{"organisation": "CSC", "name": "\#(name)", "kind": "external-partner", "categories": ["loneliness"], "description": "", "languages": ["fr"], "interpretationAvailable": false, "delivery": ["phone"], "weekdays": \#(weekdays), "eligibility": {"areas": []}, "accessibility": [], "capacity": {"seatsTaken": 0, "waitlistAllowed": false}, "tags": [], "active": true\#(hours.map { #", "openingHours": \#($0)"# } ?? "")}"#
            }
            func hours(_ rows: [(Int, String, String)]) -> String {
                "[" + rows.map { #"{"weekday": \#($0.0), "opensAt": "\#($0.1)", "closesAt": "\#($0.2)"}"# }.joined(separator: ", ") + "]"
            }
            for body in [
                resource("Matin", weekdays: [2], hours: hours([(2, "13:00", "17:00"), (2, "09:00", "12:00")])),
                resource("Soirée", weekdays: [2], hours: hours([(2, "18:00", "21:00")])),
                resource("Nuit", weekdays: [5], hours: hours([(5, "22:00", "02:00")])),
                resource("Dimanche soir", weekdays: [7], hours: hours([(7, "20:00", "01:00")])),
                resource("Jour entier", weekdays: [3], hours: hours([(3, "08:00", "08:00")])),
                resource("Sans horaire", weekdays: [2, 5], hours: nil),
                resource("Horaire vide", weekdays: [2], hours: "[]"),
            ] {
                let created = try await client.execute(uri: "/v1/resources", method: .post, headers: json, body: ByteBuffer(string: body))
                #expect(created.status == .created, "\(String(buffer: created.body))")
            }
            func names(_ query: String) async throws -> [String] {
                let response = try await client.execute(uri: "/v1/resources?\(query)", method: .get, headers: [.authorization: "Bearer \(worker)"])
                #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
                let list = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [[String: Any]] ?? []
                return list.compactMap { $0["name"] as? String }.sorted()
            }
            for (query, expected) in [
                ("open_at=2T09:00", ["Matin"]), ("open_at=2T08:59", []), ("open_at=2T11:59", ["Matin"]), ("open_at=2T12:00", []),
                ("open_at=2T12:30", []), ("open_at=2T13:00", ["Matin"]), ("open_at=2T20:00", ["Soirée"]), ("open_at=2T21:00", []),
                ("open_at=5T21:59", []), ("open_at=5T22:00", ["Nuit"]), ("open_at=5T23:59", ["Nuit"]), ("open_at=6T00:00", ["Nuit"]),
                ("open_at=6T01:59", ["Nuit"]), ("open_at=6T02:00", []), ("open_at=5T01:00", []), ("open_at=4T01:00", ["Jour entier"]),
                ("open_at=7T23:59", ["Dimanche soir"]), ("open_at=1T00:30", ["Dimanche soir"]), ("open_at=1T01:00", []), ("open_at=7T19:59", []),
                ("open_at=3T07:59", []), ("open_at=3T08:00", ["Jour entier"]), ("open_at=3T23:00", ["Jour entier"]), ("open_at=4T07:59", ["Jour entier"]),
                ("open_at=4T08:00", []),
                // With the other filters: open_on still asks for the resources' weekdays.
                ("open_on=2&open_at=2T09:00", ["Matin"]), ("open_on=3&open_at=2T09:00", []), ("open_on=6&open_at=6T01:00", []),
                ("category=loneliness&open_at=2T20:00", ["Soirée"]), ("category=housing&open_at=2T20:00", []),
                ("open_on=2", ["Horaire vide", "Matin", "Sans horaire", "Soirée"]),
            ] {
                #expect(try await names(query) == expected, "\(query)")
            }
            // Hours left out are unknown, never open: only a search without open_at finds them.
            #expect(try await names("open_on=5") == ["Nuit", "Sans horaire"])

            // The answer carries the hours as given; none when none were given.
            let all = try await client.execute(uri: "/v1/resources", method: .get, headers: [.authorization: "Bearer \(worker)"])
            let list = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: all.body).utf8)) as? [[String: Any]])
            let morning = try #require(list.first { $0["name"] as? String == "Matin" })
            #expect(
                (morning["openingHours"] as? [[String: Any]])?.map { "\($0["weekday"] ?? "")/\($0["opensAt"] ?? "")/\($0["closesAt"] ?? "")" } == [
                    "2/13:00/17:00", "2/09:00/12:00",
                ])
            #expect((list.first { $0["name"] as? String == "Sans horaire" }?["openingHours"] as? [Any])?.isEmpty == true)

            // Anything but a day 1 to 7, T and a 24-hour HH:MM is refused, naming the parameter.
            for query in [
                "open_at=2T24:00", "open_at=2T7:5", "open_at=2T07:5", "open_at=2T7:05", "open_at=2T09:00%00", "open_at=%002T09:00", "open_at=",
                "open_at=%20", "open_at=09:30", "open_at=2", "open_at=0T09:00", "open_at=8T09:00", "open_at=2t09:00", "open_at=2T09:60",
                "open_at=2T09:00:00", "open_at=%202T09:00", "open_at=2T09:00%20", "open_at=12T09:00", "open_at=%EF%BC%92T09:00",
                "open_at=2T%EF%BC%909:00", "open_at=2T-9:00", "open_at=2T+9:00", "open_at=2%20T09:00", "open_at=tuesday%2009:00",
                "open_on=2&open_at=2T25:00",
            ] {
                let refused = try await client.execute(uri: "/v1/resources?\(query)", method: .get, headers: [.authorization: "Bearer \(worker)"])
                #expect(refused.status == .unprocessableContent, "\(query): \(refused.status)")
                #expect(String(buffer: refused.body).contains(#""pointer":"?open_at""#), "\(query): \(String(buffer: refused.body))")
            }

            // Hours a coordinator writes are checked member by member.
            for (hours, pointer) in [
                (#"[{"weekday": 2, "opensAt": "9:00", "closesAt": "12:00"}]"#, "/openingHours/0/opensAt"),
                (#"[{"weekday": 2, "opensAt": "09:00", "closesAt": "24:00"}]"#, "/openingHours/0/closesAt"),
                (
                    #"[{"weekday": 2, "opensAt": "09:00", "closesAt": "12:00"}, {"weekday": 8, "opensAt": "09:00", "closesAt": "12:00"}]"#,
                    "/openingHours/1/weekday"
                ),
                (#"[{"weekday": 2, "opensAt": "09:00\u0000", "closesAt": "12:00"}]"#, "/openingHours/0/opensAt"),
                (#"[{"weekday": 2, "opensAt": "", "closesAt": "12:00"}]"#, "/openingHours/0/opensAt"),
                ("null", "/openingHours"),
            ] {
                let refused = try await client.execute(
                    uri: "/v1/resources", method: .post, headers: json, body: ByteBuffer(string: resource("Mauvais", weekdays: [2], hours: hours)))
                #expect(
                    refused.status == .unprocessableContent && String(buffer: refused.body).contains("\"pointer\":\"\(pointer)\""),
                    "\(hours): \(String(buffer: refused.body))")
            }
            #expect(try await names("open_at=2T09:00") == ["Matin"], "nothing refused was stored")

            // The hours go out in an HSDS export and come back the same from it, past midnight included.
            let exported = try await client.execute(uri: "/v1/catalogue/export", method: .get, headers: json)
            let tables = try #require(
                (try JSONSerialization.jsonObject(with: Data(String(buffer: exported.body).utf8)) as? [String: Any])?["tables"] as? [String: String])
            #expect(tables["regular_schedules.csv"]?.contains(",5,22:00,02:00") == true, "\(tables["regular_schedules.csv"] ?? "")")
            let copy = try await ServiceTestHost.make(MatchingService.self)
            let hoursBefore = try await names("open_at=6T01:00") + names("open_at=2T13:30") + names("open_at=4T07:00")
            try await copy.host.application.test(.router) { other in
                let copyToken = try await copy.token(.networkCoordinator)
                let imported = try await other.execute(
                    uri: "/v1/catalogue/imports", method: .post, headers: [.authorization: "Bearer \(copyToken)", .contentType: "application/json"],
                    body: ByteBuffer(bytes: try JSONEncoder().encode(["tables": tables])))
                #expect(imported.status == .ok, "\(String(buffer: imported.body))")
                var hoursAfter: [String] = []
                for moment in ["6T01:00", "2T13:30", "4T07:00"] {
                    let found = try await other.execute(uri: "/v1/resources?open_at=\(moment)", method: .get, headers: [.authorization: "Bearer \(copyToken)"])
                    let list = try JSONSerialization.jsonObject(with: Data(String(buffer: found.body).utf8)) as? [[String: Any]] ?? []
                    hoursAfter += list.compactMap { $0["name"] as? String }.sorted()
                }
                #expect(hoursAfter == hoursBefore && hoursBefore == ["Nuit", "Matin", "Jour entier"], "\(hoursAfter)")
            }
        }
    }

    @Test("resources and link workers are managed through the API; search filters by category, language, distance, accessibility and weekday")
    func catalogueAPI() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let host = test.host
        let coordinator = try await test.token(.networkCoordinator)
        try await host.application.test(.router) { client in
            let body =
                #"{"organisation": "Centre Dalhousie", "name": "Club de marche", "kind": "health-champion-group", "categories": ["physical-activity", "loneliness"], "description": "Marche hebdomadaire", "languages": ["fr", "en"], "interpretationAvailable": false, "delivery": ["in-person"], "coordinates": {"latitude": 45.401, "longitude": -75.721}, "weekdays": [2], "eligibility": {"areas": []}, "accessibility": ["Step-free access"], "capacity": {"seats": 12, "seatsTaken": 0, "waitlistAllowed": true}, "tags": ["walking"], "active": true}"#
            let created = try await client.execute(
                uri: "/v1/resources", method: .post, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: body))
            #expect(created.status == .created)
            let invalid = try await client.execute(
                uri: "/v1/resources", method: .post, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(
                    string: body.replacingOccurrences(
                        of: #""delivery": ["in-person"], "coordinates": {"latitude": 45.401, "longitude": -75.721},"#, with: #""delivery": ["in-person"],"#)))
            #expect(invalid.status == .unprocessableContent, "in person without a place")
            let unknownCategory = try await client.execute(
                uri: "/v1/resources", method: .post, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: body.replacingOccurrences(of: "physical-activity", with: "astrology")))
            #expect(unknownCategory.status == .badRequest)

            let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
            for (query, expected) in [
                ("category=loneliness", 1), ("category=housing", 0), ("language=so", 0), ("near=45.40,-75.72&radius_km=2", 1),
                ("near=45.0,-74.0&radius_km=5", 0), ("accessibility=step-free%20access", 1), ("accessibility=hearing%20loop", 0), ("open_on=2", 1),
                ("open_on=3", 0), ("category=loneliness&accessibility=STEP-FREE%20ACCESS&open_on=2", 1),
            ] {
                let response = try await client.execute(uri: "/v1/resources?\(query)", method: .get, headers: [.authorization: "Bearer \(worker)"])
                #expect(response.status == .ok)
                let list = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [Any]
                #expect(list?.count == expected, "\(query)")
            }
            for query in [
                "category=nope", "open_on=0", "open_on=8", "accessibility=%20%20", "accessibility=" + String(repeating: "x", count: 101),
                "accessibility=step%00free", "accessibility=step%0Afree",
            ] {
                let refused = try await client.execute(uri: "/v1/resources?\(query)", method: .get, headers: [.authorization: "Bearer \(worker)"])
                #expect(refused.status == .unprocessableContent, "\(query)")
            }
            // Not a number where the contract says integer: a malformed request.
            #expect(
                try await client.execute(uri: "/v1/resources?open_on=tuesday", method: .get, headers: [.authorization: "Bearer \(worker)"]).status
                    == .badRequest)
            #expect(
                try await client.execute(uri: "/v1/resources", method: .post, headers: [.authorization: "Bearer \(worker)"], body: ByteBuffer(string: body))
                    .status == .forbidden)

            // Text PostgreSQL cannot store, and numbers its columns cannot hold, are a 422 at their field, never a 500.
            let json: HTTPFields = [.authorization: "Bearer \(coordinator)", .contentType: "application/json"]
            for (changed, pointer) in [
                (body.replacingOccurrences(of: "Marche hebdomadaire", with: #"Marche\u0000"#), "/description"),
                (body.replacingOccurrences(of: #""walking""#, with: #""\udc00walking""#), "/tags/0"),
                (body.replacingOccurrences(of: #""seats": 12"#, with: #""seats": 99999999999"#), "/capacity/seats"),
                (body.replacingOccurrences(of: #""latitude": 45.401"#, with: #""latitude": 145.401"#), "/coordinates"),
                (body.replacingOccurrences(of: #""languages": ["fr", "en"]"#, with: #""languages": ["fr", "French"]"#), "/languages/1"),
            ] {
                let refused = try await client.execute(uri: "/v1/resources", method: .post, headers: json, body: ByteBuffer(string: changed))
                #expect(
                    refused.status == .unprocessableContent && String(buffer: refused.body).contains("\"pointer\":\"\(pointer)\""),
                    "\(String(buffer: refused.body))")
            }
            // A tag that begins with a combining mark is kept and read back whole (arrays are read
            // scalar by scalar, so the mark cannot fuse with the delimiter before it).
            let marked = try await client.execute(
                uri: "/v1/resources", method: .post, headers: json,
                body: ByteBuffer(string: body.replacingOccurrences(of: #""walking""#, with: #""walking", "\u0301marche""#)))
            #expect(marked.status == .created, "\(String(buffer: marked.body))")
            #expect(String(buffer: marked.body).contains("\u{301}marche"), "\(String(buffer: marked.body))")
            let nul = try await client.execute(uri: "/v1/resources?language=fr%00", method: .get, headers: [.authorization: "Bearer \(coordinator)"])
            #expect(nul.status == .unprocessableContent)
            // A PUT writes under its id: 201 the first time, 200 after.
            let id = UUID()
            #expect(try await client.execute(uri: "/v1/resources/\(id)", method: .put, headers: json, body: ByteBuffer(string: body)).status == .created)
            #expect(try await client.execute(uri: "/v1/resources/\(id)", method: .put, headers: json, body: ByteBuffer(string: body)).status == .ok)
            #expect(try await client.execute(uri: "/v1/resources/not-an-id", method: .get, headers: json).status == .notFound)

            let workerBody = #"{"name": "Amélie", "site": "ottawa-west-chc", "languages": ["fr"], "caseloadCapacity": 20}"#
            let saved = try await client.execute(
                uri: "/v1/link-workers/\(UUID())", method: .put, headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                body: ByteBuffer(string: workerBody))
            #expect(saved.status == .ok)
        }
        await test.tearDown()
    }

    @Test("a referral is matched and assigned once, with events through the outbox; a gap publishes need.unmet")
    func matchAndAssign() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let host = test.host
        let pool = host.components.pool
        let store = CatalogueStore(pool: pool)
        let french = UUID()
        let english = UUID()
        try await pool.withConnection { connection in
            try await store.save(
                Catalogue.resource("Club de marche", kind: .healthChampionGroup, categories: ["loneliness", "physical-activity"], tags: ["walking"]),
                on: connection)
            try await store.save(Catalogue.resource("Café-causerie", categories: ["loneliness"]), on: connection)
            try await store.save(
                try LinkWorker(id: french, name: "Amélie", site: "ottawa-west-chc", languages: ["fr"], caseloadCapacity: 10, currentCaseload: 6), on: connection
            )
            try await store.save(try LinkWorker(id: english, name: "Sam", site: "ottawa-west-chc", languages: ["en"], caseloadCapacity: 10), on: connection)
        }
        let matchmaker = Matchmaker(store: store, outbox: host.components.outbox)
        let referral = received(needs: ["loneliness", "housing"])
        // Twice, as a redelivery would: one effect.
        for _ in 0..<2 {
            try await pool.transaction { try await matchmaker.receive(referral, on: $0) }
        }
        let assignment = try await pool.withConnection {
            try await $0.query("SELECT link_worker_id FROM assignment").map { try $0.decode("link_worker_id", as: UUID.self) }
        }
        #expect(assignment == [french], "the French speaker, despite the heavier caseload")
        let caseload = try await pool.withConnection {
            try await $0.query("SELECT current_caseload FROM link_worker WHERE id = \(french)::uuid").first!.decode("current_caseload", as: Int.self)
        }
        #expect(caseload == 7)
        let types = try await pool.withConnection {
            try await $0.query("SELECT event_type FROM outbox ORDER BY id").map { try $0.decode("event_type", as: String.self) }
        }
        #expect(types == [ReferralAssignedV1.eventType, MatchesProposedV1.eventType, NeedUnmetV1.eventType])
        let unmet = try await pool.withConnection {
            try await $0.query("SELECT payload FROM outbox WHERE event_type = \(NeedUnmetV1.eventType)").first!.decode("payload", as: String.self)
        }
        #expect(unmet.contains("\"categories\":[\"housing\"]"))
        // The stored matches are the proposed ones, rank by rank.
        let proposed = try await pool.withConnection { connection in
            let payload = try await connection.query("SELECT payload FROM outbox WHERE event_type = \(MatchesProposedV1.eventType)").first!.decode(
                "payload", as: String.self)
            return try EventCoding.decoder.decode(MatchesProposedV1.self, from: Data(payload.utf8)).matches
        }
        let stored = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT rank, resource_id, score, reasons FROM referral_match WHERE referral_id = \(referral.referralID)::uuid ORDER BY rank"
            ).map {
                ProposedMatch(
                    resourceID: try $0.decode("resource_id"), rank: try $0.decode("rank"), score: try $0.decode("score"), resourceKind: "",
                    categories: [], reasons: try $0.decode("reasons"))
            }
        }
        #expect(stored.count == 2)
        #expect(stored.map(\.rank) == proposed.map(\.rank))
        #expect(stored.map(\.resourceID) == proposed.map(\.resourceID))
        #expect(stored.map(\.score) == proposed.map(\.score))
        #expect(stored.map(\.reasons) == proposed.map(\.reasons))

        try await host.application.test(.router) { client in
            let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
            let response = try await client.execute(
                uri: "/v1/referrals/\(referral.referralID)/matches", method: .get, headers: [.authorization: "Bearer \(worker)"])
            #expect(response.status == .ok)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
            let matches = try #require(body["matches"] as? [[String: Any]])
            #expect(matches.count == 2)
            #expect((matches.first?["reasons"] as? [String])?.contains("parle français") == true)
            let elsewhere = try await test.token(.linkWorker, site: "rural-east")
            #expect(
                try await client.execute(uri: "/v1/referrals/\(referral.referralID)/matches", method: .get, headers: [.authorization: "Bearer \(elsewhere)"])
                    .status == .notFound)
        }
        await test.tearDown()
    }

    /// An assignment locks only the worker it chooses: while another transaction holds the best
    /// worker (as an assignment being recorded does), the next takes the next best who speaks the
    /// client's language, never someone who does not; when all of those are held, it waits.
    @Test("assignments in flight for one site go to different link workers of the client's language instead of queueing")
    func assignmentsDoNotQueue() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let pool = test.host.components.pool
        let store = CatalogueStore(pool: pool)
        let (lightest, next, english) = (UUID(), UUID(), UUID())
        try await pool.withConnection { connection in
            try await store.save(
                try LinkWorker(id: lightest, name: "Amélie", site: "ottawa-west-chc", languages: ["fr"], caseloadCapacity: 10, currentCaseload: 1),
                on: connection)
            try await store.save(
                try LinkWorker(id: next, name: "Benoît", site: "ottawa-west-chc", languages: ["fr"], caseloadCapacity: 10, currentCaseload: 5), on: connection)
            try await store.save(try LinkWorker(id: english, name: "Sam", site: "ottawa-west-chc", languages: ["en"], caseloadCapacity: 10), on: connection)
        }
        // Another transaction holds the lightest French speaker's row.
        let holder = PostgresConnectionPool(configuration: pool.configuration, logger: TestEnvironment.logger)
        let held = AsyncStream.makeStream(of: Void.self)
        let release = AsyncStream.makeStream(of: Void.self)
        func hold(_ worker: UUID...) -> Task<Void, any Error> {
            Task {
                try await holder.transaction { connection in
                    for id in worker { try await connection.query("SELECT 1 FROM link_worker WHERE id = \(id)::uuid FOR UPDATE") }
                    held.continuation.yield()
                    for await _ in release.stream { break }
                }
            }
        }
        var holding = hold(lightest)
        for await _ in held.stream { break }
        let first = try await pool.transaction { try await store.assign(referral: UUID(), site: "ottawa-west-chc", language: "fr", on: $0) }
        #expect(first?.id == next, "the next French speaker, not a wait and not the English speaker")
        release.continuation.yield()
        try await holding.value

        // Both French speakers held: the assignment waits for the best one.
        holding = hold(lightest, next)
        for await _ in held.stream { break }
        let waiting = Task { try await pool.transaction { try await store.assign(referral: UUID(), site: "ottawa-west-chc", language: "fr", on: $0) } }
        try await Task.sleep(for: .milliseconds(300))
        let caseloads = {
            try await pool.withConnection { try await $0.query("SELECT sum(current_caseload)::int AS n FROM link_worker").first!.decode("n", as: Int.self) }
        }
        #expect(try await caseloads() == 7, "nothing assigned while both are held")
        release.continuation.yield()
        try await holding.value
        #expect(try await waiting.value?.id == lightest)
        #expect(try await caseloads() == 8)
        await holder.close()
        await test.tearDown()
    }

    @Test("50 concurrent connection requests for the last 3 seats: exactly 3 succeed; ending a connection frees its seat")
    func lastSeats() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let host = test.host
        let pool = host.components.pool
        let store = CatalogueStore(pool: pool)
        let resource = Catalogue.resource("Atelier tricot", categories: ["loneliness"], seats: 10, taken: 7)
        let referral = received()
        try await pool.withConnection { try await store.save(resource, on: $0) }
        try await pool.transaction { try await Matchmaker(store: store, outbox: host.components.outbox).receive(referral, on: $0) }
        let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
        try await host.application.test(.router) { client in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await client.execute(
                            uri: "/v1/referrals/\(referral.referralID)/connections", method: .post,
                            headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"],
                            body: ByteBuffer(string: #"{"resourceId": "\#(resource.id)"}"#)
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 3)
            #expect(statuses.filter { $0 == .conflict }.count == 47)

            let connection = try await pool.withConnection { try await $0.query("SELECT id FROM connection LIMIT 1").first!.decode("id", as: UUID.self) }
            let patch = { (body: String) in
                try await client.execute(
                    uri: "/v1/connections/\(connection)", method: .patch,
                    headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"], body: ByteBuffer(string: body))
            }
            #expect(try await patch(#"{"status": "attended"}"#).status == .conflict, "proposed cannot jump to attended")
            #expect(try await patch(#"{"status": "dropped"}"#).status == .unprocessableContent, "ending needs a reason")
            #expect(try await patch(#"{"status": "accepted"}"#).status == .ok)
            #expect(try await patch(#"{"status": "dropped", "reason": "moved away"}"#).status == .ok)
            let again = try await client.execute(
                uri: "/v1/referrals/\(referral.referralID)/connections", method: .post,
                headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"resourceId": "\#(resource.id)"}"#))
            #expect(again.status == .created, "the freed seat can be taken again")
        }
        let taken = try await pool.withConnection {
            try await $0.query("SELECT seats_taken FROM community_resource").first!.decode("seats_taken", as: Int.self)
        }
        #expect(taken == 10)
        let events = try await pool.withConnection {
            try await $0.query("SELECT event_type, count(*) AS n FROM outbox GROUP BY event_type").reduce(into: [String: Int]()) {
                $0[try $1.decode("event_type")] = try $1.decode("n")
            }
        }
        #expect(events[ConnectionProposedV1.eventType] == 4)
        #expect(events[ConnectionChangedV1.eventType] == 2)
        // Each change names the resource, its kind and what it is for (the referrer's message says so).
        let changes = try await pool.withConnection {
            try await $0.query("SELECT payload FROM outbox WHERE event_type = \(ConnectionChangedV1.eventType)").map {
                try EventCoding.decoder.decode(ConnectionChangedV1.self, from: Data(try $0.decode("payload", as: String.self).utf8))
            }
        }
        #expect(changes.map(\.to).sorted() == ["accepted", "dropped"])
        #expect(changes.allSatisfy { $0.resourceName == "Atelier tricot" && $0.resourceKind == resource.kind.rawValue && $0.categories == ["loneliness"] })
        await test.tearDown()
    }

    @Test("a referral's connections are listed oldest first with the changes each allows; another site's referral, or none, is 404")
    func listConnections() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let host = test.host
        let pool = host.components.pool
        let store = CatalogueStore(pool: pool)
        let knitting = Catalogue.resource("Atelier tricot", categories: ["loneliness"], seats: 5)
        let walking = Catalogue.resource("Club de marche", categories: ["loneliness"])
        let referral = received()
        let other = received(site: "kingston-chc")
        try await pool.withConnection {
            try await store.save(knitting, on: $0)
            try await store.save(walking, on: $0)
        }
        for event in [referral, other] {
            try await pool.transaction { try await Matchmaker(store: store, outbox: host.components.outbox).receive(event, on: $0) }
        }
        let worker = try await test.token(.linkWorker, site: "ottawa-west-chc")
        let elsewhere = try await test.token(.linkWorker, site: "kingston-chc")
        let referrer = try await test.token(.referrer, site: "ottawa-west-chc")
        struct Listed: Decodable {
            var id: UUID
            var resourceId: UUID
            var resourceName: String
            var status: String
            var reason: String?
            var allowedNext: [String]
        }
        struct Listing: Decodable {
            var referralId: UUID
            var connections: [Listed]
        }
        try await host.application.test(.router) { client in
            func list(_ id: String, _ token: String) async throws -> (HTTPResponse.Status, Listing?) {
                let response = try await client.execute(uri: "/v1/referrals/\(id)/connections", method: .get, headers: [.authorization: "Bearer \(token)"])
                return (response.status, response.status == .ok ? try JSONDecoder().decode(Listing.self, from: Data(String(buffer: response.body).utf8)) : nil)
            }
            let (emptyStatus, empty) = try await list(referral.referralID.uuidString, worker)
            #expect(emptyStatus == .ok && empty?.connections.isEmpty == true && empty?.referralId == referral.referralID)
            var ids: [UUID] = []
            for resource in [knitting, walking] {
                let created = try await client.execute(
                    uri: "/v1/referrals/\(referral.referralID)/connections", method: .post,
                    headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"resourceId": "\#(resource.id)"}"#))
                #expect(created.status == .created)
                struct Created: Decodable { var id: UUID }
                ids.append(try JSONDecoder().decode(Created.self, from: Data(String(buffer: created.body).utf8)).id)
            }
            for body in [#"{"status": "accepted"}"#, #"{"status": "enrolled"}"#] {
                let changed = try await client.execute(
                    uri: "/v1/connections/\(ids[0])", method: .patch, headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"],
                    body: ByteBuffer(string: body))
                #expect(changed.status == .ok)
            }
            let declined = try await client.execute(
                uri: "/v1/connections/\(ids[1])", method: .patch, headers: [.authorization: "Bearer \(worker)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"status": "declined", "reason": "trop loin"}"#))
            #expect(declined.status == .ok)

            // Upper case is the same referral: ids are case-insensitive.
            let (status, listing) = try await list(referral.referralID.uuidString.uppercased(), worker)
            #expect(status == .ok)
            let connections = try #require(listing?.connections)
            #expect(connections.map(\.id) == ids, "oldest first")
            #expect(connections.map(\.resourceName) == ["Atelier tricot", "Club de marche"])
            #expect(connections.map(\.resourceId) == [knitting.id, walking.id])
            #expect(connections[0].status == "enrolled" && connections[0].allowedNext == ["attended", "dropped"] && connections[0].reason == nil)
            #expect(connections[1].status == "declined" && connections[1].allowedNext.isEmpty && connections[1].reason == "trop loin")

            // Another site's link worker learns nothing, not even that the referral exists.
            #expect(try await list(referral.referralID.uuidString, elsewhere).0 == .notFound)
            #expect(try await list(other.referralID.uuidString, elsewhere).0 == .ok)
            #expect(try await list(other.referralID.uuidString, worker).0 == .notFound)
            #expect(try await list(UUID().uuidString, worker).0 == .notFound)
            #expect(try await list("not-a-referral", worker).0 == .notFound)
            #expect(try await list(referral.referralID.uuidString, referrer).0 == .forbidden)
            let anonymous = try await client.execute(uri: "/v1/referrals/\(referral.referralID)/connections", method: .get)
            #expect(anonymous.status == .unauthorized)
        }
        await test.tearDown()
    }

    @Test("a closed referral releases its seats and its link worker's caseload, once")
    func closingReleases() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let host = test.host
        let pool = host.components.pool
        let store = CatalogueStore(pool: pool)
        let resource = Catalogue.resource("Jardin communautaire", categories: ["loneliness"], seats: 5)
        let worker = UUID()
        try await pool.withConnection { connection in
            try await store.save(resource, on: connection)
            try await store.save(
                try LinkWorker(id: worker, name: "Amélie", site: "ottawa-west-chc", languages: ["fr"], caseloadCapacity: 10, currentCaseload: 3), on: connection
            )
        }
        let matchmaker = Matchmaker(store: store, outbox: host.components.outbox)
        let referral = received()
        try await pool.transaction { try await matchmaker.receive(referral, on: $0) }
        let token = try await test.token(.networkCoordinator)
        try await host.application.test(.router) { client in
            let created = try await client.execute(
                uri: "/v1/referrals/\(referral.referralID)/connections", method: .post,
                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: ByteBuffer(string: #"{"resourceId": "\#(resource.id)"}"#))
            #expect(created.status == .created)
        }
        func state() async throws -> (seats: Int, caseload: Int, status: String) {
            try await pool.withConnection { connection in
                let seats = try await connection.query("SELECT seats_taken FROM community_resource").first!.decode("seats_taken", as: Int.self)
                let caseload = try await connection.query("SELECT current_caseload FROM link_worker").first!.decode("current_caseload", as: Int.self)
                let status = try await connection.query("SELECT status FROM connection").first!.decode("status", as: String.self)
                return (seats, caseload, status)
            }
        }
        let before = try await state()
        #expect(before.seats == 1 && before.caseload == 4 && before.status == "proposed")
        let completed = ReferralStatusChangedV1(
            referralID: referral.referralID, referralVersion: 5, site: "ottawa-west-chc", from: "in-progress", to: "completed",
            action: "complete", actorRole: "link-worker", actorID: "lw", reason: nil, outcome: "connected", changedAt: Date())
        for change in [completed, completed] {
            try await pool.transaction { try await matchmaker.statusChanged(change, on: $0) }
        }
        var stale = completed
        stale.referralVersion = 3
        stale.to = "cancelled"
        let older = stale
        try await pool.transaction { try await matchmaker.statusChanged(older, on: $0) }
        let after = try await state()
        #expect(after.seats == 0)
        #expect(after.caseload == 3)
        #expect(after.status == "dropped")
        let change = try await pool.withConnection {
            try await $0.query("SELECT payload FROM outbox WHERE event_type = \(ConnectionChangedV1.eventType)").map {
                try $0.decode("payload", as: String.self)
            }
        }
        #expect(change.count == 1)
        #expect(change.first?.contains("\"from\":\"proposed\"") == true)
        await test.tearDown()
    }

    @Test("an erased client's referral gives back its seat and caseload place, leaves nothing but its id, and a replay of it records nothing")
    func erasureReleasesAndForgets() async throws {
        let test = try await ServiceTestHost.make(MatchingService.self)
        let host = test.host
        let pool = host.components.pool
        let store = CatalogueStore(pool: pool)
        let resource = Catalogue.resource("Jardin communautaire", categories: ["loneliness"], seats: 5)
        let worker = UUID()
        try await pool.withConnection { connection in
            try await store.save(resource, on: connection)
            try await store.save(
                try LinkWorker(id: worker, name: "Amélie", site: "ottawa-west-chc", languages: ["fr"], caseloadCapacity: 10, currentCaseload: 3), on: connection
            )
        }
        let matchmaker = Matchmaker(store: store, outbox: host.components.outbox)
        let handler = MatchingService.eventHandlers(matchmaker).handler
        func handle(_ payload: some EventPayload) async throws {
            let event = try CloudEvent(payload, source: "/test")
            try await pool.transaction { try await handler(ConsumedEvent(event: event, topic: "t", partition: 0, offset: 0, key: event.subject), $0) }
        }
        let referral = received()
        try await handle(referral)
        let token = try await test.token(.coordinator)
        try await host.application.test(.router) { client in
            let created = try await client.execute(
                uri: "/v1/referrals/\(referral.referralID)/connections", method: .post,
                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: ByteBuffer(string: #"{"resourceId": "\#(resource.id)"}"#))
            #expect(created.status == .created)
        }
        func count(_ sql: String) async throws -> Int {
            try await pool.withConnection { try await $0.query(PostgresQuery(unsafeSQL: sql)).first!.decode("n", as: Int.self) }
        }
        #expect(try await count("SELECT seats_taken AS n FROM community_resource") == 1)
        #expect(try await count("SELECT current_caseload AS n FROM link_worker") == 4)
        let erased = ClientErasedV1(referralID: referral.referralID, clientID: referral.clientID, erasedAt: Date())
        try await handle(erased)
        try await handle(erased)  // a second copy (another id) changes nothing
        #expect(try await count("SELECT seats_taken AS n FROM community_resource") == 0)
        #expect(try await count("SELECT current_caseload AS n FROM link_worker") == 3)
        for table in ["referral_intake", "referral_match", "assignment", "connection", "rematch"] {
            #expect(try await count("SELECT count(*)::int AS n FROM \(table)") == 0, "\(table) forgot the referral")
        }
        // The same referral again, from a replay of the topic: not recorded, not assigned.
        try await handle(referral)
        #expect(try await count("SELECT count(*)::int AS n FROM referral_intake") == 0)
        #expect(try await count("SELECT current_caseload AS n FROM link_worker") == 3)
        #expect(try await count("SELECT count(*)::int AS n FROM erased_referral") == 1)
        await test.tearDown()
    }
}

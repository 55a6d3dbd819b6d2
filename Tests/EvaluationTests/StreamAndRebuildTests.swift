import Contracts
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KafkaClient
import Logging
import PostgresClient
import ServiceRuntime
import TestSupport
import Testing

@testable import EvaluationService

@Suite("Analyst pseudonyms")
struct PseudonymTests {
    @Test("a pseudonym is the lowercase hex HMAC-SHA256 of kind:id under the key (checked against Python's hmac)")
    func hmacReference() throws {
        let key = try PseudonymKey("analyst-pseudonym-key-for-tests-0123456789")
        let id = try #require(UUID(uuidString: "5F0C6A52-3B2E-4F8E-9A3D-1C2B3A4D5E6F"))
        #expect(key.pathway(id) == "9b9c25e75b76eb75e0e4cac2bdc137bfe3cc3ef254347f935bc1be80c44144be")
        #expect(key.client(id) == "e3cef1055427177fda634de059093b43cb2e849f55292dcd1eeb8fd00066af8f")
        #expect(key.pathway(id) == key.pathway(id))  // the keyed state is copied, not consumed
        #expect(throws: PseudonymKeyError.self) { try PseudonymKey("too short") }
    }
}

@Suite("Evaluation: the analyst stream and the rebuild, against the broker", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(3)))
struct StreamAndRebuildTests {
    /// The running service on a schema, topics and consumer group of its own.
    struct Deployment {
        let settings: ServiceSettings
        let host: ServiceHost
        let schema: String

        static func make() async throws -> Deployment {
            let id = UUID().uuidString.prefix(8).lowercased()
            var database = TestEnvironment.postgresConfiguration()
            database.schema = "evaluation_\(id)"
            let topics = TopicNames(prefix: "evaluation-\(id).")
            let settings = ServiceSettings(
                serviceName: "evaluation", httpPort: 0, postgres: database, kafka: TestEnvironment.kafkaConfiguration, topics: topics,
                consumerGroup: "evaluation-\(id)", auth: AuthSettings(hmacSecret: "stream-tests-secret-0123456789-abcdef-0123"), logLevel: .warning,
                environment: Environment([PseudonymKey.variable: Fixture.pseudonymKey]))
            try await KafkaTopicAdmin.createTopics(
                topics.provisioning.map { KafkaTopicSpecification(name: $0.name, partitions: 3, configs: $0.configs) },
                configuration: TestEnvironment.kafkaConfiguration, logger: TestEnvironment.logger)
            let host = try await ServiceHost.build(EvaluationService.self, settings: settings, logger: TestEnvironment.logger)
            try await SchemaMigrator(schema: database.schema!, migrations: EvaluationService.migrations).migrate(
                host.components.pool, logger: TestEnvironment.logger)
            return Deployment(settings: settings, host: host, schema: database.schema!)
        }

        var pool: PostgresConnectionPool { host.components.pool }

        func publish(_ payloads: [any EventPayload]) async throws {
            for payload in payloads {
                let event = try CloudEvent(payload, source: "/test")
                _ = try await host.components.producer.send(
                    topic: settings.topics.name(type(of: payload).topic), key: Array(payload.subject.utf8), value: event.data,
                    headers: event.headers.map { KafkaHeader(key: $0.key, text: $0.value) })
            }
        }

        func count(_ sql: String) async throws -> Int {
            try await pool.withConnection { try await $0.query(PostgresQuery(unsafeSQL: sql)).first!.decode("n", as: Int.self) }
        }

        /// Waits until the live consumer has processed `events` events in all.
        func processed(_ events: Int) async throws {
            let done = try await eventually(timeout: .seconds(60)) { try await count("SELECT count(*) AS n FROM processed_events") >= events }
            let seen = try await count("SELECT count(*) AS n FROM processed_events")
            #expect(done, "the consumer processed \(seen) of \(events) events")
        }

        /// The projection's tables as text, for comparing.
        func snapshot() async throws -> [String] {
            try await pool.withConnection { connection in
                let pathways = try await connection.query("SELECT to_jsonb(p)::text AS row FROM pathway p ORDER BY referral_id")
                let unmet = try await connection.query("SELECT to_jsonb(u)::text AS row FROM unmet_need u ORDER BY referral_id, category")
                return try (Array(pathways) + Array(unmet)).map { try $0.decode("row", as: String.self) }
            }
        }

        /// Every record on the analyst topic.
        func analystMessages() async throws -> [KafkaMessage] {
            let topic = settings.topics.name(.evaluation)
            let offsets = try await KafkaTopicAdmin.offsets(of: [topic], configuration: settings.kafka, logger: TestEnvironment.logger)
            let consumer = try KafkaConsumer(
                configuration: KafkaConsumerConfiguration(kafka: settings.kafka, groupID: "scan-\(UUID())"),
                reading: offsets.mapValues { _ in KafkaPartitionOffsets.beginning }, logger: TestEnvironment.logger)
            var messages: [KafkaMessage] = []
            var positions: [TopicPartition: Int64] = [:]
            var iterator = consumer.messages.makeAsyncIterator()
            #expect(await iterator.read(to: offsets, positions: &positions) { messages.append(contentsOf: $0) })
            await consumer.close()
            return messages
        }

        func tearDown() async {
            _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: schema) CASCADE") }
        }
    }

    @Test("only consenting clients reach the analyst stream, de-identified; the rebuild equals the live projection")
    func streamAndRebuild() async throws {
        let deployment = try await Deployment.make()
        let host = deployment.host
        let running = Task { try await host.run() }
        let (a, b, c, d) = (UUID(), UUID(), UUID(), UUID())
        let clients = [a: UUID(), b: UUID(), c: UUID(), d: UUID()]
        let t0 = Date(timeIntervalSince1970: 1_795_000_000)
        func at(_ hours: Double) -> Date { t0.addingTimeInterval(hours * 3600) }
        let freeText = "Connected to the walking club thanks to Marie Tremblay"

        try await deployment.publish([
            Fixture.received(a, client: clients[a]!, ageBand: "75+", area: "K1Y", at: t0),
            Fixture.status(a, 2, "received", "accepted", at: at(2)),
            Fixture.status(a, 3, "accepted", "in-progress", at: at(20)),
            Fixture.received(b, client: clients[b]!, evaluationUse: false, at: t0),
            Fixture.status(b, 2, "received", "accepted", at: at(3)),
            Fixture.received(c, client: clients[c]!, at: t0),
            ClientConsentChangedV1(
                referralID: c, clientID: clients[c]!, clientVersion: 2,
                consent: Consent(contact: true, shareWithPartners: false, evaluationUse: false), changedAt: at(1)),
            Fixture.status(c, 2, "received", "accepted", at: at(4)),
            Fixture.received(d, client: clients[d]!, at: t0),
            ClientErasedV1(referralID: d, clientID: clients[d]!, erasedAt: at(5)),
        ])
        try await deployment.processed(10)
        let connection = UUID()
        let resource = UUID()
        let goal = UUID()
        try await deployment.publish([
            ConnectionProposedV1(
                connectionID: connection, referralID: a, referralVersion: 3, resourceID: resource, resourceKind: "health-champion-group",
                categories: ["loneliness"], proposedAt: at(21)),
            ConnectionChangedV1(
                connectionID: connection, referralID: a, referralVersion: 3, resourceID: resource, from: "accepted", to: "enrolled",
                reason: nil, changedAt: at(48)),
            NeedUnmetV1(referralID: a, referralVersion: 3, site: Fixture.site, categories: ["housing"], reason: "none nearby", area: "K1Y", recordedAt: at(21)),
            NeedUnmetV1(referralID: b, referralVersion: 2, site: Fixture.site, categories: ["income"], reason: "none nearby", area: "K2P", recordedAt: at(21)),
            // Casework: counts and codes for the reports, nothing for the analyst stream; the
            // erased client's is dropped.
            ContactLoggedV1(
                referralID: a, referralVersion: 4, site: Fixture.site, contactID: UUID(), mode: .phone, party: .client, reached: true, minutes: 20,
                occurredAt: at(22)),
            GoalSetV1(
                referralID: a, referralVersion: 5, site: Fixture.site, goalID: goal, lifeDomain: try LifeDomain(code: "social-connection"),
                progress: .notStarted, setAt: at(23)),
            GoalReviewedV1(
                referralID: a, referralVersion: 6, site: Fixture.site, goalID: goal, lifeDomain: try LifeDomain(code: "social-connection"),
                previousProgress: .notStarted, progress: .achieved, reviewedAt: at(300)),
            ContactLoggedV1(
                referralID: b, referralVersion: 3, site: Fixture.site, contactID: UUID(), mode: .inPerson, party: .client, reached: false, minutes: 0,
                occurredAt: at(22)),
            ContactLoggedV1(
                referralID: d, referralVersion: 2, site: Fixture.site, contactID: UUID(), mode: .phone, party: .client, reached: true, minutes: 15,
                occurredAt: at(22)),
        ])
        try await deployment.processed(19)
        #expect(try await deployment.count("SELECT count(*) AS n FROM pathway WHERE contacts_logged = 1 AND goal_progress = '{achieved}'") == 1)
        #expect(try await deployment.count("SELECT count(*) AS n FROM pathway WHERE contacts_logged > 0") == 2)
        try await deployment.publish([Fixture.status(a, 7, "in-progress", "completed", at: at(400), outcome: freeText)])
        try await deployment.processed(20)

        let secret = "stream-tests-secret-0123456789-abcdef-0123"
        let coordinator = try await TokenVerifier(settings: AuthSettings(hmacSecret: secret))
            .sign(AccessClaims(subject: "coordinator", roles: [.networkCoordinator], site: nil, expires: Date().addingTimeInterval(600)))
        try await host.application.test(.router) { client in
            for (referral, timepoint) in [(a, "baseline"), (a, "follow-up-6w"), (b, "baseline")] {
                let response = try await client.execute(
                    uri: "/v1/referrals/\(referral)/outcomes", method: .post,
                    headers: [.authorization: "Bearer \(coordinator)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"instrument": "ons4", "timepoint": "\#(timepoint)", "answers": [7, 8, 6, 3]}"#))
                #expect(response.status == .created)
            }
        }
        let drained = try await eventually(timeout: .seconds(30)) { try await deployment.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL") == 0 }
        #expect(drained)

        // The analyst stream.
        let key = try PseudonymKey(Fixture.pseudonymKey)
        let messages = try await deployment.analystMessages()
        let identifying =
            clients.flatMap { [$0.key, $0.value] }.flatMap { [$0.uuidString.lowercased(), $0.uuidString] }
            + ["dr-\(Fixture.site)", "Marie", "walking club", "none nearby", "sms", "walking"]
        var pathways: [String: [PathwayUpdatedV1]] = [:]
        var outcomes: [OutcomeRecordedV1] = []
        var retracted: [String] = []
        for message in messages {
            let text =
                String(decoding: message.value ?? [], as: UTF8.self) + (message.keyText ?? "")
                + message.headers.compactMap(\.text).joined(separator: " ")
            for value in identifying { #expect(!text.contains(value), "\(value) found on the analyst topic") }
            let event = try CloudEvent(
                headers: Dictionary(message.headers.compactMap { h in h.text.map { (h.key, $0) } }, uniquingKeysWith: { $1 }), data: message.value)
            switch event.type {
            case PathwayUpdatedV1.eventType:
                let update = try event.decode(PathwayUpdatedV1.self)
                pathways[update.pathway, default: []].append(update)
            case OutcomeRecordedV1.eventType: outcomes.append(try event.decode(OutcomeRecordedV1.self))
            case PathwayRetractedV1.eventType: retracted.append(try event.decode(PathwayRetractedV1.self).pathway)
            default: Issue.record("unexpected \(event.type) on the analyst topic")
            }
        }
        #expect(Set(pathways.keys) == [key.pathway(a), key.pathway(c), key.pathway(d)])
        #expect(pathways[key.pathway(b)] == nil, "a client without evaluation consent reached the stream")
        #expect(pathways[key.pathway(c)]?.map(\.status) == ["received"], "the stream went on after consent was withdrawn")
        #expect(pathways[key.pathway(d)]?.map(\.status) == ["received"])
        let last = try #require(pathways[key.pathway(a)]?.max { $0.updatedAt < $1.updatedAt })
        #expect(last.status == "completed")
        #expect(last.client == key.client(clients[a]!))
        // The only consenting client of their age band at the site: area, language and age band stay home.
        #expect(last.ageBand == nil && last.area == nil && last.language == nil && last.connectionCount == 1)
        // Every time is the start of its week: Monday 16 November 2026, 00:00 in Toronto.
        let week = Date(timeIntervalSince1970: 1_794_805_200)
        let closingWeek = week.addingTimeInterval(14 * 86_400)
        #expect(
            [last.receivedAt, last.acceptedAt, last.firstContactAt, last.connectedAt, last.closedAt, last.updatedAt]
                == [week, week, week, week, closingWeek, closingWeek])
        #expect(retracted == [key.pathway(d)], "the erased client's pathway was not retracted")
        #expect(last.closureOutcome == nil, "free text travelled as a closure outcome")
        #expect(outcomes.count == 2 && outcomes.allSatisfy { $0.pathway == key.pathway(a) })

        // The rebuild.
        let live = try await deployment.snapshot()
        #expect(live.count == 5)  // a, b, c; unmet housing (a), income (b)
        let outbox = try await deployment.count("SELECT count(*) AS n FROM outbox")
        let summary = try await ProjectionRebuild(settings: deployment.settings, pool: deployment.pool, logger: TestEnvironment.logger).run()
        #expect(summary.events == 20)
        #expect(summary.pathways == 3)
        #expect(try await deployment.snapshot() == live)
        #expect(try await deployment.count("SELECT count(*) AS n FROM outbox") == outbox, "the rebuild republished what analysts already have")
        #expect(try await deployment.count("SELECT count(*) AS n FROM outcome_measure") == 3)

        await host.shutdown()
        try await running.value
        await deployment.tearDown()
    }

    @Test("the rebuild records what the live consumer had not reached and catches up with events published while it reads")
    func rebuildCatchesUp() async throws {
        let deployment = try await Deployment.make()
        let (a, b, c) = (UUID(), UUID(), UUID())
        let t0 = Date(timeIntervalSince1970: 1_795_000_000)
        // The live consumer is not running: none of these is processed before the rebuild.
        try await deployment.publish([
            Fixture.received(a, at: t0),
            Fixture.status(a, 2, "received", "accepted", at: t0.addingTimeInterval(3_600)),
            Fixture.received(b, at: t0),
        ])
        // One connection cannot both load the tables and hold the swap: refused, not deadlocked.
        var single = deployment.settings.postgres
        single.poolSize = 1
        let small = PostgresConnectionPool(configuration: single, logger: TestEnvironment.logger)
        await #expect(throws: ProjectionRebuildError.self) {
            try await ProjectionRebuild(settings: deployment.settings, pool: small, logger: TestEnvironment.logger).run()
        }
        await small.close()
        var rebuild = try ProjectionRebuild(settings: deployment.settings, pool: deployment.pool, logger: TestEnvironment.logger)
        // Published after the first reading: the swapping transaction must read them and
        // rewrite the pathways they change in the tables already loaded.
        rebuild.beforeSwapping = {
            try await deployment.publish([
                Fixture.status(a, 3, "accepted", "in-progress", at: t0.addingTimeInterval(7_200)),
                ClientErasedV1(referralID: b, clientID: UUID(), erasedAt: t0.addingTimeInterval(7_200)),
                Fixture.received(c, at: t0.addingTimeInterval(7_200)),
            ])
        }
        let summary = try await rebuild.run()
        #expect(summary.events == 6 && summary.pathways == 2)
        let statuses = try await deployment.pool.withConnection { connection in
            try await connection.query("SELECT referral_id, status FROM pathway").map {
                (try $0.decode("referral_id", as: UUID.self), try $0.decode("status", as: String.self))
            }
        }
        #expect(Dictionary(uniqueKeysWithValues: statuses) == [a: "in-progress", c: "received"])
        #expect(try await deployment.count("SELECT count(*) AS n FROM processed_events") == 6)
        // Every pathway the rebuild saw first (consenting clients) went to the analysts.
        // …and b, erased while the rebuild read, was retracted.
        #expect(try await deployment.count("SELECT count(*) AS n FROM outbox") == 3)
        #expect(try await deployment.count("SELECT count(*) AS n FROM outbox WHERE event_type = 'passerelle.pathway.retracted.v1'") == 1)

        // The live consumer then skips all six and carries on from there.
        let rebuilt = try await deployment.snapshot()
        let running = Task { try await deployment.host.run() }
        try await deployment.publish([Fixture.status(c, 2, "received", "accepted", at: t0.addingTimeInterval(9_000))])
        try await deployment.processed(7)
        let after = try await deployment.snapshot()
        #expect(after.count == rebuilt.count && after.filter { !rebuilt.contains($0) }.count == 1, "only c's pathway changed")
        await deployment.host.shutdown()
        try await running.value
        await deployment.tearDown()
    }

}

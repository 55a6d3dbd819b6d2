import Contracts
import Foundation
import KafkaClient
import Messaging
import MetricsTestKit
import PostgresClient
import TestSupport
import Testing

/// Rows that can never be published, and rows published long ago, against the real broker.
@Suite("Outbox dead letters and purge", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct OutboxLifecycleTests {
    let logger = TestEnvironment.logger

    func append(_ fixture: MessagingFixture, key: String, bytes: Int = 8, topic: String? = nil) async throws -> Int64 {
        try await fixture.pool.transaction { connection in
            let body = "{\"pad\":\"" + String(repeating: "x", count: bytes) + "\"}"
            let event = CloudEvent(source: "/passerelle/test", type: "passerelle.test.v1", subject: key, data: Array(body.utf8))
            try await fixture.outbox.append(event, topic: topic ?? fixture.topic, key: key, on: connection)
            return try await connection.query("SELECT currval(pg_get_serial_sequence('outbox', 'id')) AS id").first!.decode("id", as: Int64.self)
        }
    }

    func state(_ fixture: MessagingFixture) async throws -> [Int64: (sent: Bool, dead: Bool, error: String?)] {
        try await fixture.pool.withConnection { connection in
            var states: [Int64: (sent: Bool, dead: Bool, error: String?)] = [:]
            for row in try await connection.query("SELECT id, sent_at IS NOT NULL AS sent, dead_lettered_at IS NOT NULL AS dead, last_error FROM outbox") {
                states[try row.decode("id")] = (try row.decode("sent"), try row.decode("dead"), try row.decode("last_error", as: String?.self))
            }
            return states
        }
    }

    @Test("a record larger than the broker accepts is dead-lettered with the rows after it on its key; other keys flow on")
    func oversizedRecord() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        let metrics = TestMetrics()
        let relay = OutboxRelay(
            pool: fixture.pool, producer: fixture.producer, schema: fixture.schema, gate: fixture.gate, batchSize: 100, metrics: metrics, logger: logger)
        // Key a: one fine, one over message.max.bytes (1 MB), two fine after it; key b around them.
        let a1 = try await append(fixture, key: "a")
        let b1 = try await append(fixture, key: "b")
        let a2 = try await append(fixture, key: "a", bytes: 1_200_000)
        let a3 = try await append(fixture, key: "a")
        let b2 = try await append(fixture, key: "b")
        let a4 = try await append(fixture, key: "a")

        let round = try await relay.publishBatch()
        #expect(round.published == 3)
        #expect(round.deadLettered == 3)
        var states = try await state(fixture)
        #expect([a1, b1, b2].allSatisfy { states[$0]?.sent == true })
        #expect([a2, a3, a4].allSatisfy { states[$0]?.dead == true && states[$0]?.sent == false })
        #expect(states[a2]?.error?.contains("too large") == true, "\(states[a2]?.error ?? "-")")
        #expect(states[a3]?.error?.contains("behind dead-lettered outbox row \(a2)") == true, "\(states[a3]?.error ?? "-")")

        // Later rows of the dead-lettered key follow it without being sent; other keys do not.
        let a5 = try await append(fixture, key: "a")
        let b3 = try await append(fixture, key: "b")
        let next = try await relay.publishBatch()
        #expect(next.published == 1 && next.deadLettered == 1)
        states = try await state(fixture)
        #expect(states[a5]?.dead == true && states[b3]?.sent == true)
        // Nothing is retried again: the round after finds nothing to do.
        #expect(try await relay.publishBatch() == OutboxRelay.Round(published: 0, failed: 0))

        // Read until the four records expected are in (a read waiting for a fifth ran out its whole
        // bound, and on a busy machine the reader's group had not joined within it); the read after
        // the requeue below sees anything more.
        let onTopic = try await fixture.readAll(fixture.topic, expected: 4, timeout: .seconds(30))
        #expect(onTopic.map { $0.keyText ?? "" } == ["a", "b", "b", "b"], "only a1 of key a, before everything of b that came after")
        let backlog = try await relay.recordBacklog()
        #expect(backlog.waitingRows == 0 && backlog.deadLetterRows == 4)
        let dimensions = [("schema", fixture.schema)]
        #expect(try metrics.expectCounter("passerelle_outbox_dead_letter_total", dimensions).totalValue == 4)
        #expect(try metrics.expectGauge("passerelle_outbox_dead_letter_rows", dimensions).lastValue == 4)

        // Requeued by an operator (after raising the limit, or rewriting the row): published, in order.
        try await fixture.pool.withConnection { connection in
            try await connection.query("UPDATE outbox SET payload = '{}', dead_lettered_at = NULL, refusals = 0 WHERE id = \(a2)")
            try await connection.query("UPDATE outbox SET dead_lettered_at = NULL, refusals = 0 WHERE id > \(a2) AND record_key = 'a'")
        }
        #expect(try await relay.publishBatch().published == 4)
        let after = try await fixture.readAll(fixture.topic, expected: 8, timeout: .seconds(30))
        #expect(after.count == 8 && after.suffix(4).map { $0.keyText ?? "" } == ["a", "a", "a", "a"])
        await fixture.tearDown()
    }

    @Test("a topic that does not exist is retried, then dead-lettered after the configured refusals; the producer survives")
    func missingTopic() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        var kafka = TestEnvironment.kafkaConfiguration
        kafka.properties["topic.metadata.propagation.max.ms"] = "500"
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka, messageTimeoutMilliseconds: 5_000), logger: logger)
        let relay = OutboxRelay(
            pool: fixture.pool, producer: producer, schema: fixture.schema, gate: fixture.gate, maximumRefusals: 3, logger: logger)
        let missing = "test.missing.\(UUID().uuidString.lowercased())"
        let lost = try await append(fixture, key: "c", topic: missing)
        let behind = try await append(fixture, key: "c", topic: missing)
        let elsewhere = try await append(fixture, key: "c")
        var rounds = 0
        while try await state(fixture)[lost]?.dead == false && rounds < 10 {
            try await relay.publishBatch()
            rounds += 1
        }
        let states = try await state(fixture)
        #expect(rounds == 3, "dead-lettered at the third refusal")
        #expect(states[lost]?.dead == true && states[behind]?.dead == true)
        #expect(states[elsewhere]?.sent == true, "the same key on another topic is another order")
        await producer.close()
        await fixture.tearDown()
    }

    @Test("published rows past the retention are purged in batches by the relay's background work; unsent and dead-lettered rows stay")
    func purge() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        for index in 0..<250 { _ = try await append(fixture, key: "k\(index % 7)") }
        let relay = OutboxRelay(
            pool: fixture.pool, producer: fixture.producer, schema: fixture.schema, gate: fixture.gate, batchSize: 100,
            retention: OutboxRetention(
                published: .seconds(7 * 24 * 3600), processedEvents: .seconds(30 * 24 * 3600), interval: .milliseconds(200), batchSize: 40),
            logger: logger)
        while try await relay.publishBatch().published > 0 {}
        #expect(try await fixture.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NOT NULL") == 250)
        // Published eight days ago, all but the last ten; one row never sent, one dead-lettered, as old.
        try await fixture.pool.withConnection { connection in
            try await connection.query(
                "UPDATE outbox SET sent_at = sent_at - interval '8 days', created_at = created_at - interval '8 days' WHERE id <= (SELECT max(id) - 10 FROM outbox)"
            )
            try await connection.query(
                """
                INSERT INTO outbox (event_id, event_type, topic, record_key, headers, payload, created_at, dead_lettered_at)
                VALUES (gen_random_uuid(), 't', 'x', 'old-unsent', '{}', '{}', now() - interval '9 days', NULL),
                       (gen_random_uuid(), 't', 'x', 'old-dead', '{}', '{}', now() - interval '9 days', now() - interval '9 days')
                """)
            try await connection.query(
                """
                INSERT INTO processed_events (consumer, event_id, event_type, topic, partition, record_offset, processed_at)
                SELECT 'c', gen_random_uuid(), 't', 'x', 0, n, now() - make_interval(days => CASE WHEN n % 2 = 0 THEN 31 ELSE 29 END)
                FROM generate_series(1, 100) AS n
                """)
        }
        // Six full batches of 40, then one that finds nothing more.
        let first = try await relay.purge()
        #expect(first == OutboxRelay.Purge(outboxRows: 240, processedEvents: 50))
        #expect(try await fixture.count("SELECT count(*) AS n FROM outbox") == 12)
        #expect(try await fixture.count("SELECT count(*) AS n FROM outbox WHERE record_key IN ('old-unsent', 'old-dead')") == 2)
        #expect(try await fixture.count("SELECT count(*) AS n FROM processed_events WHERE processed_at > now() - interval '30 days'") == 50)
        #expect(try await fixture.count("SELECT count(*) AS n FROM processed_events") == 50)

        // The running relay does it by itself.
        try await fixture.pool.withConnection { try await $0.query("UPDATE outbox SET sent_at = sent_at - interval '8 days' WHERE sent_at IS NOT NULL") }
        try await withRunning([relay]) {
            let purged = try await eventually(timeout: .seconds(10)) {
                try await fixture.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NOT NULL") == 0
            }
            #expect(purged)
        }
        #expect(try await fixture.count("SELECT count(*) AS n FROM outbox") == 2)
        await fixture.tearDown()
    }
}

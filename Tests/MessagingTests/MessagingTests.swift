import Contracts
import Foundation
import KafkaClient
import Logging
import Messaging
import PostgresClient
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// A schema with the messaging tables and a table the test handler writes to.
struct MessagingFixture {
    let schema: String
    let pool: PostgresConnectionPool
    let producer: KafkaProducer
    let topic: String
    let outbox: Outbox
    let gate = ReadinessGate()
    let logger = TestEnvironment.logger

    static func make(partitions: Int = 3) async throws -> MessagingFixture {
        let schema = TestEnvironment.uniqueName("msg")
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(schema: schema), logger: TestEnvironment.logger)
        try await SchemaMigrator(
            schema: schema,
            migrations: [
                MessagingSchema.migration,
                Migration(2, "effects", "CREATE TABLE effect (event_id uuid NOT NULL, referral text NOT NULL)"),
                MessagingSchema.publicationRecord(version: 3),
            ]
        ).migrate(pool, logger: TestEnvironment.logger)
        let topic = try await TestEnvironment.makeTopic("msg", partitions: partitions)
        try await KafkaTopicAdmin.createTopics(
            [KafkaTopicSpecification(name: topic + ".dlq", partitions: 1)], configuration: TestEnvironment.kafkaConfiguration, logger: TestEnvironment.logger)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: TestEnvironment.kafkaConfiguration), logger: TestEnvironment.logger)
        let fixture = MessagingFixture(
            schema: schema, pool: pool, producer: producer, topic: topic,
            outbox: Outbox(topics: TopicNames(), source: "/passerelle/test", wakeUpChannel: MessagingSchema.channel(schema: schema)))
        fixture.gate.open()
        return fixture
    }

    func appendEvent(referral: UUID, on connection: PostgresConnection) async throws -> CloudEvent {
        let event = CloudEvent(source: "/passerelle/test", type: "passerelle.test.v1", subject: referral.uuidString, data: Array("{\"n\":1}".utf8))
        try await outbox.append(event, topic: topic, key: referral.uuidString, on: connection)
        return event
    }

    func relay(pollInterval: Duration = .milliseconds(200)) -> OutboxRelay {
        OutboxRelay(pool: pool, producer: producer, schema: schema, gate: gate, batchSize: 100, pollInterval: pollInterval, logger: logger)
    }

    func consumer(
        group: String, concurrency: Int = 1,
        handler: @escaping IdempotentConsumer.Handler = { event, connection in
            try await connection.query("INSERT INTO effect VALUES (\(event.event.id)::uuid, \(event.event.subject))")
        }
    ) -> IdempotentConsumer {
        IdempotentConsumer(
            name: group, topics: [topic], configuration: TestEnvironment.consumerConfiguration(group: group), pool: pool,
            producer: producer, gate: gate, maxAttempts: 3, concurrency: concurrency, logger: logger, handler: handler)
    }

    func count(_ sql: PostgresQuery) async throws -> Int {
        try await pool.withConnection { try await $0.query(sql).first!.decode("n", as: Int.self) }
    }

    /// Reads every record of `topic` from the beginning with a fresh group, until `expected` arrive or time runs out.
    func readAll(_ topic: String, expected: Int, timeout: Duration = .seconds(15)) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(group: TestEnvironment.uniqueName("reader")), topics: [topic], logger: logger)
        let collected = Task {
            var messages: [KafkaMessage] = []
            for await message in consumer.messages {
                messages.append(message)
                if messages.count >= expected { break }
            }
            return messages
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            consumer.stopDelivering()
        }
        let messages = await collected.value
        timer.cancel()
        await consumer.close()
        return messages
    }

    func tearDown() async {
        await producer.close()
        _ = try? await pool.withConnection { try await $0.query("DROP SCHEMA \(identifier: schema) CASCADE") }
        await pool.close()
    }
}

/// Runs services in a group for the duration of `body`, then shuts them down gracefully.
func withRunning<T: Sendable>(_ services: [any Service], _ body: @Sendable () async throws -> T) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: TestEnvironment.logger))
    let running = Task { try await group.run() }
    do {
        let result = try await body()
        await group.triggerGracefulShutdown()
        try await running.value
        return result
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        throw error
    }
}

@Suite("Outbox relay and idempotent consumer", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct MessagingTests {
    @Test("a rolled-back transaction publishes nothing; a committed one is published once, in order per key")
    func outboxPublishesCommittedOnly() async throws {
        let fixture = try await MessagingFixture.make()
        let referral = UUID()
        await #expect(throws: PostgresError.self) {
            try await fixture.pool.transaction { connection in
                _ = try await fixture.appendEvent(referral: UUID(), on: connection)
                try await connection.query("SELECT 1/0")
            }
        }
        var committed: [UUID] = []
        for _ in 0..<5 {
            let event = try await fixture.pool.transaction { try await fixture.appendEvent(referral: referral, on: $0) }
            committed.append(event.id)
        }
        let relay = fixture.relay()
        try await withRunning([relay]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL") == 0 }
            #expect(done)
        }
        let messages = try await fixture.readAll(fixture.topic, expected: 6, timeout: .seconds(15))
        #expect(messages.count == 5)
        #expect(messages.compactMap { $0.header("ce_id").flatMap(UUID.init(uuidString:)) } == committed)
        #expect(Set(messages.map(\.partition)).count == 1)
        #expect(messages.allSatisfy { $0.header("ce_type") == "passerelle.test.v1" && $0.keyText == referral.uuidString })
        // Each row keeps where the broker acknowledged it: exactly where the record is read back.
        let acknowledged = try await fixture.pool.withConnection { connection in
            try await connection.query("SELECT event_id, sent_partition, sent_offset FROM outbox WHERE sent_at IS NOT NULL").map { row in
                (try row.decode("event_id", as: UUID.self), try row.decode("sent_partition", as: Int32.self), try row.decode("sent_offset", as: Int64.self))
            }
        }
        #expect(acknowledged.count == 5)
        for (eventID, partition, offset) in acknowledged {
            let record = messages.first { $0.header("ce_id").flatMap(UUID.init(uuidString:)) == eventID }
            #expect(record?.partition == partition && record?.offset == offset, "event \(eventID) acknowledged at \(partition)/\(offset)")
        }
        await fixture.tearDown()
    }

    @Test("events published twice (relay died before marking them) take effect once")
    func relayCrashIsAbsorbed() async throws {
        let fixture = try await MessagingFixture.make()
        for _ in 0..<10 {
            try await fixture.pool.transaction { _ = try await fixture.appendEvent(referral: UUID(), on: $0) }
        }
        let relay = fixture.relay()
        // First round "crashes" after the delivery reports; the second publishes the same rows again.
        let first = try await relay.publishBatch(markAsSent: false)
        #expect(first.published == 10)
        let second = try await relay.publishBatch()
        #expect(second.published == 10)
        #expect(try await fixture.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL") == 0)

        let group = TestEnvironment.uniqueName("consumer")
        try await withRunning([fixture.consumer(group: group)]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM processed_events") == 10 }
            #expect(done)
            // Give the duplicates time to arrive and be skipped.
            try await Task.sleep(for: .seconds(1))
        }
        #expect(try await fixture.count("SELECT count(*) AS n FROM effect") == 10)
        #expect(try await fixture.count("SELECT count(DISTINCT event_id) AS n FROM effect") == 10)
        let onTopic = try await fixture.readAll(fixture.topic, expected: 20, timeout: .seconds(15))
        #expect(onTopic.count == 20, "both publications reached the topic")
        await fixture.tearDown()
    }

    @Test("transactions that commit out of id order are all published")
    func commitOrderRace() async throws {
        let fixture = try await MessagingFixture.make()
        let relay = fixture.relay()
        // A takes the lower id first but commits last; the relay runs in between.
        let aInserted = ReadinessGate()
        let releaseA = ReadinessGate()
        let slow = Task {
            try await fixture.pool.transaction { connection in
                _ = try await fixture.appendEvent(referral: UUID(), on: connection)
                _ = try await connection.query("SELECT 1")  // sends the held insert: A has its id now
                aInserted.open()
                await releaseA.wait()
            }
        }
        await aInserted.wait()
        try await fixture.pool.transaction { _ = try await fixture.appendEvent(referral: UUID(), on: $0) }
        let beforeA = try await relay.publishBatch()
        #expect(beforeA.published == 1)
        releaseA.open()
        try await slow.value
        let afterA = try await relay.publishBatch()
        #expect(afterA.published == 1, "the lower id that committed later is not skipped")
        let ids = try await fixture.pool.withConnection {
            try await $0.query("SELECT id FROM outbox ORDER BY sent_at").map { try $0.decode("id", as: Int.self) }
        }
        #expect(ids.count == 2 && ids[0] > ids[1])
        await fixture.tearDown()
    }

    @Test("a commit woken while another relay holds the round publishes once that round ends, not at the next poll")
    func wakeUpWhileAnotherRelayRounds() async throws {
        let fixture = try await MessagingFixture.make()
        // Polling alone would take a minute: only the wake-up and the retry can publish in time.
        let relay = fixture.relay(pollInterval: .seconds(60))
        try await withRunning([relay]) {
            try await Task.sleep(for: .milliseconds(300))  // the relay's first round is over
            // Another replica's relay is in a round: it holds the schema's relay lock.
            let holding = ReadinessGate()
            let release = ReadinessGate()
            let otherRound = Task {
                try await fixture.pool.transaction { connection in
                    _ = try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("passerelle.outbox." + fixture.schema)))")
                    holding.open()
                    await release.wait()
                }
            }
            await holding.wait()
            // This process commits; its wake-up reaches only its own relay, which finds the lock taken.
            try await fixture.pool.transaction { _ = try await fixture.appendEvent(referral: UUID(), on: $0) }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await fixture.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL") == 1)
            release.open()
            try await otherRound.value
            let published = try await eventually(timeout: .seconds(5)) {
                try await fixture.count("SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL") == 0
            }
            #expect(published)
        }
        await fixture.tearDown()
    }

    @Test("events waiting in a lane are applied in one transaction")
    func batchedTransactions() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        try await fixture.pool.withConnection { try await $0.query("CREATE TABLE applied_in (event_id uuid PRIMARY KEY, transaction_id bigint NOT NULL)") }
        // All on the topic before the consumer starts: they reach its lane together.
        try await fixture.pool.transaction { connection in
            for _ in 0..<60 { _ = try await fixture.appendEvent(referral: UUID(), on: connection) }
        }
        #expect(try await fixture.relay().publishBatch().published == 60)
        let consumer = fixture.consumer(group: TestEnvironment.uniqueName("consumer")) { event, connection in
            try await connection.query("INSERT INTO applied_in VALUES (\(event.event.id)::uuid, txid_current())")
        }
        try await withRunning([consumer]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM applied_in") == 60 }
            #expect(done)
        }
        // Each event once, in far fewer transactions than events (a lane holds 32 at most).
        #expect(try await fixture.count("SELECT count(*) AS n FROM processed_events") == 60)
        let transactions = try await fixture.count("SELECT count(DISTINCT transaction_id) AS n FROM applied_in")
        #expect(transactions < 20, "\(transactions) transactions for 60 events")
        await fixture.tearDown()
    }

    @Test("a batch holding an event twice, or one processed before, applies each event once")
    func batchWithDuplicates() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        try await fixture.pool.withConnection { try await $0.query("CREATE TABLE applied_in (event_id uuid NOT NULL, transaction_id bigint NOT NULL)") }
        let events = try await fixture.pool.transaction { connection in
            var events: [CloudEvent] = []
            for _ in 0..<20 { events.append(try await fixture.appendEvent(referral: UUID(), on: connection)) }
            return events
        }
        // Published twice (offsets 0–19, then 20–39): a lane's batch of up to 32 holds both copies of some.
        let relay = fixture.relay()
        #expect(try await relay.publishBatch(markAsSent: false).published == 20)
        #expect(try await relay.publishBatch().published == 20)
        // Three of them were processed by this consumer before.
        let group = TestEnvironment.uniqueName("consumer")
        let earlier = [events[0].id, events[7].id, events[19].id]
        try await fixture.pool.withConnection { connection in
            for id in earlier {
                try await connection.query(
                    """
                    INSERT INTO processed_events (consumer, event_id, event_type, topic, partition, record_offset)
                    VALUES (\(group), \(id)::uuid, 'passerelle.test.v1', \(fixture.topic), 0, -1)
                    """)
            }
        }
        let consumer = fixture.consumer(group: group) { event, connection in
            try await connection.query("INSERT INTO applied_in VALUES (\(event.event.id)::uuid, txid_current())")
        }
        try await withRunning([consumer]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM applied_in") == 17 }
            #expect(done)
            // Leave time for a wrongly applied copy to show up.
            try await Task.sleep(for: .milliseconds(500))
        }
        let applied = try await fixture.pool.withConnection {
            try await $0.query("SELECT event_id FROM applied_in").map { try $0.decode("event_id", as: UUID.self) }
        }
        #expect(applied.count == 17)
        #expect(Set(applied) == Set(events.map(\.id)).subtracting(earlier))
        #expect(try await fixture.count("SELECT count(DISTINCT transaction_id) AS n FROM applied_in") < 17, "batched")
        #expect(try await fixture.count("SELECT count(*) AS n FROM processed_events") == 20)
        await fixture.tearDown()
    }

    @Test("in a batch from several partitions, each unreadable record goes to the dead-letter topic and every event is applied")
    func batchWithUnreadableRecords() async throws {
        // One lane for two partitions: a batch mixes them, and their offsets repeat.
        let fixture = try await MessagingFixture.make(partitions: 2)
        // Interleaved, so that both partitions hold unreadable records and events at many offsets.
        let relay = fixture.relay()
        for round in 0..<6 {
            try await fixture.pool.transaction { connection in
                for _ in 0..<4 { _ = try await fixture.appendEvent(referral: UUID(), on: connection) }
            }
            try await relay.publishBatch()
            for index in 0..<3 {
                try await fixture.producer.send(topic: fixture.topic, key: Array("garbage-\(round)-\(index)".utf8), value: Array("not json".utf8))
            }
        }
        let consumer = fixture.consumer(group: TestEnvironment.uniqueName("consumer"))
        try await withRunning([consumer]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM effect") == 24 }
            #expect(done)
        }
        let dead = try await fixture.readAll(fixture.topic + ".dlq", expected: 18)
        #expect(Set(dead.compactMap(\.keyText)).count == 18)
        #expect(try await fixture.count("SELECT count(*) AS n FROM processed_events") == 24)
        await fixture.tearDown()
    }

    @Test("a permanently failing event goes to the dead-letter topic with its error, and the partition moves on")
    func deadLetter() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        let poison = UUID()
        let healthy = UUID()
        try await fixture.pool.transaction { connection in
            _ = try await fixture.appendEvent(referral: poison, on: connection)
            _ = try await fixture.appendEvent(referral: healthy, on: connection)
        }
        // A record that is not a CloudEvent at all.
        try await fixture.producer.send(topic: fixture.topic, key: Array("garbage".utf8), value: Array("not json".utf8))
        try await fixture.relay().publishBatch()
        let group = TestEnvironment.uniqueName("consumer")
        let consumer = fixture.consumer(group: group) { event, connection in
            if event.event.subject == poison.uuidString { throw PermanentEventFailure("referral \(poison) cannot be handled") }
            try await connection.query("INSERT INTO effect VALUES (\(event.event.id)::uuid, \(event.event.subject))")
        }
        try await withRunning([consumer]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM effect") == 1 }
            #expect(done)
        }
        let dead = try await fixture.readAll(fixture.topic + ".dlq", expected: 2)
        #expect(dead.count == 2)
        let poisoned = try #require(dead.first { $0.keyText == poison.uuidString })
        #expect(poisoned.header("dlq_error")?.contains("cannot be handled") == true)
        #expect(poisoned.header("dlq_consumer") == group)
        #expect(poisoned.header("dlq_source_topic") == fixture.topic)
        #expect(poisoned.header("ce_type") == "passerelle.test.v1")
        let garbage = try #require(dead.first { $0.keyText == "garbage" })
        #expect(garbage.header("dlq_error")?.contains("ce_") == true)
        // The failing event's transaction rolled back: no processed record, no effect.
        #expect(try await fixture.count("SELECT count(*) AS n FROM processed_events") == 1)
        await fixture.tearDown()
    }

    @Test("partitions are handled concurrently, each in order: a busy partition does not hold up another")
    func partitionsInParallel() async throws {
        let fixture = try await MessagingFixture.make(partitions: 2)
        let referrals = (0..<20).map { _ in UUID() }
        try await fixture.pool.transaction { connection in
            for referral in referrals { _ = try await fixture.appendEvent(referral: referral, on: connection) }
        }
        try await fixture.relay().publishBatch()
        let published = try await fixture.readAll(fixture.topic, expected: referrals.count)
        #expect(published.count == referrals.count)
        // The first event of one partition is held until every event of the other one is applied.
        let held = try #require(published.first { $0.partition == published[0].partition }?.keyText)
        let others = published.filter { $0.partition != published[0].partition }.compactMap(\.keyText)
        try #require(!others.isEmpty, "all twenty keys hashed to one partition")
        let order = Mutex<[Int32: [Int64]]>([:])
        let waitedForOthers = Mutex(false)
        let consumer = fixture.consumer(group: TestEnvironment.uniqueName("consumer"), concurrency: 2) { event, connection in
            if event.event.subject == held {
                let progressed = try await eventually(timeout: .seconds(10)) {
                    try await fixture.count("SELECT count(*) AS n FROM effect WHERE referral = ANY(\(others))") == others.count
                }
                waitedForOthers.withLock { $0 = progressed }
            }
            order.withLock { $0[event.partition, default: []].append(event.offset) }
            try await connection.query("INSERT INTO effect VALUES (\(event.event.id)::uuid, \(event.event.subject))")
        }
        try await withRunning([consumer]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM effect") == referrals.count }
            #expect(done)
        }
        #expect(waitedForOthers.withLock { $0 }, "the other partition made progress while one was busy")
        for (partition, offsets) in order.withLock({ $0 }) {
            #expect(offsets == offsets.sorted() && Set(offsets).count == offsets.count, "partition \(partition) handled in order, once")
        }
        await fixture.tearDown()
    }

    @Test("a transient handler failure is retried and applied once")
    func transientRetry() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        try await fixture.pool.transaction { _ = try await fixture.appendEvent(referral: UUID(), on: $0) }
        try await fixture.relay().publishBatch()
        let failures = FailureBudget(2)
        let consumer = fixture.consumer(group: TestEnvironment.uniqueName("consumer")) { event, connection in
            try await connection.query("INSERT INTO effect VALUES (\(event.event.id)::uuid, \(event.event.subject))")
            if failures.take() { throw PostgresError(kind: .serializationFailure, message: "simulated conflict") }
        }
        try await withRunning([consumer]) {
            let done = try await eventually { try await fixture.count("SELECT count(*) AS n FROM effect") == 1 }
            #expect(done)
        }
        #expect(failures.remaining == 0)
        #expect(try await fixture.count("SELECT count(*) AS n FROM effect") == 1)
        await fixture.tearDown()
    }
}

@Suite("Event routing by type", .enabled(if: TestEnvironment.integrationEnabled))
struct EventHandlersTests {
    @Test("a registered type reaches its typed handler; unknown types are skipped; an undecodable body fails")
    func routing() async throws {
        let seen = FailureBudget(0)
        var handlers = EventHandlers()
        handlers.on(ClientErasedV1.self) { erased, consumed, _ in
            #expect(consumed.event.subject == erased.subject)
            seen.add()
        }
        #expect(handlers.eventTypes == [ClientErasedV1.eventType])
        let handler = handlers.handler
        let payload = ClientErasedV1(referralID: UUID(), clientID: UUID(), erasedAt: Date())
        let known = ConsumedEvent(event: try CloudEvent(payload, source: "/test"), topic: "t", partition: 0, offset: 0, key: nil)
        let unknown = ConsumedEvent(
            event: CloudEvent(source: "/test", type: "passerelle.future.v9", subject: "x", data: [0x7B, 0x7D]), topic: "t", partition: 0, offset: 1, key: nil)
        let broken = ConsumedEvent(
            event: CloudEvent(source: "/test", type: ClientErasedV1.eventType, subject: "x", data: Array("{}".utf8)), topic: "t", partition: 0, offset: 2,
            key: nil)
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: TestEnvironment.logger)
        try await pool.withConnection { connection in
            try await handler(known, connection)
            try await handler(unknown, connection)
            await #expect(throws: DecodingError.self) { try await handler(broken, connection) }
        }
        #expect(seen.remaining == 1)
        await pool.close()
    }
}

final class FailureBudget: Sendable {
    private let left: Mutex<Int>
    init(_ count: Int) { left = Mutex(count) }
    func take() -> Bool {
        left.withLock {
            if $0 > 0 {
                $0 -= 1
                return true
            }
            return false
        }
    }
    var remaining: Int { left.withLock { $0 } }
    func add() { left.withLock { $0 += 1 } }
}

import Foundation
import KafkaClient
import Synchronization
import TestSupport
import Testing

@Suite("Kafka wrapper against a real broker", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct KafkaClientTests {
    let logger = TestEnvironment.logger

    func producer() throws -> KafkaProducer {
        try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: TestEnvironment.kafkaConfiguration), logger: logger)
    }

    @Test("a record comes back with its key, value and headers, at the offset the delivery report gave")
    func roundTrip() async throws {
        let topic = try await TestEnvironment.makeTopic(partitions: 1)
        let producer = try producer()
        let report = try await producer.send(
            topic: topic, key: Array("referral-1".utf8), value: Array("{\"a\":1}".utf8),
            headers: [KafkaHeader(key: "ce_type", text: "passerelle.test.v1"), KafkaHeader(key: "empty", value: nil)])
        #expect(report.topic == topic)
        #expect(report.partition == 0)
        #expect(report.offset == 0)
        let tombstone = try await producer.send(topic: topic, key: Array("referral-1".utf8), value: nil)
        #expect(tombstone.offset == 1)
        await producer.close()

        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(group: TestEnvironment.uniqueName("g")), topics: [topic], logger: logger)
        var iterator = consumer.messages.makeAsyncIterator()
        let first = try #require(await iterator.next())
        #expect(first.keyText == "referral-1")
        #expect(first.value == Array("{\"a\":1}".utf8))
        #expect(first.header("ce_type") == "passerelle.test.v1")
        #expect(first.headers.contains(KafkaHeader(key: "empty", value: nil)))
        #expect(first.offset == report.offset)
        let second = try #require(await iterator.next())
        #expect(second.value == nil)
        await consumer.close()
    }

    @Test("records of one key keep their order across a partitioned topic")
    func orderingPerKey() async throws {
        let topic = try await TestEnvironment.makeTopic(partitions: 6)
        let producer = try producer()
        let keys = (0..<8).map { "referral-\($0)" }
        // Send concurrently per key, sequentially within a key.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in keys {
                group.addTask {
                    for sequence in 0..<25 {
                        try await producer.send(topic: topic, key: Array(key.utf8), value: Array(String(sequence).utf8))
                    }
                }
            }
            try await group.waitForAll()
        }
        await producer.close()

        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(group: TestEnvironment.uniqueName("g")), topics: [topic], logger: logger)
        var seen: [String: [Int]] = [:]
        var partitionsByKey: [String: Set<Int32>] = [:]
        for await message in consumer.messages {
            let key = try #require(message.keyText)
            seen[key, default: []].append(Int(String(decoding: message.value ?? [], as: UTF8.self))!)
            partitionsByKey[key, default: []].insert(message.partition)
            if seen.values.reduce(0, { $0 + $1.count }) == keys.count * 25 { break }
        }
        await consumer.close()
        for key in keys {
            #expect(seen[key] == Array(0..<25), "order of \(key)")
            #expect(partitionsByKey[key]?.count == 1, "\(key) stays on one partition")
        }
        #expect(Set(partitionsByKey.values.flatMap { $0 }).count > 1, "keys spread over partitions")
    }

    @Test("two members split the partitions; when one leaves, the other takes over and nothing is lost")
    func groupRebalance() async throws {
        let topic = try await TestEnvironment.makeTopic(partitions: 4)
        let group = TestEnvironment.uniqueName("g")
        let producer = try producer()
        for index in 0..<40 {
            try await producer.send(topic: topic, key: Array("k\(index)".utf8), value: Array(String(index).utf8))
        }

        let first = try KafkaConsumer(configuration: TestEnvironment.consumerConfiguration(group: group), topics: [topic], logger: logger)
        // Joining takes the broker's JoinGroup and SyncGroup round trips at least.
        #expect(!first.hasJoinedGroup)
        let second = try KafkaConsumer(configuration: TestEnvironment.consumerConfiguration(group: group), topics: [topic], logger: logger)
        let split = try await eventually(timeout: .seconds(40)) {
            let a = first.assignment
            let b = second.assignment
            return a.count + b.count == 4 && !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b)
        }
        #expect(first.hasJoinedGroup && second.hasJoinedGroup)
        #expect(split, "both members hold partitions: \(first.assignment) / \(second.assignment)")

        // The second member processes what it gets, then leaves.
        let secondSeen = Task {
            var values: Set<Int> = []
            for await message in second.messages {
                values.insert(Int(String(decoding: message.value ?? [], as: UTF8.self))!)
                second.markProcessed(message)
                if values.count >= 5 { break }
            }
            return values
        }
        let fromSecond = await secondSeen.value
        try await second.commit()
        await second.close()

        // Produce more once it is gone: the first member must see every value the second did not process.
        for index in 40..<60 {
            try await producer.send(topic: topic, key: Array("k\(index)".utf8), value: Array(String(index).utf8))
        }
        await producer.close()
        var fromFirst: Set<Int> = []
        let collector = Task {
            for await message in first.messages {
                fromFirst.insert(Int(String(decoding: message.value ?? [], as: UTF8.self))!)
                first.markProcessed(message)
                if fromFirst.union(fromSecond).count == 60 { break }
            }
            return fromFirst
        }
        let collected = await collector.value
        #expect(first.assignment.count == 4)
        #expect(collected.union(fromSecond) == Set(0..<60))
        await first.close()
    }

    @Test("messages not marked processed are delivered again after a restart")
    func redeliveryOfUnprocessed() async throws {
        let topic = try await TestEnvironment.makeTopic(partitions: 1)
        let group = TestEnvironment.uniqueName("g")
        let producer = try producer()
        for index in 0..<10 {
            try await producer.send(topic: topic, key: Array("k".utf8), value: Array(String(index).utf8))
        }
        await producer.close()

        let first = try KafkaConsumer(configuration: TestEnvironment.consumerConfiguration(group: group), topics: [topic], logger: logger)
        var count = 0
        for await message in first.messages {
            // Only the first four are processed; the next three are read but not marked.
            if message.offset < 4 { first.markProcessed(message) }
            count += 1
            if count == 7 { break }
        }
        await first.close()

        let second = try KafkaConsumer(configuration: TestEnvironment.consumerConfiguration(group: group), topics: [topic], logger: logger)
        var iterator = second.messages.makeAsyncIterator()
        let resumed = try #require(await iterator.next())
        #expect(resumed.offset == 4, "resumes at the first unprocessed message")
        await second.close()
    }

    /// A slow application: short stalls hold the poll thread; stalls longer than
    /// `pauseAfterMilliseconds` pause the partitions, which are fetched again on resume.
    @Test(
        "a full buffer holds, then pauses, fetching without losing or reordering anything",
        arguments: [
            (pauseAfterMilliseconds: 10_000, stall: Duration.milliseconds(200)),
            (pauseAfterMilliseconds: 100, stall: Duration.milliseconds(600)),
        ])
    func backpressure(pauseAfterMilliseconds: Int, stall: Duration) async throws {
        let topic = try await TestEnvironment.makeTopic(partitions: 1)
        let producer = try producer()
        for index in 0..<300 {
            try await producer.send(topic: topic, key: nil, value: Array(String(index).utf8))
        }
        await producer.close()
        let consumer = try KafkaConsumer(
            configuration: TestEnvironment.consumerConfiguration(
                group: TestEnvironment.uniqueName("g"), bufferCapacity: 8, pauseAfterMilliseconds: pauseAfterMilliseconds),
            topics: [topic], logger: logger)
        var values: [Int] = []
        for await message in consumer.messages {
            values.append(Int(String(decoding: message.value ?? [], as: UTF8.self))!)
            if values.count % 50 == 0 { try await Task.sleep(for: stall) }
            if values.count == 300 { break }
        }
        #expect((consumer.pauses > 0) == (stall > .milliseconds(pauseAfterMilliseconds)), "paused \(consumer.pauses) times")
        await consumer.close()
        #expect(values == Array(0..<300))
    }

    @Test("topic creation is idempotent and applies configs")
    func topicCreation() async throws {
        let name = "test.\(UUID().uuidString.lowercased())"
        let spec = KafkaTopicSpecification(name: name, partitions: 2, configs: ["cleanup.policy": "compact"])
        let created = try await KafkaTopicAdmin.createTopics([spec], configuration: TestEnvironment.kafkaConfiguration, logger: logger)
        #expect(created == [name])
        let again = try await KafkaTopicAdmin.createTopics([spec], configuration: TestEnvironment.kafkaConfiguration, logger: logger)
        #expect(again.isEmpty)
    }

    @Test("the producer reports an unreachable broker instead of hanging")
    func unreachableBroker() async throws {
        var configuration = KafkaProducerConfiguration(kafka: KafkaConfiguration(bootstrapServers: "127.0.0.1:\(TestEnvironment.freePort())"))
        configuration.messageTimeoutMilliseconds = 1_500
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        await #expect(throws: KafkaError.self) { try await producer.checkBrokerReachable(timeout: .milliseconds(500)) }
        let error = await #expect(throws: KafkaError.self) { try await producer.send(topic: "nowhere", key: nil, value: [1]) }
        #expect(error?.kind == .messageTimedOut)
        await producer.close()
    }

    /// librdkafka decides a topic does not exist `topic.metadata.propagation.max.ms` after it
    /// first asked (30 s by default, 1 s here), and from then on refuses records for it at once.
    /// Records with headers used to crash the process on that refusal (the header list freed
    /// twice inside librdkafka, `rd_list_destroy_elems`), about 36 s after a relay's first send
    /// to a topic nobody had created.
    @Test("records with headers for a topic that does not exist fail, every time, and the producer stays usable")
    func missingTopicWithHeaders() async throws {
        var kafka = TestEnvironment.kafkaConfiguration
        kafka.properties["topic.metadata.propagation.max.ms"] = "1000"
        kafka.properties["topic.metadata.refresh.interval.ms"] = "500"
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka, messageTimeoutMilliseconds: 5_000), logger: logger)
        let missing = "test.missing.\(UUID().uuidString.lowercased())"
        let headers = [KafkaHeader(key: "ce_type", text: "passerelle.test.v1"), KafkaHeader(key: "ce_id", text: "1"), KafkaHeader(key: "empty", value: nil)]
        var refusals: [KafkaError.Kind] = []
        let started = ContinuousClock.now
        // In batches as the relay sends them: the first is refused once the propagation time has
        // passed, the later ones at once, by the partitioner, as librdkafka has given up on the topic.
        for _ in 0..<6 {
            let records = (0..<5).map { index in
                KafkaRecord(topic: missing, key: Array("referral-\(index)".utf8), value: Array("{}".utf8), headers: headers)
            }
            for result in try await producer.send(records) {
                guard case .failure(let error) = result else {
                    Issue.record("a record for a topic that does not exist was acknowledged")
                    continue
                }
                refusals.append(error.kind)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(refusals.count == 30)
        #expect(ContinuousClock.now - started > .seconds(1), "past the propagation time")
        #expect(refusals.allSatisfy { $0 == .unknownTopic }, "every refusal says the topic is unknown: \(Set(refusals.map { "\($0)" }))")
        // The same producer still delivers, headers included, to a topic that exists.
        let topic = try await TestEnvironment.makeTopic(partitions: 1)
        let report = try await producer.send(topic: topic, key: Array("k".utf8), value: Array("v".utf8), headers: headers)
        #expect(report.offset == 0)
        await producer.close()
    }

    /// A member whose group session is lost is out of the group (readiness says "joining")
    /// until it is given partitions again, and one kept out for longer than its patience makes
    /// itself a new librdkafka client, which joins and goes on consuming.
    @Test("a member that lost its session counts as out of the group, replaces its client after its patience, and consumes again")
    func lostSessionAndReplacement() async throws {
        let port = TestEnvironment.freePort()
        var broker: ScratchBroker? = try await ScratchBroker(port: port)
        defer { broker?.stop() }
        let kafka = KafkaConfiguration(bootstrapServers: "127.0.0.1:\(port)")
        let topic = "test.rejoin.\(UUID().uuidString.lowercased())"
        try await KafkaTopicAdmin.createTopics([KafkaTopicSpecification(name: topic, partitions: 1)], configuration: kafka, logger: logger)
        var configuration = KafkaConsumerConfiguration(
            kafka: kafka, groupID: TestEnvironment.uniqueName("g"), maxPollIntervalMilliseconds: 10_000, sessionTimeoutMilliseconds: 6_000,
            autoCommitIntervalMilliseconds: 200)
        configuration.rejoinPatienceMilliseconds = 10_000
        let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], logger: logger)
        let seen = Mutex<[String]>([])
        let received = Task {
            for await message in consumer.messages {
                seen.withLock { $0.append(String(decoding: message.value ?? [], as: UTF8.self)) }
                consumer.markProcessed(message)
            }
        }
        defer { received.cancel() }
        #expect(try await eventually(timeout: .seconds(30)) { consumer.hasJoinedGroup })
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        try await producer.send(topic: topic, key: Array("k".utf8), value: Array("before".utf8))
        await producer.close()
        #expect(try await eventually(timeout: .seconds(20)) { seen.withLock { $0 } == ["before"] })

        // The coordinator goes away: the session expires and the partitions are lost.
        broker?.stop()
        broker = nil
        #expect(try await eventually(timeout: .seconds(30)) { !consumer.hasJoinedGroup }, "out of the group once its session is lost")
        #expect(consumer.replacementCount == 0)
        #expect(try await eventually(timeout: .seconds(30)) { consumer.replacementCount >= 1 }, "a new client after its patience")
        #expect(!consumer.hasJoinedGroup)

        // A broker again (in memory: the topic is made anew): the new client joins and consumes.
        broker = try await ScratchBroker(port: port)
        try await KafkaTopicAdmin.createTopics([KafkaTopicSpecification(name: topic, partitions: 1)], configuration: kafka, logger: logger)
        // A producer of its own: an idempotent one is not known to a broker that started afresh.
        let again = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        try await again.send(topic: topic, key: Array("k".utf8), value: Array("after".utf8))
        await again.close()
        #expect(try await eventually(timeout: .seconds(40)) { consumer.hasJoinedGroup }, "joined again")
        #expect(try await eventually(timeout: .seconds(20)) { seen.withLock { $0 } == ["before", "after"] }, "\(seen.withLock { $0 })")
        await consumer.close()
    }

    @Test("librdkafka is new enough")
    func libraryVersion() throws {
        try KafkaLibrary.verify(logger: logger)
        #expect(KafkaLibrary.versionString.split(separator: ".").count >= 2)
    }
}

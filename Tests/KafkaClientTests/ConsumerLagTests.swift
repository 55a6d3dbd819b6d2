import Foundation
import KafkaClient
import MetricsTestKit
import TestSupport
import Testing

@Suite("Consumer lag against a real broker", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct ConsumerLagTests {
    let logger = TestEnvironment.logger

    @Test("the lag gauge shows what a member holds but has not marked processed, and falls as it marks")
    func lagGauge() async throws {
        let topic = try await TestEnvironment.makeTopic("lag", partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: TestEnvironment.kafkaConfiguration), logger: logger)
        for number in 0..<20 { try await producer.send(topic: topic, key: Array("k".utf8), value: Array(String(number).utf8)) }
        await producer.close()

        let metrics = TestMetrics()
        let group = TestEnvironment.uniqueName("lag")
        var configuration = TestEnvironment.consumerConfiguration(group: group)
        configuration.statisticsIntervalMilliseconds = 200
        let consumer = try KafkaConsumer(configuration: configuration, topics: [topic], metrics: metrics, logger: logger)
        let dimensions = [("group", group), ("topic", topic), ("partition", "0")]
        func gauge() -> Double? { (try? metrics.expectGauge("passerelle_consumer_lag_records", dimensions))?.lastValue }

        // A slow application: it has taken every record and processed none.
        var iterator = consumer.messages.makeAsyncIterator()
        var messages: [KafkaMessage] = []
        while messages.count < 20, let message = await iterator.next() { messages.append(message) }
        #expect(try await eventually(timeout: .seconds(20)) { gauge() == 20 }, "lag \(String(describing: gauge()))")
        #expect(consumer.lag == [TopicPartition(topic: topic, partition: 0): 20])

        consumer.markProcessed(messages[4])
        #expect(try await eventually(timeout: .seconds(20)) { gauge() == 15 }, "lag \(String(describing: gauge()))")
        consumer.markProcessed(messages[19])
        #expect(try await eventually(timeout: .seconds(20)) { gauge() == 0 }, "lag \(String(describing: gauge()))")

        await consumer.close()
        #expect(try await eventually(timeout: .seconds(10)) { gauge() == nil }, "a member that left reports nothing")
    }
}

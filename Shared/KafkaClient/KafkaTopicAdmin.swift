import CRdKafka
import Logging

/// A topic to provision: name, partitions and topic-level configs (e.g. `cleanup.policy=compact`).
public struct KafkaTopicSpecification: Sendable, Equatable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int
    public var configs: [String: String]

    public init(name: String, partitions: Int, replicationFactor: Int = 1, configs: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.configs = configs
    }
}

/// Creates topics up front (Passerelle never relies on auto-creation).
public enum KafkaTopicAdmin {
    /// Creates the topics that do not exist yet; existing ones are left as they are.
    /// Returns the names actually created.
    @discardableResult
    public static func createTopics(_ topics: [KafkaTopicSpecification], configuration: KafkaConfiguration, logger: Logger, timeout: Duration = .seconds(15))
        async throws -> [String]
    {
        let client = try RDClient(type: RD_KAFKA_PRODUCER, properties: configuration.baseProperties, context: RDCallbackContext(logger: logger))
        let milliseconds = Int32(timeout.components.seconds * 1000)
        let result = await runBlocking("kafka-admin") { () -> Result<[String], KafkaError> in
            create(topics, client: client.pointer, timeoutMilliseconds: milliseconds)
        }
        client.destroyInBackground()
        let created = try result.get()
        if !created.isEmpty { logger.info("created topics", metadata: ["topics": "\(created)"]) }
        return created
    }

    private static func create(_ topics: [KafkaTopicSpecification], client: OpaquePointer, timeoutMilliseconds: Int32) -> Result<[String], KafkaError> {
        var errorText = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errorText, errorText.count) else {
                return .failure(KafkaError(kind: .configuration, message: text(of: errorText), context: "describing topic \(topic.name)"))
            }
            newTopics.append(newTopic)
            for (key, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                let error = rd_kafka_NewTopic_set_config(newTopic, key, value)
                if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                    return .failure(KafkaError(error, context: "setting \(key) on topic \(topic.name)"))
                }
            }
        }
        guard let queue = rd_kafka_queue_new(client) else {
            return .failure(KafkaError(kind: .other, message: "could not create a queue", context: "creating topics"))
        }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &errorText, errorText.count)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(client, buffer.baseAddress, buffer.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds + 1000) else {
            return .failure(KafkaError(kind: .unavailable, message: "no answer from the cluster", context: "creating topics"))
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        if eventError != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(KafkaError(eventError, context: "creating topics"))
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            return .failure(KafkaError(kind: .other, message: "unexpected admin event", context: "creating topics"))
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return .success([]) }
        var created: [String] = []
        for index in 0..<count {
            let topicResult = results[index]
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let error = rd_kafka_topic_result_error(topicResult)
            switch error {
            case RD_KAFKA_RESP_ERR_NO_ERROR: created.append(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: continue
            default: return .failure(KafkaError(error, context: "creating topic \(name)"))
            }
        }
        return .success(created)
    }
}

/// Where each partition of some topics ends now, for readers that replay a topic from its start
/// and stop at what existed when they began.
public struct KafkaPartitionOffsets: Sendable, Equatable {
    /// The first offset still held (the low watermark).
    public var start: Int64
    /// The offset the next record will get (the high watermark).
    public var end: Int64

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    /// The logical offset "the first record still held", for `KafkaConsumer(reading:)`.
    public static let beginning = Int64(RD_KAFKA_OFFSET_BEGINNING)

    /// Whether the partition holds no record to read.
    public var isEmpty: Bool { end <= start }
}

extension KafkaTopicAdmin {
    /// The low and high watermarks of every partition of `topics`, asked of the partition
    /// leaders. Blocking calls run on a dedicated thread.
    public static func offsets(of topics: [String], configuration: KafkaConfiguration, logger: Logger, timeout: Duration = .seconds(15)) async throws
        -> [TopicPartition: KafkaPartitionOffsets]
    {
        let client = try RDClient(type: RD_KAFKA_PRODUCER, properties: configuration.baseProperties, context: RDCallbackContext(logger: logger))
        let milliseconds = Int32(timeout.components.seconds * 1000)
        let result = await runBlocking("kafka-offsets") { () -> Result<[TopicPartition: KafkaPartitionOffsets], KafkaError> in
            var offsets: [TopicPartition: KafkaPartitionOffsets] = [:]
            for topic in topics {
                switch partitionCount(of: topic, client: client.pointer, timeoutMilliseconds: milliseconds) {
                case .failure(let error): return .failure(error)
                case .success(let count):
                    for partition in 0..<count {
                        var low: Int64 = 0
                        var high: Int64 = 0
                        let error = rd_kafka_query_watermark_offsets(client.pointer, topic, partition, &low, &high, milliseconds)
                        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                            return .failure(KafkaError(error, context: "asking where \(topic)[\(partition)] ends"))
                        }
                        offsets[TopicPartition(topic: topic, partition: partition)] = KafkaPartitionOffsets(start: low, end: high)
                    }
                }
            }
            return .success(offsets)
        }
        client.destroyInBackground()
        return try result.get()
    }

    private static func partitionCount(of topic: String, client: OpaquePointer, timeoutMilliseconds: Int32) -> Result<Int32, KafkaError> {
        guard let handle = rd_kafka_topic_new(client, topic, nil) else {
            return .failure(KafkaError(kind: .other, message: "could not make a topic handle", context: "describing topic \(topic)"))
        }
        defer { rd_kafka_topic_destroy(handle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(client, 0, handle, &metadata, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(KafkaError(error, context: "asking the cluster for the partitions of \(topic)"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt == 1 else {
            return .failure(
                KafkaError(kind: .other, message: "the cluster described \(metadata.pointee.topic_cnt) topics", context: "describing topic \(topic)"))
        }
        let described = metadata.pointee.topics[0]
        if described.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return .failure(KafkaError(described.err, context: "describing topic \(topic)"))
        }
        return .success(described.partition_cnt)
    }
}

/// Settings shared by producers, consumers and the admin client. The typed fields cover what
/// Passerelle sets itself; `properties` passes anything else straight to librdkafka
/// (`security.protocol`, `sasl.mechanisms`, `ssl.ca.location`, …) for managed clusters.
public struct KafkaConfiguration: Sendable {
    public var bootstrapServers: String
    public var clientID: String
    public var properties: [String: String]

    public init(bootstrapServers: String = "127.0.0.1:9092", clientID: String = "passerelle", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }

    var baseProperties: [String: String] {
        var all = ["bootstrap.servers": bootstrapServers, "client.id": clientID, "allow.auto.create.topics": "false"]
        all.merge(properties) { _, explicit in explicit }
        return all
    }
}

public struct KafkaProducerConfiguration: Sendable {
    public var kafka: KafkaConfiguration
    /// How long librdkafka keeps retrying one message before reporting it failed.
    public var messageTimeoutMilliseconds: Int
    public var lingerMilliseconds: Int

    public init(kafka: KafkaConfiguration, messageTimeoutMilliseconds: Int = 30_000, lingerMilliseconds: Int = 1) {
        self.kafka = kafka
        self.messageTimeoutMilliseconds = messageTimeoutMilliseconds
        self.lingerMilliseconds = lingerMilliseconds
    }

    var properties: [String: String] {
        var all: [String: String] = [
            "enable.idempotence": "true",
            "acks": "all",
            "message.timeout.ms": String(messageTimeoutMilliseconds),
            "linger.ms": String(lingerMilliseconds),
        ]
        all.merge(kafka.baseProperties) { _, explicit in explicit }
        return all
    }
}

public struct KafkaConsumerConfiguration: Sendable {
    public var kafka: KafkaConfiguration
    public var groupID: String
    /// Messages held between librdkafka and the application; when full, the poll thread stops
    /// taking records until the application catches up.
    public var bufferCapacity: Int
    public var maxPollIntervalMilliseconds: Int
    /// How long the buffer may stay full before the assigned partitions are paused (so the
    /// member can poll again and stay in the group). Less than `maxPollIntervalMilliseconds`;
    /// a third of it unless set.
    public var pauseAfterMilliseconds: Int
    public var sessionTimeoutMilliseconds: Int
    /// `earliest` so a new group reads a topic from its start (nothing published before the
    /// consumer first joined is skipped).
    public var autoOffsetReset: String
    public var autoCommitIntervalMilliseconds: Int
    /// How long the broker may hold a fetch that found nothing new. Kafka answers as soon as a
    /// record arrives, but some brokers (Tansu 0.6) do not answer a held fetch early, so the wait
    /// becomes every event's latency floor (a record waits about a quarter of it at the median):
    /// with librdkafka's 500 ms a notification took 160 ms at the median under light load, with
    /// 20 ms 17 ms. Every empty fetch costs the broker
    /// work, though, and one that keeps its topics in object storage reads it each time: at
    /// 20 ms, Tansu on S3 fell minutes behind after a restart. 100 ms unless set
    /// (`PASSERELLE_KAFKA_PROPERTY_FETCH_WAIT_MAX_MS` overrides it for a deployment).
    public var fetchWaitMaxMilliseconds: Int
    /// How often librdkafka reports statistics, from which the consumer lag gauges are
    /// refreshed; 0 turns them off.
    public var statisticsIntervalMilliseconds: Int
    /// How long a member may stay out of its group (not yet joined, or its session lost)
    /// before it replaces its librdkafka client; derived from the effective timeouts unless set.
    public var rejoinPatienceMilliseconds: Int?

    public init(
        kafka: KafkaConfiguration,
        groupID: String,
        bufferCapacity: Int = 256,
        maxPollIntervalMilliseconds: Int = 30_000,
        sessionTimeoutMilliseconds: Int = 10_000,
        autoOffsetReset: String = "earliest",
        autoCommitIntervalMilliseconds: Int = 1_000,
        pauseAfterMilliseconds: Int? = nil,
        fetchWaitMaxMilliseconds: Int = 100,
        statisticsIntervalMilliseconds: Int = 5_000
    ) {
        self.statisticsIntervalMilliseconds = statisticsIntervalMilliseconds
        self.fetchWaitMaxMilliseconds = fetchWaitMaxMilliseconds
        self.kafka = kafka
        self.groupID = groupID
        self.bufferCapacity = bufferCapacity
        self.maxPollIntervalMilliseconds = maxPollIntervalMilliseconds
        self.pauseAfterMilliseconds = min(pauseAfterMilliseconds ?? maxPollIntervalMilliseconds / 3, maxPollIntervalMilliseconds / 2)
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        self.autoOffsetReset = autoOffsetReset
        self.autoCommitIntervalMilliseconds = autoCommitIntervalMilliseconds
    }

    /// Twice what one join round may take: the rebalance lasts up to `max.poll.interval.ms`
    /// while the other members finish, and a member that vanished holds it up for
    /// `session.timeout.ms`; at least 30 s.
    var rejoinPatience: Duration {
        if let rejoinPatienceMilliseconds { return .milliseconds(rejoinPatienceMilliseconds) }
        let effective = properties
        let poll = effective["max.poll.interval.ms"].flatMap { Int($0) } ?? maxPollIntervalMilliseconds
        let session = effective["session.timeout.ms"].flatMap { Int($0) } ?? sessionTimeoutMilliseconds
        return .milliseconds(max(30_000, 2 * (poll + session)))
    }

    var properties: [String: String] {
        var all: [String: String] = [
            "group.id": groupID,
            // Offsets are stored only when the application marks a message processed; the
            // background commit then sends only those ("at least once", never "at most once").
            "enable.auto.offset.store": "false",
            "enable.auto.commit": "true",
            "auto.commit.interval.ms": String(autoCommitIntervalMilliseconds),
            "auto.offset.reset": autoOffsetReset,
            "max.poll.interval.ms": String(maxPollIntervalMilliseconds),
            "session.timeout.ms": String(sessionTimeoutMilliseconds),
            "enable.partition.eof": "false",
            "fetch.wait.max.ms": String(fetchWaitMaxMilliseconds),
            "statistics.interval.ms": String(statisticsIntervalMilliseconds),
        ]
        all.merge(kafka.baseProperties) { _, explicit in explicit }
        return all
    }
}

/// Passerelle's topics. The names on the wire get an optional deployment prefix
/// (`PASSERELLE_TOPIC_PREFIX`); `deploy/kafka/topics.txt` lists the same topics for provisioning.
public enum TopicName: String, Sendable, CaseIterable {
    case referrals = "passerelle.referrals.v1"
    /// Compacted: the latest identity and contact of each client, keyed by client id.
    case clients = "passerelle.clients.v1"
    case matching = "passerelle.matching.v1"
    case notifications = "passerelle.notifications.v1"
    /// De-identified pathway and outcome events for analysts.
    case evaluation = "passerelle.evaluation.v1"

    /// Partitions of each event topic unless a deployment sets its own
    /// (`PASSERELLE_TOPIC_PARTITIONS`). They bound the useful replicas of a consumer group; each
    /// partition a relay round touches is also a produce request of its own (librdkafka sends one
    /// per partition, at most five in flight with idempotence). Dead-letter topics have one.
    public static let defaultPartitions = 12
    public var isCompacted: Bool { self == .clients }

    /// How long records are kept, stated on every topic rather than left to the broker's default
    /// (a week on Kafka, unbounded on some brokers), so the personal data map can name a bound.
    /// Retention deletes whole segments: a record is gone within `retention.ms + segment.ms`.
    /// The clients topic keeps each client's latest profile while the client is known; an
    /// erased client's profiles are compacted away within `max.compaction.lag.ms` of the
    /// tombstone, and the tombstone itself `delete.retention.ms` later (docs/DATA-MAP.md).
    public var configs: [String: String] {
        switch self {
        case .clients:
            return [
                "cleanup.policy": "compact", "retention.ms": "-1", "max.compaction.lag.ms": String(Self.day),
                "delete.retention.ms": String(Self.day), "segment.ms": String(Self.hour),
            ]
        case .evaluation:
            // De-identified; kept for year-on-year reports.
            return ["retention.ms": String(400 * Self.day), "segment.ms": String(Self.day)]
        case .referrals, .matching, .notifications:
            return Self.eventRetention
        }
    }

    /// Event and dead-letter topics: two weeks, enough for a consumer down over a long weekend
    /// to catch up, and a bound on how long thin events outlive an erasure.
    public static let eventRetention = ["retention.ms": String(14 * day), "segment.ms": String(day)]
    static let hour = 3_600_000
    static let day = 24 * hour
}

/// Topic names as deployed, with the prefix applied.
public struct TopicNames: Sendable, Equatable {
    public var prefix: String
    /// Partitions given to each event topic when it is created (existing topics keep theirs).
    public var partitions: Int

    public init(prefix: String = "", partitions: Int = TopicName.defaultPartitions) {
        self.prefix = prefix
        self.partitions = partitions
    }

    public func name(_ topic: TopicName) -> String { prefix + topic.rawValue }

    /// Where a consumer sends what it cannot process from `topic`.
    public func deadLetter(_ topic: TopicName) -> String { name(topic) + ".dlq" }

    /// The topic a deployed name refers to, if it is one of ours.
    public func topic(named name: String) -> TopicName? {
        guard name.hasPrefix(prefix) else { return nil }
        return TopicName(rawValue: String(name.dropFirst(prefix.count)))
    }

    /// Every topic a deployment needs: the five topics and a dead-letter topic for each consumed one.
    public var provisioning: [(name: String, partitions: Int, configs: [String: String])] {
        var all = TopicName.allCases.map { topic in
            (name(topic), partitions, topic.configs)
        }
        for consumed in [TopicName.referrals, .clients, .matching, .notifications] {
            all.append((deadLetter(consumed), 1, TopicName.eventRetention))
        }
        return all
    }
}

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
            (name(topic), partitions, topic.isCompacted ? ["cleanup.policy": "compact"] : [String: String]())
        }
        for consumed in [TopicName.referrals, .clients, .matching, .notifications] {
            all.append((deadLetter(consumed), 1, [:]))
        }
        return all
    }
}

import Foundation
import Metrics
import Synchronization

/// The consumer lag of a member's partitions, from librdkafka's statistics (emitted every
/// `statistics.interval.ms` on the poll thread): a gauge `passerelle_consumer_lag_records`
/// per group, topic and partition, for the partitions assigned to this member. A partition
/// that leaves the assignment loses its gauge, so the member that takes it over is the only
/// one reporting it.
final class ConsumerLag: Sendable {
    private let group: String
    private let factory: any MetricsFactory
    private let state = Mutex<(lags: [TopicPartition: Int64], gauges: [TopicPartition: Gauge], unseen: Unseen?)>(([:], [:], nil))

    /// Records on the assigned partitions beyond what the member has handed the application,
    /// and when the statistics said so.
    struct Unseen: Sendable {
        var records: Int64
        var at: ContinuousClock.Instant
    }

    init(group: String, factory: any MetricsFactory) {
        self.group = group
        self.factory = factory
    }

    /// The latest lag of each assigned partition whose lag is known.
    var lags: [TopicPartition: Int64] { state.withLock { $0.lags } }

    /// The latest statistics' count of records not yet fetched for the application.
    var unseen: Unseen? { state.withLock { $0.unseen } }

    /// Records the lags of `statistics` (librdkafka's JSON) for the partitions in `assignment`.
    func record(statistics: UnsafeRawBufferPointer, assignment: Set<TopicPartition>) throws {
        let measured = try Self.measure(in: Data(statistics), assignment: assignment)
        let lags = measured.lags
        let (gauges, removed) = state.withLock { state -> ([(Gauge, Int64)], [Gauge]) in
            state.lags = lags
            state.unseen = Unseen(records: measured.unseen, at: .now)
            var removed: [Gauge] = []
            for (partition, gauge) in state.gauges where lags[partition] == nil {
                removed.append(gauge)
                state.gauges[partition] = nil
            }
            let gauges = lags.map { partition, lag in
                // The label written out here: the deployment checks find served metrics by it.
                let gauge =
                    state.gauges[partition]
                    ?? Gauge(
                        label: "passerelle_consumer_lag_records",
                        dimensions: [("group", group), ("topic", partition.topic), ("partition", String(partition.partition))],
                        factory: factory)
                state.gauges[partition] = gauge
                return (gauge, lag)
            }
            return (gauges, removed)
        }
        for gauge in removed { gauge.destroy() }
        for (gauge, lag) in gauges { gauge.record(lag) }
    }

    /// The member left the group: its partitions' gauges go.
    func clear() {
        let gauges = state.withLock { state -> [Gauge] in
            defer { state = ([:], [:], nil) }
            return Array(state.gauges.values)
        }
        for gauge in gauges { gauge.destroy() }
    }

    /// The statistics fields this reads (librdkafka STATISTICS.md, `topics.*.partitions.*`).
    struct Statistics: Decodable {
        struct Topic: Decodable {
            var partitions: [String: Partition]
        }
        struct Partition: Decodable {
            var partition: Int32
            var hiOffset: Int64?
            var loOffset: Int64?
            /// End offset minus the committed offset; -1 while either is unknown.
            var consumerLag: Int64?
            /// End offset minus the offset stored by `markProcessed`, which leads the committed one.
            var consumerLagStored: Int64?
            /// The offset after the last record handed to the application; negative before one.
            var appOffset: Int64?
            var committedOffset: Int64?
        }
        var topics: [String: Topic]?
    }

    /// Per assigned partition: the lag behind what the application marked processed if it
    /// marked anything, else behind the group's committed offset, else — nothing processed by
    /// the group yet — everything the partition holds.
    static func lags(in json: Data, assignment: Set<TopicPartition>) throws -> [TopicPartition: Int64] {
        try measure(in: json, assignment: assignment).lags
    }

    /// The lags, and the records of the assigned partitions beyond the offset the application
    /// was last handed (else the group's committed one, else the partition's start): what a
    /// member that fetches would hand out next.
    static func measure(in json: Data, assignment: Set<TopicPartition>) throws -> (lags: [TopicPartition: Int64], unseen: Int64) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let statistics = try decoder.decode(Statistics.self, from: json)
        var lags: [TopicPartition: Int64] = [:]
        var unseen: Int64 = 0
        for (topic, entry) in statistics.topics ?? [:] {
            for partition in entry.partitions.values where partition.partition >= 0 {
                let key = TopicPartition(topic: topic, partition: partition.partition)
                guard assignment.contains(key) else { continue }
                if let lag = partition.consumerLagStored, lag >= 0 {
                    lags[key] = lag
                } else if let lag = partition.consumerLag, lag >= 0 {
                    lags[key] = lag
                } else if let high = partition.hiOffset, let low = partition.loOffset, high >= 0, low >= 0 {
                    lags[key] = high - low
                }
                if let high = partition.hiOffset, high >= 0 {
                    let known = [partition.appOffset, partition.committedOffset, partition.loOffset].compactMap { $0 }.filter { $0 >= 0 }
                    let handed = known.first ?? 0
                    unseen += max(0, high - handed)
                }
            }
        }
        return (lags, unseen)
    }
}

import Contracts
import Foundation
import KafkaClient
import Logging
import Messaging
import PostgresClient
import ServiceRuntime

/// Rebuilds the pathway projection from the beginning of the topics and swaps it in.
///
/// 1. Note where every partition ends, then read all of it with a fresh consumer group,
///    applying each event to an in-memory projection with `ProjectionEvent.apply`, the code the
///    live consumer runs.
/// 2. In one transaction: lock `processed_events` (the live consumer waits for its next event
///    and nothing it did is left uncommitted), read on to where the partitions end now, write
///    the projection into fresh tables, record every event read as processed (so the live
///    consumer skips those it had not reached yet, and whatever it had applied is included),
///    apply the side effects of events the live consumer had not reached (erasures, the analyst
///    stream), and put the fresh tables in place of the old ones.
///
/// Outcome measures and service use are recorded here through the API, not derived from
/// events, so they are kept as they are.
public struct ProjectionRebuild: Sendable {
    public struct Summary: Sendable, Equatable {
        public var events: Int
        public var skipped: Int
        public var pathways: Int
        public var unmetNeeds: Int
        public var seconds: Double
        /// Of `seconds`, the part spent reading and applying before the swapping transaction began.
        public var readingSeconds: Double
        public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
    }

    let settings: ServiceSettings
    let pool: PostgresConnectionPool
    let stream: AnalystStream?
    let logger: Logger

    public init(settings: ServiceSettings, pool: PostgresConnectionPool, logger: Logger) throws {
        self.settings = settings
        self.pool = pool
        self.logger = logger
        self.stream = try PseudonymKey.configured(in: settings.environment).map {
            AnalystStream(key: $0, outbox: Outbox(
                topics: settings.topics, source: "/passerelle/\(EvaluationService.name)",
                wakeUpChannel: MessagingSchema.channel(schema: settings.postgres.schema ?? EvaluationService.name)))
        }
    }

    /// What was read so far.
    struct Replay {
        var states: [UUID: PathwayState] = [:]
        var erased: Set<UUID> = []
        /// Every event applied (or skipped as unreadable, which the live consumer dead-letters too).
        var events: [(id: UUID, type: String, topic: String, partition: Int32, offset: Int64, referral: UUID?)] = []
        var skipped = 0
        /// Per partition, the next offset to read.
        var positions: [TopicPartition: Int64] = [:]

        /// A message decoded, or why it could not be.
        enum Decoded: Sendable {
            case unreadableEnvelope(any Error)
            case event(CloudEvent, Result<ProjectionEvent?, any Error>)
        }

        static func decode(_ message: KafkaMessage) -> Decoded {
            let headers = Dictionary(message.headers.compactMap { header in header.text.map { (header.key, $0) } }, uniquingKeysWith: { _, last in last })
            do {
                let event = try CloudEvent(headers: headers, data: message.value)
                return .event(event, Result { try ProjectionEvent(event) })
            } catch {
                return .unreadableEnvelope(error)
            }
        }

        /// Decodes `messages` on every core (decoding is most of the work and independent per
        /// message), then applies them one by one in the order read.
        mutating func apply(_ messages: [KafkaMessage], logger: Logger) async {
            let lanes = max(1, min(ProcessInfo.processInfo.activeProcessorCount, messages.count / 256))
            let slice = (messages.count + lanes - 1) / lanes
            let decoded = await withTaskGroup(of: (Int, [Decoded]).self) { group in
                for lane in 0..<lanes {
                    let part = messages[min(lane * slice, messages.count)..<min((lane + 1) * slice, messages.count)]
                    group.addTask { (lane, part.map(Self.decode)) }
                }
                var parts = [[Decoded]](repeating: [], count: lanes)
                for await (lane, part) in group { parts[lane] = part }
                return parts.flatMap { $0 }
            }
            for (message, decoded) in zip(messages, decoded) {
                apply(decoded, of: message, logger: logger)
            }
        }

        mutating func apply(_ decoded: Decoded, of message: KafkaMessage, logger: Logger) {
            switch decoded {
            case .unreadableEnvelope(let error):
                logger.warning("record without a readable envelope skipped", metadata: ["topic": "\(message.topic)", "offset": "\(message.offset)", "error": "\(error)"])
                skipped += 1
            case .event(let event, .failure(let error)):
                logger.warning("unreadable event skipped", metadata: ["event_id": "\(event.id)", "event_type": "\(event.type)", "error": "\(error)"])
                skipped += 1
            case .event(let event, .success(nil)):
                events.append((event.id, event.type, message.topic, message.partition, message.offset, nil))
            case .event(let event, .success(let projected?)):
                let referral = projected.referralID
                var state = states[referral] ?? PathwayState()
                projected.apply(to: &state)
                if state.erased {
                    erased.insert(referral)
                    states[referral] = nil
                } else {
                    states[referral] = state
                }
                events.append((event.id, event.type, message.topic, message.partition, message.offset, referral))
            }
        }
    }

    /// The topics in the order they are read: the referrals topic first, so the pathway an
    /// event of the matching topic is about is always there (as it was when matching produced it).
    var stages: [[String]] {
        [[TopicName.referrals], [.matching, .notifications]].map { $0.map(settings.topics.name) }
    }

    public func run() async throws -> Summary {
        let started = ContinuousClock.now
        var consumers: [KafkaConsumer] = []
        do {
            // Partitions are assigned, not subscribed: no group to join, nothing committed.
            let configuration = KafkaConsumerConfiguration(
                kafka: settings.kafka, groupID: "\(settings.consumerGroup)-rebuild-\(UUID().uuidString.prefix(8).lowercased())", bufferCapacity: 20_000)
            var replay = Replay()
            for topics in stages {
                let partitions = try await KafkaTopicAdmin.offsets(of: topics, configuration: settings.kafka, logger: logger)
                let consumer = try KafkaConsumer(
                    configuration: configuration, reading: partitions.mapValues { _ in KafkaPartitionOffsets.beginning }, logger: logger)
                consumers.append(consumer)
                try await read(topics, from: consumer, into: &replay)
            }
            let read = ContinuousClock.now - started
            logger.info("projection replayed; swapping it in", metadata: ["events": "\(replay.events.count)", "seconds": "\(read)"])
            let summary = try await swap(replay, consumers: consumers, started: started, reading: read)
            for consumer in consumers { await consumer.close() }
            return summary
        } catch {
            for consumer in consumers { await consumer.close() }
            throw error
        }
    }

    /// Reads `topics` up to where their partitions end now.
    private func read(_ topics: [String], from consumer: KafkaConsumer, into replay: inout Replay) async throws {
        let ends = try await KafkaTopicAdmin.offsets(of: topics, configuration: settings.kafka, logger: logger)
        var iterator = consumer.messages.makeAsyncIterator()
        var positions = replay.positions
        let logger = logger
        var chunk: [KafkaMessage] = []
        chunk.reserveCapacity(4_096)
        let complete = await iterator.read(to: ends, positions: &positions) { message in
            chunk.append(message)
            if chunk.count == 4_096 {
                await replay.apply(chunk, logger: logger)
                chunk.removeAll(keepingCapacity: true)
            }
        }
        await replay.apply(chunk, logger: logger)
        replay.positions = positions
        guard complete else {
            throw ProjectionRebuildError(description: "the consumer of \(topics.joined(separator: ", ")) closed before reaching the end")
        }
    }

    private func swap(_ replay: Replay, consumers: [KafkaConsumer], started: ContinuousClock.Instant, reading: Duration) async throws -> Summary {
        // One connection for the whole transaction; reading the rest of the topics happens inside it.
        try await pool.withConnection { connection in
            var replay = replay
            try await connection.query("BEGIN")
            do {
                try await connection.query("LOCK TABLE processed_events IN EXCLUSIVE MODE")
                for (topics, consumer) in zip(stages, consumers) {
                    try await read(topics, from: consumer, into: &replay)
                }
                try await write(replay, on: connection)
                try await connection.query("COMMIT")
                return Summary(
                    events: replay.events.count + replay.skipped, skipped: replay.skipped,
                    pathways: replay.states.values.filter { $0.pathway != nil }.count,
                    unmetNeeds: replay.states.values.reduce(0) { $0 + $1.unmetNeeds.count },
                    seconds: (ContinuousClock.now - started).seconds, readingSeconds: reading.seconds)
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    /// Everything the transaction writes.
    private func write(_ replay: Replay, on connection: PostgresConnection) async throws {
        try await connection.query("DROP TABLE IF EXISTS pathway_rebuild, unmet_need_rebuild")
        try await connection.query("CREATE TABLE pathway_rebuild (LIKE pathway INCLUDING ALL)")
        try await connection.query("CREATE TABLE unmet_need_rebuild (LIKE unmet_need INCLUDING ALL)")
        // Bulk loads go through COPY: the rebuild writes every pathway and every event at once.
        var pathways = PostgresCopyRows(), unmet = PostgresCopyRows()
        for state in replay.states.values {
            if let pathway = state.pathway { pathways.append(pathway.columnValues) }
            for need in state.unmetNeeds { unmet.append(need.columnValues) }
        }
        try await connection.copy(into: "pathway_rebuild", columns: PathwayRecord.columns, rows: pathways)
        try await connection.copy(into: "unmet_need_rebuild", columns: UnmetNeedRecord.columns, rows: unmet)
        // Events the live consumer had not reached: recorded as processed here, their effects
        // beyond the projection applied here too.
        try await connection.query("""
            CREATE TEMPORARY TABLE replayed_event (event_id uuid, event_type text, topic text, partition int, record_offset bigint, referral_id uuid)
            ON COMMIT DROP
            """)
        var events = PostgresCopyRows()
        for event in replay.events { events.append([event.id, event.type, event.topic, Int(event.partition), event.offset, event.referral]) }
        try await connection.copy(into: "replayed_event", columns: ["event_id", "event_type", "topic", "partition", "record_offset", "referral_id"], rows: events)
        let touched = Set(try await connection.query("""
            WITH unreached AS (
                INSERT INTO processed_events (consumer, event_id, event_type, topic, partition, record_offset)
                SELECT \(settings.consumerGroup), event_id, event_type, topic, partition, record_offset FROM replayed_event
                ON CONFLICT DO NOTHING
                RETURNING event_id
            )
            SELECT DISTINCT r.referral_id FROM replayed_event r JOIN unreached u USING (event_id) WHERE r.referral_id IS NOT NULL
            """).map { try $0.decode("referral_id", as: UUID.self) })
        let erased = Array(replay.erased.intersection(touched))
        if !erased.isEmpty {
            for table in ["outcome_measure", "service_use"] {
                try await connection.query("DELETE FROM \(identifier: table) WHERE referral_id = ANY(\(erased)::uuid[])")
            }
        }
        if let stream {
            for referral in touched.sorted(by: { $0.uuidString < $1.uuidString }) {
                if let pathway = replay.states[referral]?.pathway, pathway.consentEvaluationUse {
                    try await stream.publish(pathway, on: connection)
                }
            }
        }
        try await connection.query("DROP TABLE pathway")
        try await connection.query("ALTER TABLE pathway_rebuild RENAME TO pathway")
        try await connection.query("DROP TABLE unmet_need")
        try await connection.query("ALTER TABLE unmet_need_rebuild RENAME TO unmet_need")
    }
}

public struct ProjectionRebuildError: Error, CustomStringConvertible {
    public var description: String
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

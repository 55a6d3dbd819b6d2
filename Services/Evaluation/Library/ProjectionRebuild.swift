import Contracts
import Foundation
import KafkaClient
import Logging
import Messaging
import PostgresClient
import ServiceRuntime
import WireFormats

/// Rebuilds the pathway projection from the beginning of the topics and swaps it in.
///
/// 1. Note where every partition ends, then read all of it with a fresh consumer group,
///    applying each event to an in-memory projection with `ProjectionEvent.apply`, the code the
///    live consumer runs. Decoding (most of the work, independent per record) runs on every
///    core ahead of applying, which follows the order read.
/// 2. Load that projection into fresh tables on one connection while, on another, one
///    transaction locks `processed_events` (the live consumer waits for its next event and
///    nothing it did is left uncommitted), reads on to where the partitions end now, records
///    every event read as processed (so the live consumer skips those it had not reached yet,
///    and whatever it had applied is included) and applies the side effects of events the live
///    consumer had not reached (erasures, the analyst stream). Once the tables are loaded, that
///    transaction rewrites the pathways the last events changed and puts the fresh tables in
///    place of the old ones. The rebuild therefore needs two connections of its pool.
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
    /// Runs after the first reading, before the swapping transaction: tests publish events
    /// there to exercise the catching up.
    var beforeSwapping: (@Sendable () async throws -> Void)?

    public init(settings: ServiceSettings, pool: PostgresConnectionPool, logger: Logger) throws {
        self.settings = settings
        self.pool = pool
        self.logger = logger
        let zone = try ReportWindow.zone(in: settings.environment)
        self.stream = try PseudonymKey.configured(in: settings.environment).map {
            AnalystStream(
                key: $0,
                outbox: Outbox(
                    topics: settings.topics, source: "/passerelle/\(EvaluationService.name)",
                    wakeUpChannel: MessagingSchema.channel(schema: settings.postgres.schema ?? EvaluationService.name)),
                zone: zone)
        }
    }

    /// The columns of the temporary table of events read, in the order of their COPY rows.
    static let replayedEventColumns = ["event_id", "event_type", "topic", "partition", "record_offset", "referral_id"]

    /// What was read so far.
    struct Replay {
        var states: [UUID: PathwayState] = [:]
        var erased: Set<UUID> = []
        /// Every event applied (or skipped as unreadable, which the live consumer dead-letters
        /// too), as COPY rows of `replayedEventColumns`.
        var events = PostgresCopyRows()
        var skipped = 0
        /// Referrals whose pathway changed since `changed` was last emptied.
        var changed: Set<UUID> = []
        /// Per partition, the next offset to read.
        var positions: [TopicPartition: Int64] = [:]

        /// A message decoded, or why it could not be.
        enum Decoded: Sendable {
            case unreadableEnvelope(any Error)
            case event(CloudEvent, Result<ProjectionEvent?, any Error>)
        }

        /// A batch of messages decoded, with the COPY rows of the events among them.
        struct DecodedBatch: Sendable {
            var messages: [KafkaMessage]
            var decoded: [Decoded]
            var rows: PostgresCopyRows

            init(_ messages: [KafkaMessage]) {
                self.messages = messages
                decoded = messages.map(Replay.decode)
                rows = PostgresCopyRows()
                for (message, decoded) in zip(messages, decoded) {
                    if case .event(let event, .success(let projected)) = decoded {
                        rows.append([event.id, event.type, message.topic, Int(message.partition), message.offset, projected?.referralID])
                    }
                }
            }
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

        mutating func apply(_ batch: DecodedBatch, logger: Logger) {
            events.append(contentsOf: batch.rows)
            for (message, decoded) in zip(batch.messages, batch.decoded) {
                switch decoded {
                case .unreadableEnvelope(let error):
                    logger.warning(
                        "record without a readable envelope skipped",
                        metadata: ["topic": "\(message.topic)", "offset": "\(message.offset)", "error": "\(error)"])
                    skipped += 1
                case .event(let event, .failure(let error)):
                    logger.warning("unreadable event skipped", metadata: ["event_id": "\(event.id)", "event_type": "\(event.type)", "error": "\(error)"])
                    skipped += 1
                case .event(_, .success(nil)):
                    break
                case .event(_, .success(let projected?)):
                    let referral = projected.referralID
                    var state = states[referral] ?? PathwayState()
                    projected.apply(to: &state)
                    if state.erased {
                        erased.insert(referral)
                        states[referral] = nil
                    } else {
                        states[referral] = state
                    }
                    changed.insert(referral)
                }
            }
        }

        /// The projection's rows for `referrals` (all when nil).
        func rows(of referrals: Set<UUID>? = nil) -> (pathways: PostgresCopyRows, unmetNeeds: PostgresCopyRows) {
            var pathways = PostgresCopyRows()
            var unmet = PostgresCopyRows()
            func add(_ state: PathwayState) {
                if let pathway = state.pathway { pathways.append(pathway.columnValues) }
                for need in state.unmetNeeds { unmet.append(need.columnValues) }
            }
            if let referrals {
                for referral in referrals { states[referral].map(add) }
            } else {
                states.values.forEach(add)
            }
            return (pathways, unmet)
        }
    }

    /// The topics in the order they are read: the referrals topic first, so the pathway an
    /// event of the matching topic is about is always there (as it was when matching produced it).
    var stages: [[String]] {
        [[TopicName.referrals], [.matching, .notifications]].map { $0.map(settings.topics.name) }
    }

    public func run() async throws -> Summary {
        // The fresh tables load on one connection while the swap holds another.
        guard pool.configuration.poolSize >= 2 else {
            throw ProjectionRebuildError(
                description: "the rebuild needs a pool of at least two connections (PASSERELLE_DB_POOL_SIZE is \(pool.configuration.poolSize))")
        }
        let started = ContinuousClock.now
        var consumers: [KafkaConsumer] = []
        do {
            // Partitions are assigned, not subscribed: no group to join, nothing committed.
            let configuration = KafkaConsumerConfiguration(
                kafka: settings.kafka, groupID: "\(settings.consumerGroup)-rebuild-\(UUID.random().uuidString.prefix(8).lowercased())", bufferCapacity: 20_000)
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
            try await beforeSwapping?()
            let summary = try await swap(replay, consumers: consumers, started: started, reading: read)
            for consumer in consumers { await consumer.close() }
            return summary
        } catch {
            for consumer in consumers { await consumer.close() }
            throw error
        }
    }

    /// Batches decoded ahead of the one being applied: enough to keep every core busy while
    /// the reading task applies, few enough to bound memory.
    static let batchesAhead = 4

    /// Reads `topics` up to where their partitions end now.
    private func read(_ topics: [String], from consumer: KafkaConsumer, into replay: inout Replay) async throws {
        let ends = try await KafkaTopicAdmin.offsets(of: topics, configuration: settings.kafka, logger: logger)
        var iterator = consumer.messages.makeAsyncIterator()
        var positions = replay.positions
        let logger = logger
        // Every batch is awaited below, whatever happens, so none outlives the reading.
        var decoding: [Task<Replay.DecodedBatch, Never>] = []
        let complete = await iterator.read(to: ends, positions: &positions) { messages in
            decoding.append(Task { Replay.DecodedBatch(messages) })
            if decoding.count > Self.batchesAhead {
                replay.apply(await decoding.removeFirst().value, logger: logger)
            }
        }
        for batch in decoding { replay.apply(await batch.value, logger: logger) }
        replay.positions = positions
        guard complete else {
            throw ProjectionRebuildError(description: "the consumer of \(topics.joined(separator: ", ")) closed before reaching the end")
        }
    }

    private func swap(_ replay: Replay, consumers: [KafkaConsumer], started: ContinuousClock.Instant, reading: Duration) async throws -> Summary {
        let logger = logger
        let loading = Task { [pool] in
            let started = ContinuousClock.now
            try await pool.withConnection { connection in try await Self.load(replay, on: connection) }
            logger.debug("fresh tables loaded", metadata: ["seconds": "\((ContinuousClock.now - started).seconds)"])
        }
        do {
            // One connection for the whole transaction; reading the rest of the topics happens inside it.
            let summary = try await pool.withConnection { connection in
                var replay = replay
                // Where the swap's time goes, for the debug log (the reading was the slow part until
                // each phase could be seen).
                var phases: [(String, Duration)] = []
                var mark = ContinuousClock.now
                func phase(_ name: String) {
                    let now = ContinuousClock.now
                    phases.append((name, now - mark))
                    mark = now
                }
                try await connection.query("BEGIN")
                do {
                    try await connection.query("LOCK TABLE processed_events IN EXCLUSIVE MODE")
                    phase("locking")
                    replay.changed = []
                    for (topics, consumer) in zip(stages, consumers) {
                        try await read(topics, from: consumer, into: &replay)
                    }
                    phase("catching_up")
                    try await record(replay, on: connection)
                    phase("recording")
                    try await loading.value
                    phase("waiting_for_tables")
                    try await swapIn(replay, on: connection)
                    phase("swapping")
                    try await connection.query("COMMIT")
                    phase("committing")
                    logger.debug("swapped in", metadata: Logger.Metadata(uniqueKeysWithValues: phases.map { ("\($0.0)_seconds", "\($0.1.seconds)") }))
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
            return summary
        } catch {
            // The loading connection goes back to the pool before the failure is reported.
            _ = await loading.result
            throw error
        }
    }

    /// Fresh tables holding the projection as first read (outside the swapping transaction:
    /// nothing else uses them until they are swapped in).
    private static func load(_ replay: Replay, on connection: PostgresConnection) async throws {
        try await connection.query("DROP TABLE IF EXISTS pathway_rebuild, unmet_need_rebuild")
        try await connection.query("CREATE TABLE pathway_rebuild (LIKE pathway INCLUDING ALL)")
        try await connection.query("CREATE TABLE unmet_need_rebuild (LIKE unmet_need INCLUDING ALL)")
        let rows = replay.rows()
        try await connection.copy(into: "pathway_rebuild", columns: PathwayRecord.columns, rows: rows.pathways)
        try await connection.copy(into: "unmet_need_rebuild", columns: UnmetNeedRecord.columns, rows: rows.unmetNeeds)
    }

    /// Records every event read as processed by the live consumer, and applies the effects
    /// beyond the projection of those it had not reached.
    private func record(_ replay: Replay, on connection: PostgresConnection) async throws {
        try await connection.query(
            """
            CREATE TEMPORARY TABLE replayed_event (event_id uuid, event_type text, topic text, partition int, record_offset bigint, referral_id uuid)
            ON COMMIT DROP
            """)
        try await connection.copy(into: "replayed_event", columns: Self.replayedEventColumns, rows: replay.events)
        try await connection.query("ANALYZE replayed_event")
        // The live consumer has usually processed most events: filtering those out first (one
        // hash join) leaves the insert only the rest. ON CONFLICT covers an event read twice.
        let touched = Set(
            try await connection.query(
                """
                WITH unreached AS (
                    INSERT INTO processed_events (consumer, event_id, event_type, topic, partition, record_offset)
                    SELECT \(settings.consumerGroup), r.event_id, r.event_type, r.topic, r.partition, r.record_offset FROM replayed_event r
                    WHERE NOT EXISTS (SELECT FROM processed_events p WHERE p.consumer = \(settings.consumerGroup) AND p.event_id = r.event_id)
                    ON CONFLICT DO NOTHING
                    RETURNING event_id
                )
                SELECT DISTINCT r.referral_id FROM replayed_event r JOIN unreached u USING (event_id) WHERE r.referral_id IS NOT NULL
                """
            ).map { try $0.decode("referral_id", as: UUID.self) })
        let erased = Array(replay.erased.intersection(touched))
        if !erased.isEmpty {
            for table in ["outcome_measure", "service_use"] {
                try await connection.query("DELETE FROM \(identifier: table) WHERE referral_id = ANY(\(erased)::uuid[])")
            }
        }
        if let stream {
            for referral in erased.sorted(by: { $0.uuidString < $1.uuidString }) {
                try await stream.retract(referral, on: connection)
            }
            for referral in touched.sorted(by: { $0.uuidString < $1.uuidString }) {
                if let pathway = replay.states[referral]?.pathway, pathway.consentEvaluationUse {
                    try await stream.publish(pathway, on: connection)
                }
            }
        }
    }

    /// Rewrites in the loaded tables the pathways changed since they were loaded, then puts
    /// the tables in place.
    private func swapIn(_ replay: Replay, on connection: PostgresConnection) async throws {
        if !replay.changed.isEmpty {
            let changed = Array(replay.changed)
            try await connection.query("DELETE FROM pathway_rebuild WHERE referral_id = ANY(\(changed)::uuid[])")
            try await connection.query("DELETE FROM unmet_need_rebuild WHERE referral_id = ANY(\(changed)::uuid[])")
            let rows = replay.rows(of: replay.changed)
            try await connection.copy(into: "pathway_rebuild", columns: PathwayRecord.columns, rows: rows.pathways)
            try await connection.copy(into: "unmet_need_rebuild", columns: UnmetNeedRecord.columns, rows: rows.unmetNeeds)
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

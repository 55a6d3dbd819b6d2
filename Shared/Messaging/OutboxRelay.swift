import Backoff
import Foundation
import KafkaClient
import Logging
import Metrics
import PostgresClient
import ServiceLifecycle

/// Publishes the outbox of one schema.
///
/// Each round, in one transaction: take the schema's relay lock (one active relay per schema,
/// so per-key order holds even with many replicas), select unsent rows in id order with
/// `FOR UPDATE SKIP LOCKED`, produce them in that order with the idempotent producer, wait for
/// every delivery report, and mark as sent only the rows the broker acknowledged. It never
/// remembers "the last id sent": ids commit out of order, and such a relay silently skips rows.
///
/// A crash after publishing and before marking republishes those rows: consumers deduplicate.
/// A row marked sent keeps the partition and offset of the broker's acknowledgement
/// (`sent_partition`, `sent_offset`): the proof of its publication.
///
/// A row that can never be published does not hold its key forever: refused for good (too
/// large for the broker, invalid) or refused `maximumRefusals` times (unknown topic, not
/// authorised; unavailability never counts), it moves to the dead-letter state
/// (`dead_lettered_at`), and the unsent rows of its topic and key after it follow it there, so
/// consumers never get a key's later event without its earlier one. Shared/MESSAGING.md
/// has the order rule and how operators requeue dead letters.
///
/// Every `backlogInterval` it also measures what waits (`passerelle_outbox_waiting_rows`,
/// `passerelle_outbox_oldest_waiting_age_seconds`, `passerelle_outbox_dead_letter_rows`, by
/// schema): what operators watch to see a relay that cannot publish.
public final class OutboxRelay: Service, Sendable {
    private let pool: PostgresConnectionPool
    private let producer: KafkaProducer
    private let schema: String
    private let wakeUps: WakeUpLoop
    private let batchSize: Int
    private let pollInterval: Duration
    private let coalescingDelay: Duration
    private let backlogInterval: Duration
    private let gate: ReadinessGate
    private let logger: Logger
    private let published: Counter
    private let failures: Counter
    private let deadLetters: Counter
    private let deadLetterRows: Gauge
    private let maximumRefusals: Int
    private let retention: OutboxRetention
    private let purged: Counter
    private let waitingRows: Gauge
    private let oldestWaitingAge: Gauge

    public init(
        pool: PostgresConnectionPool, producer: KafkaProducer, schema: String, gate: ReadinessGate,
        batchSize: Int = 500, pollInterval: Duration = .seconds(1), coalescingDelay: Duration = .milliseconds(5),
        backlogInterval: Duration = .seconds(5), maximumRefusals: Int = 10, retention: OutboxRetention = OutboxRetention(),
        metrics: any MetricsFactory = MetricsSystem.factory, logger: Logger
    ) {
        self.retention = retention
        precondition(maximumRefusals >= 1, "a row is dead-lettered after at least one refusal")
        self.maximumRefusals = maximumRefusals
        self.pool = pool
        self.producer = producer
        self.schema = schema
        self.gate = gate
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        // Outboxes skip wake-ups within their window of an earlier one, counting on this delay.
        precondition(coalescingDelay > Outbox.wakeUpWindow, "the relay must wait longer after a wake-up than outboxes' wake-up window")
        self.coalescingDelay = coalescingDelay
        self.backlogInterval = backlogInterval
        self.logger = logger
        // After a wake-up, the coalescing delay lets a few more commits land so one round carries
        // them all (under load a round per commit costs the writers more than those milliseconds).
        self.wakeUps = WakeUpLoop(
            pool: pool, channel: MessagingSchema.channel(schema: schema), pollInterval: pollInterval, settleDelay: coalescingDelay, logger: logger)
        self.published = Counter(label: "passerelle_outbox_published_total", dimensions: [("schema", schema)], factory: metrics)
        self.failures = Counter(label: "passerelle_outbox_publish_failures_total", dimensions: [("schema", schema)], factory: metrics)
        self.deadLetters = Counter(label: "passerelle_outbox_dead_letter_total", dimensions: [("schema", schema)], factory: metrics)
        self.deadLetterRows = Gauge(label: "passerelle_outbox_dead_letter_rows", dimensions: [("schema", schema)], factory: metrics)
        self.purged = Counter(label: "passerelle_outbox_purged_rows_total", dimensions: [("schema", schema)], factory: metrics)
        self.waitingRows = Gauge(label: "passerelle_outbox_waiting_rows", dimensions: [("schema", schema)], factory: metrics)
        self.oldestWaitingAge = Gauge(label: "passerelle_outbox_oldest_waiting_age_seconds", dimensions: [("schema", schema)], factory: metrics)
    }

    public func run() async throws {
        guard await gate.wait() else { return }  // cancelled before the schema was ready
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchBacklog() }
            group.addTask { await self.purgeRegularly() }
            // Another replica's relay may be in a round that read the outbox before this process's
            // latest commits, whose wake-up reached only this relay: then try again shortly rather
            // than at the next poll, backing off while that relay stays busy (it then runs further
            // rounds itself, which take those rows).
            var held = ExponentialBackoff(initial: coalescingDelay, maximum: pollInterval)
            await wakeUps.run {
                let round = try await self.publishBatch()
                if round.heldElsewhere { return .after(held.next()) }
                held.reset()
                if round.full && (round.published > 0 || round.deadLettered > 0) { return .now }  // more waiting
                // Rows the broker refused: not again at once, whatever wakes the loop.
                if round.failed > 0 {
                    let pause = self.wakeUps.errorBackoff.initial
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
                }
                return .afterWakeUp
            } onError: { error in
                self.failures.increment()
                self.logger.warning("outbox relay round failed; retrying", metadata: ["schema": "\(self.schema)", "error": "\(error)"])
            }
            group.cancelAll()
        }
    }

    /// Rows not sent yet, how long the oldest has waited, and the rows in the dead-letter state.
    public struct Backlog: Sendable, Equatable {
        public var waitingRows: Int
        public var oldestWaitingAge: Duration
        public var deadLetterRows: Int = 0
    }

    /// Measures the backlog with one query and records it in the gauges.
    @discardableResult
    public func recordBacklog() async throws -> Backlog {
        let backlog = try await pool.withConnection { connection in
            // The oldest found by id through the index of unsent rows, not by reading them all.
            let row = try await connection.query(
                """
                SELECT count(*) AS waiting,
                       coalesce(extract(epoch FROM clock_timestamp()
                           - (SELECT created_at FROM outbox WHERE sent_at IS NULL AND dead_lettered_at IS NULL ORDER BY id LIMIT 1)), 0)::float8 AS oldest,
                       (SELECT count(*) FROM outbox WHERE dead_lettered_at IS NOT NULL) AS dead_letters
                FROM outbox WHERE sent_at IS NULL AND dead_lettered_at IS NULL
                """
            ).first
            let oldest = try row?.decode("oldest", as: Double.self) ?? 0
            return Backlog(
                waitingRows: try row?.decode("waiting", as: Int.self) ?? 0, oldestWaitingAge: .milliseconds(Int64((oldest * 1_000).rounded())),
                deadLetterRows: try row?.decode("dead_letters", as: Int.self) ?? 0)
        }
        deadLetterRows.record(backlog.deadLetterRows)
        waitingRows.record(backlog.waitingRows)
        oldestWaitingAge.record(backlog.oldestWaitingAge.inSeconds)
        return backlog
    }

    private func watchBacklog() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await recordBacklog()
            } catch {
                logger.warning("could not measure the outbox backlog", metadata: ["schema": "\(schema)", "error": "\(error)"])
            }
            let interval = backlogInterval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// What one purge removed.
    public struct Purge: Sendable, Equatable {
        public var outboxRows: Int
        public var processedEvents: Int

        public init(outboxRows: Int = 0, processedEvents: Int = 0) {
            self.outboxRows = outboxRows
            self.processedEvents = processedEvents
        }
    }

    /// Deletes, in batches of `retention.batchSize` (each its own short statement, so writers
    /// and the relay wait on none of them for long), the outbox rows published more than
    /// `retention.published` ago, and the processed-event records older than
    /// `retention.processedEvents` when that is set. Dead-lettered and unsent rows stay.
    @discardableResult
    public func purge() async throws -> Purge {
        var done = Purge()
        let batch = retention.batchSize
        let published = retention.published.inSeconds
        while true {
            let removed = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    DELETE FROM outbox WHERE id IN (
                        SELECT id FROM outbox WHERE sent_at < clock_timestamp() - make_interval(secs => \(published))
                        ORDER BY sent_at LIMIT \(batch) FOR UPDATE SKIP LOCKED)
                    RETURNING id
                    """
                ).count
            }
            done.outboxRows += removed
            if removed < batch || Task.isCancelled { break }
        }
        if let horizon = retention.processedEvents?.inSeconds {
            while true {
                let removed = try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        DELETE FROM processed_events WHERE (consumer, event_id) IN (
                            SELECT consumer, event_id FROM processed_events WHERE processed_at < clock_timestamp() - make_interval(secs => \(horizon))
                            ORDER BY processed_at LIMIT \(batch) FOR UPDATE SKIP LOCKED)
                        RETURNING event_id
                        """
                    ).count
                }
                done.processedEvents += removed
                if removed < batch || Task.isCancelled { break }
            }
        }
        purged.increment(by: done.outboxRows)
        return done
    }

    private func purgeRegularly() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let done = try await purge()
                if done != Purge() {
                    logger.info(
                        "purged the outbox",
                        metadata: ["schema": "\(schema)", "outbox_rows": "\(done.outboxRows)", "processed_events": "\(done.processedEvents)"])
                }
            } catch {
                logger.warning("could not purge the outbox", metadata: ["schema": "\(schema)", "error": "\(error)"])
            }
            let interval = retention.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    public struct Round: Sendable, Equatable {
        public var published: Int
        public var failed: Int
        /// Another relay of the schema held the round's lock: nothing was read.
        public var heldElsewhere = false
        /// Rows moved to the dead-letter state this round (refused for good, or behind such a
        /// row on their key).
        public var deadLettered = 0
        /// The round read a full batch: more may be waiting.
        public var full = false

        public init(published: Int, failed: Int, heldElsewhere: Bool = false, deadLettered: Int = 0, full: Bool = false) {
            self.published = published
            self.failed = failed
            self.heldElsewhere = heldElsewhere
            self.deadLettered = deadLettered
            self.full = full
        }
    }

    /// Whether a failure counts towards the dead-letter limit: the broker or the client refused
    /// the record. Unavailability (broker down, timed out, shutting down) says nothing about the
    /// record and never dead-letters it, however long it lasts; nor does being held behind a
    /// refused record of the same key.
    static func isRefusal(_ error: KafkaError) -> Bool {
        switch error.kind {
        case .unavailable, .messageTimedOut, .closed, .fatal, .heldBehindRefusal: return false
        default: return true
        }
    }

    /// One round. With `markAsSent: false` it publishes and then forgets to record it, which is
    /// exactly what a crash between the two looks like (tests use it).
    @discardableResult
    public func publishBatch(markAsSent: Bool = true) async throws -> Round {
        let schema = schema
        let batchSize = batchSize
        let producer = producer
        let maximumRefusals = maximumRefusals
        let round = try await pool.transaction { connection in
            let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\("passerelle.outbox." + schema))) AS locked")
            guard try locked.first?.decode("locked", as: Bool.self) == true else { return Round(published: 0, failed: 0, heldElsewhere: true) }
            // With the lock, every unsent row is visible here, so an earlier row of a key is
            // either in this batch (ids come in order) or already sent or dead-lettered.
            let rows = try await connection.query(
                """
                SELECT o.id, o.topic, o.record_key, o.headers::text AS headers, o.payload, o.refusals,
                       (SELECT min(d.id) FROM outbox d WHERE d.dead_lettered_at IS NOT NULL AND d.topic = o.topic
                            AND d.record_key = o.record_key AND d.id < o.id) AS dead_letter_ahead
                FROM outbox o WHERE o.sent_at IS NULL AND o.dead_lettered_at IS NULL
                ORDER BY o.id LIMIT \(batchSize) FOR UPDATE OF o SKIP LOCKED
                """)
            guard !rows.isEmpty else { return Round(published: 0, failed: 0) }
            var ids: [Int64] = []
            var refusals: [Int] = []
            var keys: [OutboxKey] = []
            var records: [KafkaRecord] = []
            var followers: [(id: Int64, ahead: Int64)] = []
            for row in rows {
                let id: Int64 = try row.decode("id")
                let topic: String = try row.decode("topic")
                let key: String = try row.decode("record_key")
                // A key whose earlier row is dead-lettered follows it, unsent: publishing it would
                // hand consumers a later event without the earlier one.
                if let ahead = try row.decode("dead_letter_ahead", as: Int64?.self) {
                    followers.append((id, ahead))
                    continue
                }
                ids.append(id)
                refusals.append(try row.decode("refusals"))
                keys.append(OutboxKey(topic: topic, key: key))
                let headers = try JSONDecoder().decode([String: String].self, from: Data(try row.decode("headers", as: String.self).utf8))
                records.append(
                    KafkaRecord(
                        topic: topic, key: Array(key.utf8), value: try row.decode("payload", as: String?.self).map { Array($0.utf8) },
                        headers: headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, text: $0.value) }))
            }
            for follower in followers {
                try await connection.query(
                    """
                    UPDATE outbox SET dead_lettered_at = clock_timestamp(), last_error = \("behind dead-lettered outbox row \(follower.ahead) of its key")
                    WHERE id = \(follower.id)
                    """)
            }
            let results = try await producer.send(records)
            var sent: [Int64] = []
            var partitions: [Int32] = []
            var offsets: [Int64] = []
            var failed = 0
            var deadLettered = followers.count
            var deadKeys: [OutboxKey: Int64] = [:]
            for (index, result) in results.enumerated() {
                let id = ids[index]
                switch result {
                case .success(let report):
                    sent.append(id)
                    partitions.append(report.partition)
                    offsets.append(report.offset)
                case .failure(let error):
                    failed += 1
                    let refused = Self.isRefusal(error)
                    let deadLetter = error.isPermanent || (refused && refusals[index] + 1 >= maximumRefusals)
                    try await connection.query(
                        """
                        UPDATE outbox SET attempts = attempts + 1, refusals = refusals + \(refused ? 1 : 0), last_error = \(error.description),
                            dead_lettered_at = CASE WHEN \(deadLetter)::boolean THEN clock_timestamp() END
                        WHERE id = \(id)
                        """)
                    if deadLetter {
                        deadLettered += 1
                        if deadKeys[keys[index]] == nil { deadKeys[keys[index]] = id }
                    }
                }
            }
            // The rows of a dead-lettered key after it follow it at once (those of this batch
            // held back, and any beyond it); later ones are caught when read.
            for (key, id) in deadKeys {
                let following = try await connection.query(
                    """
                    UPDATE outbox SET dead_lettered_at = clock_timestamp(), last_error = \("behind dead-lettered outbox row \(id) of its key")
                    WHERE topic = \(key.topic) AND record_key = \(key.key) AND id > \(id) AND sent_at IS NULL AND dead_lettered_at IS NULL
                    RETURNING id
                    """)
                deadLettered += following.count
                failed -= following.filter { row in (try? row.decode("id", as: Int64.self)).map { ids.contains($0) } ?? false }.count
            }
            if markAsSent && !sent.isEmpty {
                // Where the broker acknowledged each row: the proof a topic reader checks.
                try await connection.query(
                    """
                    UPDATE outbox SET sent_at = clock_timestamp(), attempts = attempts + 1, sent_partition = acked.partition, sent_offset = acked.record_offset
                    FROM unnest(\(sent)::bigint[], \(partitions)::integer[], \(offsets)::bigint[]) AS acked(id, partition, record_offset)
                    WHERE outbox.id = acked.id
                    """)
            }
            return Round(published: sent.count, failed: failed, deadLettered: deadLettered, full: rows.count == batchSize)
        }
        published.increment(by: round.published)
        if round.deadLettered > 0 {
            deadLetters.increment(by: round.deadLettered)
            logger.error(
                "outbox rows moved to the dead-letter state: they will not be published until requeued",
                metadata: ["schema": "\(schema)", "rows": "\(round.deadLettered)"])
        }
        return round
    }
}

/// The unit of order on a topic: records of one key, in outbox id order.
private struct OutboxKey: Hashable {
    let topic: String
    let key: String
}

/// How long the outbox keeps what it no longer needs, and how the relay removes it.
public struct OutboxRetention: Sendable {
    /// Published rows are kept this long (`PASSERELLE_OUTBOX_RETENTION_HOURS`, 7 days): for
    /// operators tracing an event back to its writer, and for fault tests reading them.
    public var published: Duration
    /// Processed-event records older than this are removed (`PASSERELLE_PROCESSED_EVENTS_RETENTION_HOURS`);
    /// nil keeps them. Removing one lets a redelivery of that event take effect again, so this
    /// must exceed the longest a record can come back: the topics' retention (a consumer group
    /// whose offsets expired, or a projection rebuilt from the start, reads all a topic
    /// still holds; a compacted topic holds each key's latest record for ever).
    public var processedEvents: Duration?
    /// How often the relay purges (`interval`), and the most rows one statement deletes.
    public var interval: Duration
    public var batchSize: Int

    public init(published: Duration = .seconds(7 * 24 * 3600), processedEvents: Duration? = nil, interval: Duration = .seconds(600), batchSize: Int = 1_000) {
        precondition(batchSize > 0, "a purge deletes at least one row per statement")
        self.published = published
        self.processedEvents = processedEvents
        self.interval = interval
        self.batchSize = batchSize
    }
}

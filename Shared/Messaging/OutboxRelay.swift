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
/// Every `backlogInterval` it also measures what waits (`passerelle_outbox_waiting_rows`,
/// `passerelle_outbox_oldest_waiting_age_seconds`, by schema): what operators watch to see a
/// relay that cannot publish.
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
    private let waitingRows: Gauge
    private let oldestWaitingAge: Gauge

    public init(
        pool: PostgresConnectionPool, producer: KafkaProducer, schema: String, gate: ReadinessGate,
        batchSize: Int = 500, pollInterval: Duration = .seconds(1), coalescingDelay: Duration = .milliseconds(5),
        backlogInterval: Duration = .seconds(5), metrics: any MetricsFactory = MetricsSystem.factory, logger: Logger
    ) {
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
        self.waitingRows = Gauge(label: "passerelle_outbox_waiting_rows", dimensions: [("schema", schema)], factory: metrics)
        self.oldestWaitingAge = Gauge(label: "passerelle_outbox_oldest_waiting_age_seconds", dimensions: [("schema", schema)], factory: metrics)
    }

    public func run() async throws {
        guard await gate.wait() else { return }  // cancelled before the schema was ready
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchBacklog() }
            // Another replica's relay may be in a round that read the outbox before this process's
            // latest commits, whose wake-up reached only this relay: then try again shortly rather
            // than at the next poll, backing off while that relay stays busy (it then runs further
            // rounds itself, which take those rows).
            var held = ExponentialBackoff(initial: coalescingDelay, maximum: pollInterval)
            await wakeUps.run {
                let round = try await self.publishBatch()
                if round.heldElsewhere { return .after(held.next()) }
                held.reset()
                if round.published == self.batchSize { return .now }  // more waiting
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

    /// Rows not sent yet, and how long the oldest has waited.
    public struct Backlog: Sendable, Equatable {
        public var waitingRows: Int
        public var oldestWaitingAge: Duration
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
                           - (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1)), 0)::float8 AS oldest
                FROM outbox WHERE sent_at IS NULL
                """
            ).first
            let oldest = try row?.decode("oldest", as: Double.self) ?? 0
            return Backlog(waitingRows: try row?.decode("waiting", as: Int.self) ?? 0, oldestWaitingAge: .milliseconds(Int64((oldest * 1_000).rounded())))
        }
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

    public struct Round: Sendable, Equatable {
        public var published: Int
        public var failed: Int
        /// Another relay of the schema held the round's lock: nothing was read.
        public var heldElsewhere = false
    }

    /// One round. With `markAsSent: false` it publishes and then forgets to record it, which is
    /// exactly what a crash between the two looks like (tests use it).
    @discardableResult
    public func publishBatch(markAsSent: Bool = true) async throws -> Round {
        let schema = schema
        let batchSize = batchSize
        let producer = producer
        return try await pool.transaction { connection in
            let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\("passerelle.outbox." + schema))) AS locked")
            guard try locked.first?.decode("locked", as: Bool.self) == true else { return Round(published: 0, failed: 0, heldElsewhere: true) }
            let rows = try await connection.query(
                """
                SELECT id, topic, record_key, headers::text AS headers, payload FROM outbox
                WHERE sent_at IS NULL ORDER BY id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
                """)
            guard !rows.isEmpty else { return Round(published: 0, failed: 0) }
            var ids: [Int64] = []
            var records: [KafkaRecord] = []
            for row in rows {
                ids.append(try row.decode("id"))
                let headers = try JSONDecoder().decode([String: String].self, from: Data(try row.decode("headers", as: String.self).utf8))
                records.append(
                    KafkaRecord(
                        topic: try row.decode("topic"),
                        key: Array(try row.decode("record_key", as: String.self).utf8),
                        value: try row.decode("payload", as: String?.self).map { Array($0.utf8) },
                        headers: headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, text: $0.value) }))
            }
            let results = try await producer.send(records)
            let published = self.published
            var sent: [Int64] = []
            var partitions: [Int32] = []
            var offsets: [Int64] = []
            var failed = 0
            for (id, result) in zip(ids, results) {
                switch result {
                case .success(let report):
                    sent.append(id)
                    partitions.append(report.partition)
                    offsets.append(report.offset)
                case .failure(let error):
                    failed += 1
                    try await connection.query("UPDATE outbox SET attempts = attempts + 1, last_error = \(error.description) WHERE id = \(id)")
                }
            }
            published.increment(by: sent.count)
            if markAsSent && !sent.isEmpty {
                // Where the broker acknowledged each row: the proof a topic reader checks.
                try await connection.query(
                    """
                    UPDATE outbox SET sent_at = clock_timestamp(), attempts = attempts + 1, sent_partition = acked.partition, sent_offset = acked.record_offset
                    FROM unnest(\(sent)::bigint[], \(partitions)::integer[], \(offsets)::bigint[]) AS acked(id, partition, record_offset)
                    WHERE outbox.id = acked.id
                    """)
            }
            return Round(published: sent.count, failed: failed)
        }
    }
}

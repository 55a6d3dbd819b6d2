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
public final class OutboxRelay: Service, Sendable {
    private let pool: PostgresConnectionPool
    private let producer: KafkaProducer
    private let schema: String
    private let listener: PostgresListener
    private let batchSize: Int
    private let pollInterval: Duration
    private let coalescingDelay: Duration
    private let gate: ReadinessGate
    private let logger: Logger
    private let published: Counter
    private let failures: Counter

    public init(
        pool: PostgresConnectionPool, producer: KafkaProducer, schema: String, gate: ReadinessGate,
        batchSize: Int = 500, pollInterval: Duration = .seconds(1), coalescingDelay: Duration = .milliseconds(5), logger: Logger
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
        self.logger = logger
        self.listener = PostgresListener(configuration: pool.configuration, channel: MessagingSchema.channel(schema: schema), logger: logger)
        self.published = Counter(label: "passerelle_outbox_published_total", dimensions: [("schema", schema)])
        self.failures = Counter(label: "passerelle_outbox_publish_failures_total", dimensions: [("schema", schema)])
    }

    public func run() async throws {
        guard await gate.wait() else { return }  // cancelled before the schema was ready
        listener.start()
        defer { listener.stop() }
        let signal = WakeUpSignal()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [listener] in
                for await _ in listener.wakeUps { signal.signal() }
            }
            group.addTask { await self.loop(signal) }
            await group.next()  // the loop ends on shutdown
            group.cancelAll()
        }
    }

    private func loop(_ signal: WakeUpSignal) async {
        var backoff = Duration.milliseconds(100)
        var heldBackoff = coalescingDelay
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let round = try await publishBatch()
                backoff = .milliseconds(100)
                if round.heldElsewhere {
                    // Another replica's relay is in a round, which may have read the outbox before
                    // this process's latest commits, and their wake-up reached only this relay: try
                    // again shortly rather than at the next poll, backing off while that relay stays
                    // busy (it then runs further rounds itself, which take those rows).
                    try? await Task.sleep(for: heldBackoff)
                    heldBackoff = min(heldBackoff * 2, pollInterval)
                    continue
                }
                heldBackoff = coalescingDelay
                if round.published == batchSize { continue }  // more waiting: go again at once
                if round.failed > 0 { try? await Task.sleep(for: backoff) }
            } catch {
                failures.increment()
                logger.warning("outbox relay round failed; retrying", metadata: ["schema": "\(schema)", "error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
                continue
            }
            // Until a commit notifies us or the poll interval passes, whichever comes first; then
            // let a few more commits land so one round carries them all (under load a round per
            // commit costs the writers more than the few milliseconds of delay).
            await cancelWhenGracefulShutdown { await signal.wait(timeout: self.pollInterval) }
            try? await Task.sleep(for: coalescingDelay)
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
        let schema = schema, batchSize = batchSize, producer = producer
        return try await pool.transaction { connection in
            let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(hashtext(\("passerelle.outbox." + schema))) AS locked")
            guard try locked.first?.decode("locked", as: Bool.self) == true else { return Round(published: 0, failed: 0, heldElsewhere: true) }
            let rows = try await connection.query("""
                SELECT id, topic, record_key, headers::text AS headers, payload FROM outbox
                WHERE sent_at IS NULL ORDER BY id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
                """)
            guard !rows.isEmpty else { return Round(published: 0, failed: 0) }
            var ids: [Int64] = []
            var records: [KafkaRecord] = []
            for row in rows {
                ids.append(try row.decode("id"))
                let headers = try JSONDecoder().decode([String: String].self, from: Data(try row.decode("headers", as: String.self).utf8))
                records.append(KafkaRecord(
                    topic: try row.decode("topic"),
                    key: Array(try row.decode("record_key", as: String.self).utf8),
                    value: try row.decode("payload", as: String?.self).map { Array($0.utf8) },
                    headers: headers.sorted { $0.key < $1.key }.map { KafkaHeader(key: $0.key, text: $0.value) }))
            }
            let results = try await producer.send(records)
            let published = self.published
            var sent: [Int64] = []
            var failed = 0
            for (id, result) in zip(ids, results) {
                switch result {
                case .success: sent.append(id)
                case .failure(let error):
                    failed += 1
                    try await connection.query("UPDATE outbox SET attempts = attempts + 1, last_error = \(error.description) WHERE id = \(id)")
                }
            }
            published.increment(by: sent.count)
            if markAsSent && !sent.isEmpty {
                try await connection.query("UPDATE outbox SET sent_at = clock_timestamp(), attempts = attempts + 1 WHERE id = ANY(\(sent)::bigint[])")
            }
            return Round(published: sent.count, failed: failed)
        }
    }
}

import Contracts
import Foundation
import KafkaClient
import Logging
import Metrics
import PostgresClient
import ServiceLifecycle
import Synchronization

/// An event as a handler sees it: the envelope and where it came from.
public struct ConsumedEvent: Sendable {
    public var event: CloudEvent
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: String?

    public init(event: CloudEvent, topic: String, partition: Int32, offset: Int64, key: String?) {
        self.event = event
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
    }
}

/// A handler's way of saying "retrying will not help": the event goes to the dead-letter
/// topic at once. Decoding errors are treated the same way.
public struct PermanentEventFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Consumes topics in a consumer group and applies each event exactly once in effect:
///
///   BEGIN; record the event id in `processed_events` (skip if already there); run the handler
///   on the same connection; COMMIT; then mark the Kafka offset processed.
///
/// A crash anywhere before the commit redelivers the event; a crash after it redelivers an
/// event whose id is already recorded, which is skipped. Transient failures (database or broker
/// unavailable) are retried without limit and never advance the offset; other failures are
/// retried `maxAttempts` times, then the message goes to `<topic>.dlq` with the error in its
/// headers and the partition moves on. On graceful shutdown it finishes the events in hand,
/// commits offsets and leaves the group.
///
/// Partitions are handled concurrently on `concurrency` lanes, each in order: a message goes to
/// lane `partition % concurrency`, so one partition's messages never overtake each other, and
/// the same partition number of every topic shares a lane — events keyed by one referral on
/// different topics (same key, same partition count) stay in arrival order within a replica.
/// Handlers that must be ordered across replicas still serialise themselves (row or advisory locks).
public final class IdempotentConsumer: Service, Sendable {
    public typealias Handler = @Sendable (ConsumedEvent, PostgresConnection) async throws -> Void

    private let name: String
    private let topics: [String]
    private let configuration: KafkaConsumerConfiguration
    private let pool: PostgresConnectionPool
    private let producer: KafkaProducer
    private let gate: ReadinessGate
    /// The Kafka consumer while `run` runs.
    private let member = Mutex<KafkaConsumer?>(nil)
    private let maxAttempts: Int
    private let concurrency: Int
    private let handler: Handler
    private let logger: Logger
    private let processed: Counter
    private let duplicates: Counter
    private let deadLettered: Counter
    private let latency: Timer

    /// - Parameters:
    ///   - name: the consumer's name in `processed_events` (usually the group id).
    public init(
        name: String, topics: [String], configuration: KafkaConsumerConfiguration, pool: PostgresConnectionPool,
        producer: KafkaProducer, gate: ReadinessGate, maxAttempts: Int = 5, concurrency: Int = 1, logger: Logger, handler: @escaping Handler
    ) {
        precondition(concurrency >= 1, "a consumer needs at least one lane")
        self.name = name
        self.topics = topics
        self.configuration = configuration
        self.pool = pool
        self.producer = producer
        self.gate = gate
        self.maxAttempts = maxAttempts
        self.concurrency = concurrency
        self.handler = handler
        var logger = logger
        logger[metadataKey: "consumer"] = "\(name)"
        self.logger = logger
        self.processed = Counter(label: "passerelle_events_processed_total", dimensions: [("consumer", name)])
        self.duplicates = Counter(label: "passerelle_events_duplicate_total", dimensions: [("consumer", name)])
        self.deadLettered = Counter(label: "passerelle_events_dead_lettered_total", dimensions: [("consumer", name)])
        self.latency = Timer(label: "passerelle_event_handling_seconds", dimensions: [("consumer", name)], preferredDisplayUnit: .seconds)
    }

    /// Whether this consumer has been given its partitions by the group since it started:
    /// part of the service's readiness.
    public var hasJoinedGroup: Bool { member.withLock { $0?.hasJoinedGroup ?? false } }

    public func run() async throws {
        guard await gate.wait() else { return }
        let consumer = try KafkaConsumer(configuration: configuration, topics: topics, logger: logger)
        member.withLock { $0 = consumer }
        defer { member.withLock { $0 = nil } }
        await withGracefulShutdownHandler {
            await dispatch(consumer)
        } onGracefulShutdown: {
            consumer.stopDelivering()
        }
        if let fatal = consumer.fatalError {
            await consumer.close()
            throw fatal  // the group restarts the process
        }
        do { try await consumer.commit() } catch { logger.warning("final commit failed", metadata: ["error": "\(error)"]) }
        await consumer.close()
    }

    /// Hands each message to its lane. A lane holds at most 32 waiting messages; when the lane a
    /// message is for is full, the dispatcher waits, the consumer's own buffer fills and fetching
    /// pauses (backpressure). Keys spread evenly over partitions, so lanes fill evenly; one
    /// partition far behind the others slows the rest only once its lane is full.
    private func dispatch(_ consumer: KafkaConsumer) async {
        await withTaskGroup(of: Void.self) { group in
            var lanes: [(messages: AsyncStream<KafkaMessage>.Continuation, waiting: InFlightLimit)] = []
            for _ in 0..<concurrency {
                let (stream, continuation) = AsyncStream.makeStream(of: KafkaMessage.self)
                let waiting = InFlightLimit(capacity: 32)
                lanes.append((continuation, waiting))
                group.addTask {
                    for await message in stream {
                        // Once stopping, messages not yet started are left for the next owner.
                        if !Task.isShuttingDownGracefully { await self.process(message, consumer: consumer) }
                        waiting.release()
                    }
                }
            }
            for await message in consumer.messages {
                let lane = lanes[Int(message.partition) % lanes.count]
                await lane.waiting.acquire()
                lane.messages.yield(message)
            }
            lanes.forEach { $0.messages.finish() }
        }
    }

    private func process(_ message: KafkaMessage, consumer: KafkaConsumer) async {
        var metadata: Logger.Metadata = ["topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)"]
        let event: CloudEvent
        do {
            event = try CloudEvent(headers: Dictionary(message.headers.compactMap { header in header.text.map { (header.key, $0) } }, uniquingKeysWith: { _, last in last }), data: message.value)
        } catch {
            await deadLetter(message, error: "\(error)", consumer: consumer, metadata: metadata)
            return
        }
        metadata["event_id"] = "\(event.id)"
        metadata["event_type"] = "\(event.type)"
        let consumed = ConsumedEvent(event: event, topic: message.topic, partition: message.partition, offset: message.offset, key: message.keyText)
        var attempt = 0
        var backoff = Duration.milliseconds(50)
        let start = ContinuousClock.now
        while true {
            do {
                let name = name, handler = handler
                let applied = try await pool.transaction { connection -> Bool in
                    let inserted = try await connection.query("""
                        INSERT INTO processed_events (consumer, event_id, event_type, topic, partition, record_offset)
                        VALUES (\(name), \(event.id)::uuid, \(event.type), \(message.topic), \(Int(message.partition)), \(message.offset))
                        ON CONFLICT DO NOTHING
                        """)
                    guard inserted.affectedRows == 1 else { return false }
                    try await handler(consumed, connection)
                    return true
                }
                if applied {
                    processed.increment()
                    latency.recordNanoseconds((ContinuousClock.now - start).nanosecondsValue)
                } else {
                    duplicates.increment()
                    logger.debug("duplicate event skipped", metadata: metadata)
                }
                consumer.markProcessed(message)
                return
            } catch {
                if Self.isTransient(error) {
                    // The offset stays where it is; try again when the dependency is back (or
                    // let the next owner of the partition do it, if we are stopping).
                    if Task.isShuttingDownGracefully { return }
                    logger.warning("dependency unavailable; will retry event", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                    continue
                }
                attempt += 1
                let permanent = error is PermanentEventFailure || error is DecodingError || error is EnvelopeError
                if permanent || attempt >= maxAttempts {
                    await deadLetter(message, error: "\(error)", consumer: consumer, metadata: metadata)
                    return
                }
                logger.warning("event handling failed; retrying", metadata: metadata.merging(["error": "\(error)", "attempt": "\(attempt)"]) { $1 })
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// Copies the message to `<topic>.dlq` with the failure attached, then moves on. If the
    /// broker cannot take it, keep trying: the message is never dropped silently.
    private func deadLetter(_ message: KafkaMessage, error: String, consumer: KafkaConsumer, metadata: Logger.Metadata) async {
        logger.error("event sent to the dead-letter topic", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        let headers = message.headers + [
            KafkaHeader(key: "dlq_error", text: String(error.prefix(2000))),
            KafkaHeader(key: "dlq_consumer", text: name),
            KafkaHeader(key: "dlq_source_topic", text: message.topic),
            KafkaHeader(key: "dlq_source_partition", text: String(message.partition)),
            KafkaHeader(key: "dlq_source_offset", text: String(message.offset)),
            KafkaHeader(key: "dlq_failed_at", text: EventCoding.timestamp(Date())),
        ]
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await producer.send(topic: message.topic + ".dlq", key: message.key, value: message.value, headers: headers)
                deadLettered.increment()
                consumer.markProcessed(message)
                return
            } catch {
                logger.warning("could not publish to the dead-letter topic; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    static func isTransient(_ error: any Error) -> Bool {
        if let error = error as? PostgresError { return error.kind == .connectionUnavailable || error.isTransientTransactionFailure }
        if let error = error as? KafkaError { return error.kind == .unavailable || error.kind == .messageTimedOut }
        return false
    }
}

extension Duration {
    var nanosecondsValue: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

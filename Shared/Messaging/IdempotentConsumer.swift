import Backoff
import Contracts
import Domain
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
/// Events already waiting in a lane share that transaction (see `process(_:consumer:)` for
/// batches); a batch that fails is undone and its events are handled one by one.
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
    private let batchesTransactions: Bool
    private let handler: Handler
    /// Topics whose bodies are personal data: never copied to a dead-letter topic.
    private let personalDataTopics: Set<String>
    private let logger: Logger
    private let processed: Counter
    private let duplicates: Counter
    private let deadLettered: Counter
    private let latency: Timer

    /// - Parameters:
    ///   - name: the consumer's name in `processed_events` (usually the group id).
    ///   - batchesTransactions: whether events waiting together share a transaction. Off for
    ///     handlers that lock rows other lanes need (a long transaction would hold them).
    public init(
        name: String, topics: [String], configuration: KafkaConsumerConfiguration, pool: PostgresConnectionPool,
        producer: KafkaProducer, gate: ReadinessGate, maxAttempts: Int = 5, concurrency: Int = 1, batchesTransactions: Bool = true,
        personalDataTopics: Set<String> = [], logger: Logger, handler: @escaping Handler
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
        self.batchesTransactions = batchesTransactions
        self.handler = handler
        self.personalDataTopics = personalDataTopics
        var logger = logger
        logger[metadataKey: "consumer"] = "\(name)"
        self.logger = logger
        self.processed = Counter(label: "passerelle_events_processed_total", dimensions: [("consumer", name)])
        self.duplicates = Counter(label: "passerelle_events_duplicate_total", dimensions: [("consumer", name)])
        self.deadLettered = Counter(label: "passerelle_events_dead_lettered_total", dimensions: [("consumer", name)])
        self.latency = Timer(label: "passerelle_event_handling_seconds", dimensions: [("consumer", name)], preferredDisplayUnit: .seconds)
    }

    /// Whether this consumer holds its group's partitions (given them, and not since lost them
    /// with its session): part of the service's readiness.
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
            var lanes: [(messages: Lane, waiting: InFlightLimit)] = []
            for _ in 0..<concurrency {
                let lane = Lane()
                let waiting = InFlightLimit(capacity: Self.laneCapacity)
                lanes.append((lane, waiting))
                group.addTask {
                    while let batch = await lane.takeAll() {
                        // Once stopping, messages not yet started are left for the next owner.
                        if !Task.isShuttingDownGracefully { await self.process(batch, consumer: consumer) }
                        for _ in batch { waiting.release() }
                    }
                }
            }
            for await message in consumer.messages {
                let lane = lanes[laneIndex(partition: message.partition, lanes: lanes.count)]
                await lane.waiting.acquire()
                lane.messages.append(message)
            }
            lanes.forEach { $0.messages.finish() }
        }
    }

    static let laneCapacity = 32

    /// The messages waiting in a lane when it is ready for more, handled in one transaction: under
    /// load one commit (and its WAL flush) serves many events; when idle a batch is one message,
    /// so nothing waits to fill one. If anything in the batch fails, nothing of it is kept and
    /// each message is handled alone, with its own retries and dead-lettering.
    private func process(_ batch: [KafkaMessage], consumer: KafkaConsumer) async {
        guard batch.count > 1, batchesTransactions else {
            for message in batch { await process(message, consumer: consumer) }
            return
        }
        // Positions in the batch: offsets alone repeat across the partitions and topics of a lane.
        let decoded = batch.map { try? Self.consumedEvent($0) }
        let events = batch.indices.compactMap { index in decoded[index].map { (message: batch[index], consumed: $0) } }
        let start = ContinuousClock.now
        do {
            let applied = try await pool.transaction(maxAttempts: 1) { connection in try await self.apply(events.map(\.consumed), on: connection) }
            let elapsed = (ContinuousClock.now - start).nanosecondsValue
            for ((message, consumed), wasApplied) in zip(events, applied) {
                if wasApplied {
                    processed.increment()
                    latency.recordNanoseconds(elapsed)
                } else {
                    duplicates.increment()
                    logger.debug("duplicate event skipped", metadata: ["event_id": "\(consumed.event.id)", "topic": "\(message.topic)"])
                }
            }
        } catch {
            logger.debug("a batch failed; handling its events one by one", metadata: ["error": "\(error)", "events": "\(events.count)"])
            for message in batch { await process(message, consumer: consumer) }
            return
        }
        // Messages whose envelope cannot be read go the one-by-one way: to the dead-letter topic.
        for (message, consumed) in zip(batch, decoded) {
            if consumed != nil { consumer.markProcessed(message) } else { await process(message, consumer: consumer) }
        }
    }

    private static func consumedEvent(_ message: KafkaMessage) throws -> ConsumedEvent {
        let headers = Dictionary(message.headers.compactMap { header in header.text.map { (header.key, $0) } }, uniquingKeysWith: { _, last in last })
        // A tombstone is an erasure, not a poison message, with or without an envelope.
        let event: CloudEvent
        if message.value == nil, headers["ce_id"] == nil, let key = message.keyText {
            event = CloudEvent.tombstone(
                key: key, topic: message.topic, partition: message.partition, offset: message.offset,
                time: message.timestampMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? Date())
        } else {
            event = try CloudEvent(headers: headers, data: message.value)
        }
        return ConsumedEvent(event: event, topic: message.topic, partition: message.partition, offset: message.offset, key: message.keyText)
    }

    /// Records the events as processed, in one statement, and runs the handler for each that is
    /// new: not processed before, nor earlier in the same list. Says which were.
    private func apply(_ events: [ConsumedEvent], on connection: PostgresConnection) async throws -> [Bool] {
        let rows = try await connection.query(
            """
            INSERT INTO processed_events (consumer, event_id, event_type, topic, partition, record_offset)
            SELECT \(name), e.id, e.type, e.topic, e.partition, e.record_offset
            FROM unnest(\(events.map(\.event.id))::uuid[], \(events.map(\.event.type))::text[], \(events.map(\.topic))::text[],
                        \(events.map { Int($0.partition) })::int[], \(events.map(\.offset))::bigint[]) AS e(id, type, topic, partition, record_offset)
            ON CONFLICT DO NOTHING
            RETURNING event_id
            """)
        var inserted = Set<UUID>()
        for row in rows { inserted.insert(try row.decode("event_id")) }
        // `remove` answers true once per id: a duplicate later in the list is not new.
        let isNew = events.map { inserted.remove($0.event.id) != nil }
        for (consumed, new) in zip(events, isNew) where new { try await handler(consumed, connection) }
        return isNew
    }

    private func process(_ message: KafkaMessage, consumer: KafkaConsumer) async {
        var metadata: Logger.Metadata = ["topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)"]
        let consumed: ConsumedEvent
        do {
            consumed = try Self.consumedEvent(message)
        } catch {
            await deadLetter(message, error: "\(error)", consumer: consumer, metadata: metadata)
            return
        }
        metadata["event_id"] = "\(consumed.event.id)"
        metadata["event_type"] = "\(consumed.event.type)"
        var attempt = 0
        var backoff = ExponentialBackoff(initial: .milliseconds(50), maximum: .seconds(5))
        let start = ContinuousClock.now
        while true {
            do {
                let applied = try await pool.transaction { connection in try await self.apply([consumed], on: connection)[0] }
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
                    try? await Task.sleep(for: backoff.next())
                    continue
                }
                attempt += 1
                let permanent = error is PermanentEventFailure || error is DecodingError || error is EnvelopeError
                if permanent || attempt >= maxAttempts {
                    await deadLetter(message, error: "\(error)", consumer: consumer, metadata: metadata)
                    return
                }
                logger.warning("event handling failed; retrying", metadata: metadata.merging(["error": "\(error)", "attempt": "\(attempt)"]) { $1 })
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Copies the message to `<topic>.dlq` with the failure attached, then moves on. If the
    /// broker cannot take it, keep trying: the message is never dropped silently. From a topic
    /// that carries personal data (the clients topic) only the identifiers travel: the key and
    /// the envelope's headers, not the body, and the error with contact details redacted (a
    /// database error may quote the value it refused); the record stays on its own topic,
    /// where erasure reaches it.
    private func deadLetter(_ message: KafkaMessage, error: String, consumer: KafkaConsumer, metadata: Logger.Metadata) async {
        let personal = personalDataTopics.contains(message.topic)
        let error = personal ? ContactRedaction.redact(error) : error
        logger.error("event sent to the dead-letter topic", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        let value = personal ? nil : message.value
        let headers =
            message.headers + (personal ? [KafkaHeader(key: "dlq_body", text: "withheld: personal data stays on \(message.topic)")] : []) + [
                KafkaHeader(key: "dlq_error", text: String(error.prefix(2000))),
                KafkaHeader(key: "dlq_consumer", text: name),
                KafkaHeader(key: "dlq_source_topic", text: message.topic),
                KafkaHeader(key: "dlq_source_partition", text: String(message.partition)),
                KafkaHeader(key: "dlq_source_offset", text: String(message.offset)),
                KafkaHeader(key: "dlq_failed_at", text: EventCoding.timestamp(Date())),
            ]
        var backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(5))
        while !Task.isCancelled {
            do {
                try await producer.send(topic: message.topic + ".dlq", key: message.key, value: value, headers: headers)
                deadLettered.increment()
                consumer.markProcessed(message)
                return
            } catch {
                logger.warning("could not publish to the dead-letter topic; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
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

/// The messages handed to one lane and not taken yet. The dispatcher appends (bounded by the
/// lane's `InFlightLimit`); the lane takes everything waiting at once. The rules live in
/// `LaneState`; this holds the waiting continuation.
final class Lane: Sendable {
    private let state = Mutex<(lane: LaneState<KafkaMessage>, waiter: CheckedContinuation<[KafkaMessage]?, Never>?)>((LaneState(), nil))

    func append(_ message: KafkaMessage) {
        let handOver = state.withLock { state -> (CheckedContinuation<[KafkaMessage]?, Never>, [KafkaMessage])? in
            guard let batch = state.lane.append(message), let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, batch)
        }
        if let (waiter, batch) = handOver { waiter.resume(returning: batch) }
    }

    /// No more messages: `takeAll` returns what is left, then nil.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[KafkaMessage]?, Never>? in
            guard state.lane.finish() else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Everything waiting, in order; waits while there is nothing. Nil once finished and empty.
    func takeAll() async -> [KafkaMessage]? {
        // Under load something is waiting: no continuation to set up for that.
        switch state.withLock({ $0.lane.take(orWait: false) }) {
        case .messages(let batch): return batch
        case .finished: return nil
        case .wait: break
        }
        return await withCheckedContinuation { continuation in
            let taken = state.withLock { state -> [KafkaMessage]?? in
                switch state.lane.take(orWait: true) {
                case .messages(let batch): return .some(batch)
                case .finished: return .some(nil)
                case .wait:
                    state.waiter = continuation
                    return nil
                }
            }
            if let taken { continuation.resume(returning: taken) }
        }
    }
}

/// Which lane a message goes to: by partition, so one partition's messages never overtake
/// each other, and the same partition number of every topic shares a lane.
func laneIndex(partition: Int32, lanes: Int) -> Int {
    Int(partition) % lanes
}

/// A lane's messages apart from any waiting: appended in order, taken all at once, and
/// handed straight to a taker that waits.
struct LaneState<Message> {
    private(set) var messages: [Message] = []
    private(set) var finished = false
    private(set) var hasWaiter = false

    enum Taken {
        /// Everything that was waiting, in order.
        case messages([Message])
        /// Finished and empty: the lane ends.
        case finished
        /// Nothing yet (with `orWait`, the taker is now the waiter).
        case wait
    }

    mutating func take(orWait: Bool) -> Taken {
        if !messages.isEmpty {
            defer { messages.removeAll(keepingCapacity: true) }
            return .messages(messages)
        }
        if finished { return .finished }
        if orWait {
            precondition(!hasWaiter, "one task takes from a lane")
            hasWaiter = true
        }
        return .wait
    }

    /// Appends; returns the batch to resume the waiting taker with, if one waits.
    mutating func append(_ message: Message) -> [Message]? {
        messages.append(message)
        guard hasWaiter else { return nil }
        hasWaiter = false
        defer { messages.removeAll(keepingCapacity: true) }
        return messages
    }

    /// Ends the lane; true if a taker waits (resume it with nothing: the lane is empty).
    mutating func finish() -> Bool {
        finished = true
        defer { hasWaiter = false }
        return hasWaiter
    }
}

extension LaneState: Sendable where Message: Sendable {}
extension LaneState.Taken: Sendable where Message: Sendable {}

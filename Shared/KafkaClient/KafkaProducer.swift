import CRdKafka
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// An idempotent producer (`enable.idempotence=true`, `acks=all`). `send` returns once the
/// broker has acknowledged the record: the delivery report, not the enqueue, ends the call.
///
/// Delivery reports are served by a dedicated poll thread. As a `Service`, the producer runs
/// until graceful shutdown, then flushes what is in flight and destroys the client.
///
/// When the broker stops accepting the producer's identity — librdkafka declares it fatal (the
/// idempotence sequence lost), or records come back fenced (a broker that fenced the producer
/// after it bumped its epoch, which librdkafka does not declare fatal) — every later record
/// would be refused the same way. librdkafka's remedy is a new producer, so this one replaces
/// its librdkafka client (a new producer id) and goes on: the records refused are failures their
/// callers retry (the outbox keeps its rows), and the service recovers without a restart. Only
/// when no new client can be made does `run` throw, so the process ends and is restarted.
public final class KafkaProducer: Service, Sendable {
    private let logger: Logger
    private let configuration: KafkaProducerConfiguration
    private let state = LockedState(State())
    private let replacements: Counter

    /// One librdkafka producer, its topic handles and its poll thread. Replaced whole when the
    /// broker no longer accepts it; the one replaced flushes what it still holds and goes.
    private final class Generation: Sendable {
        let client: RDClient
        /// Topic handles by name, made on first use: a record that names its topic makes
        /// librdkafka look the topic up (lock, hash, reference count) every time. Destroyed
        /// with the client.
        let topicHandles = LockedState(TopicHandles())
        let stopRequested = LockedState(false)
        let closed = LockedState(Closing())

        init(client: RDClient) { self.client = client }

        struct Closing {
            var done = false
            var waiters: [CheckedContinuation<Void, Never>] = []
        }
    }

    // `@unchecked`: OpaquePointer is not Sendable, but a `rd_kafka_topic_t` may be used from
    // any thread (librdkafka reference-counts and locks it); these are made and looked up only
    // under the lock, and destroyed once, by the poll thread, after the final flush.
    private struct TopicHandles: @unchecked Sendable {
        var byName: [String: OpaquePointer] = [:]
    }

    private struct State {
        var current: Generation?
        /// Replaced generations still flushing; `close` waits for them too.
        var retiring: [ObjectIdentifier: Generation] = [:]
        var replacedSoFar = 0
        var stopRequested = false
        var fatal: KafkaError?
        var fatalWaiter: CheckedContinuation<KafkaError?, Never>?
        var fatalWaitCancelled = false
    }

    public init(configuration: KafkaProducerConfiguration, metrics: any MetricsFactory = MetricsSystem.factory, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.replacements = Counter(label: "passerelle_kafka_producer_replacements_total", factory: metrics)
        let first = try makeGeneration()
        state.withLock { $0.current = first }
    }

    private func makeGeneration() throws -> Generation {
        let client = try RDClient(type: RD_KAFKA_PRODUCER, properties: configuration.properties, context: RDCallbackContext(logger: logger)) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        }
        let generation = Generation(client: client)
        let thread = Thread { [weak self, generation, logger] in
            while !generation.stopRequested.withLock({ $0 }) {
                rd_kafka_poll(generation.client.pointer, 100)
                if let fatal = generation.client.fatalError {
                    guard let self else { break }
                    self.replace(generation, because: fatal)
                }
            }
            // Serve the remaining delivery reports, then let go of the client. A client
            // librdkafka declared fatal gets nothing more delivered: its records fail at once.
            let dead = generation.client.fatalError != nil
            let remaining = rd_kafka_flush(generation.client.pointer, dead ? 0 : 10_000)
            if remaining != RD_KAFKA_RESP_ERR_NO_ERROR {
                if !dead {
                    logger.error("producer closed with undelivered messages", metadata: ["in_flight": "\(rd_kafka_outq_len(generation.client.pointer))"])
                }
                rd_kafka_purge(generation.client.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                rd_kafka_poll(generation.client.pointer, 0)  // fail the purged messages' continuations
            }
            generation.topicHandles.withLock { handles in
                handles.byName.values.forEach { rd_kafka_topic_destroy($0) }
                handles.byName.removeAll()
            }
            generation.client.destroy()
            let waiters = generation.closed.withLock { closing -> [CheckedContinuation<Void, Never>] in
                closing.done = true
                defer { closing.waiters.removeAll() }
                return closing.waiters
            }
            waiters.forEach { $0.resume() }
            self?.state.withLock { _ = $0.retiring.removeValue(forKey: ObjectIdentifier(generation)) }
        }
        thread.name = "kafka-producer-poll"
        thread.start()
        return generation
    }

    /// Puts a new librdkafka client in place of `generation`, unless another caller already did
    /// or the producer is closing. If no new client can be made, the producer is done: `run`
    /// throws `cause`.
    private func replace(_ generation: Generation, because cause: KafkaError) {
        let isCurrent = state.withLock { !$0.stopRequested && $0.current === generation }
        guard isCurrent else { return }
        let successor: Generation
        do {
            successor = try makeGeneration()
        } catch {
            Self.raise(cause, state: state, logger: logger)
            generation.stopRequested.withLock { $0 = true }
            return
        }
        let installed = state.withLock { state -> Bool in
            guard !state.stopRequested, state.current === generation else { return false }
            state.current = successor
            state.retiring[ObjectIdentifier(generation)] = generation
            state.replacedSoFar += 1
            return true
        }
        // Lost the race (another caller replaced it, or closing began): the new client goes.
        (installed ? generation : successor).stopRequested.withLock { $0 = true }
        guard installed else { return }
        replacements.increment()
        logger.warning(
            "Kafka producer replaced: the broker no longer accepts its producer id; records it refused are retried by their callers",
            metadata: ["error": "\(cause)"])
    }

    /// The librdkafka client in use; nil once the producer is closing.
    private var current: Generation? { state.withLock { $0.stopRequested ? nil : $0.current } }

    /// Produces one record and waits for its delivery report.
    @discardableResult
    public func send(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = []) async throws -> KafkaDeliveryReport {
        try await send([KafkaRecord(topic: topic, key: key, value: value, headers: headers)])[0].get()
    }

    /// Enqueues `records` in order (so records of one key stay in order on their partition,
    /// which the idempotent producer preserves through retries) and waits for every delivery
    /// report. A full local queue is backpressure: wait and retry the same record until the
    /// message timeout, never skip ahead. When librdkafka refuses a record outright (too
    /// large, unknown topic), the later records of its topic and key in `records` are not
    /// enqueued (`heldBehindRefusal`): they would otherwise overtake it.
    public func send(_ records: [KafkaRecord]) async throws -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !records.isEmpty else { return [] }
        let batch = DeliveryBatch(count: records.count)
        let generation = current
        let deadline = ContinuousClock.now + .milliseconds(configuration.messageTimeoutMilliseconds)
        // A batch is usually for one topic: its handle is looked up once, not per record.
        var lastTopic: (name: String, handle: OpaquePointer?)?
        var refusedKeys: Set<RefusedKey> = []
        for (index, record) in records.enumerated() {
            let recordKey = RefusedKey(topic: record.topic, key: record.key)
            if record.key != nil && refusedKeys.contains(recordKey) {
                batch.complete(
                    index,
                    .failure(
                        KafkaError(
                            kind: .heldBehindRefusal, message: "an earlier record of its key in the same batch was refused",
                            context: "sending to \(record.topic)")))
                continue
            }
            let topicHandle: OpaquePointer?
            if let last = lastTopic, last.name == record.topic {
                topicHandle = last.handle
            } else {
                topicHandle = Self.topicHandle(record.topic, in: generation)
                lastTopic = (record.topic, topicHandle)
            }
            while true {
                guard let generation else {
                    // Already-enqueued records still get their reports from the final flush.
                    batch.complete(index, .failure(KafkaError(kind: .closed, message: "the producer is shutting down", context: "sending to \(record.topic)")))
                    break
                }
                let slot = Unmanaged.passRetained(DeliverySlot(batch: batch, index: index, topic: record.topic))
                guard let error = produce(record, client: generation.client, topicHandle: topicHandle, opaque: slot.toOpaque()) else { break }
                slot.release()
                if error.code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(2))
                    continue
                }
                if record.key != nil { refusedKeys.insert(recordKey) }
                batch.complete(index, .failure(error))
                break
            }
        }
        let results = await batch.results()
        // A record refused for the producer's own sake (fenced, its sequence lost) says this
        // librdkafka client is done, even when librdkafka does not declare it fatal (an
        // idempotent producer fenced by the broker is not): it is replaced by a new one instead
        // of having every later record refused. Making the client is quick (`rd_kafka_new`
        // starts its threads and returns; it connects in the background).
        if let generation {
            for case .failure(let error) in results where error.kind == .fatal {
                replace(generation, because: error)
                break
            }
        }
        return results
    }

    /// This producer's handle for `topic`, made on first use. Nil only for a name librdkafka
    /// refuses; records then name their topic and get that error.
    private static func topicHandle(_ topic: String, in generation: Generation?) -> OpaquePointer? {
        guard let generation else { return nil }
        return generation.topicHandles.withLock { handles -> OpaquePointer? in
            if let known = handles.byName[topic] { return known }
            let made = rd_kafka_topic_new(generation.client.pointer, topic, nil)
            if let made { handles.byName[topic] = made }
            return made
        }
    }

    /// Builds the `rd_kafka_vu_t` list for `rd_kafka_produceva` (Swift cannot call the
    /// variadic `rd_kafka_producev`) on the stack. Every C string lives until the call returns;
    /// librdkafka copies key and value (`RD_KAFKA_MSG_F_COPY`).
    ///
    /// Headers go in as one list of ours (`RD_KAFKA_VTYPE_HEADERS`), never header by header
    /// (`RD_KAFKA_VTYPE_HEADER`): with the latter, when the partitioner refuses the message —
    /// which it does once librdkafka has decided a topic does not exist, about
    /// `topic.metadata.propagation.max.ms` after the first send — librdkafka frees the list with
    /// the message and then again on its error path, and the process dies in
    /// `rd_list_destroy_elems`. A list of ours belongs to librdkafka only when the call succeeds;
    /// on every failure it is handed back untouched, and freed here once.
    private func produce(_ record: KafkaRecord, client: RDClient, topicHandle: OpaquePointer?, opaque: UnsafeMutableRawPointer) -> KafkaError? {
        let (topic, key, value) = (record.topic, record.key, record.value)
        let keyBytes = key ?? []
        let valueBytes = value ?? []
        var headerList: OpaquePointer?
        if !record.headers.isEmpty {
            guard let list = rd_kafka_headers_new(record.headers.count) else {
                return KafkaError(kind: .other, message: "rd_kafka_headers_new failed", context: "sending to \(topic)")
            }
            for header in record.headers {
                // rd_kafka_header_add copies name and value; a nil value is a null header.
                let added: rd_kafka_resp_err_t =
                    if let bytes = header.value {
                        bytes.withUnsafeBytes { rd_kafka_header_add(list, header.key, -1, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count) }
                    } else {
                        rd_kafka_header_add(list, header.key, -1, nil, -1)
                    }
                guard added == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    rd_kafka_headers_destroy(list)
                    return KafkaError(added, context: "adding header \(header.key) to a record for \(topic)")
                }
            }
            headerList = list
        }
        let failure = topic.withCString { topicName in
            keyBytes.withUnsafeBytes { keyBuffer in
                valueBytes.withUnsafeBytes { valueBuffer in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 6) { list in
                        var count = 0
                        func append(_ item: rd_kafka_vu_t) {
                            list[count] = item
                            count += 1
                        }
                        var item = rd_kafka_vu_t()
                        if let topicHandle {
                            item.vtype = RD_KAFKA_VTYPE_RKT
                            item.u.rkt = topicHandle
                        } else {
                            item.vtype = RD_KAFKA_VTYPE_TOPIC
                            item.u.cstr = topicName
                        }
                        append(item)
                        item = rd_kafka_vu_t()
                        item.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                        item.u.i = RD_KAFKA_MSG_F_COPY
                        append(item)
                        if key != nil {
                            item = rd_kafka_vu_t()
                            item.vtype = RD_KAFKA_VTYPE_KEY
                            item.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBuffer.baseAddress ?? UnsafeRawPointer(topicName))
                            item.u.mem.size = keyBuffer.count
                            append(item)
                        }
                        if value != nil {
                            item = rd_kafka_vu_t()
                            item.vtype = RD_KAFKA_VTYPE_VALUE
                            item.u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBuffer.baseAddress ?? UnsafeRawPointer(topicName))
                            item.u.mem.size = valueBuffer.count
                            append(item)
                        }
                        if let headerList {
                            item = rd_kafka_vu_t()
                            item.vtype = RD_KAFKA_VTYPE_HEADERS
                            item.u.headers = headerList
                            append(item)
                        }
                        item = rd_kafka_vu_t()
                        item.vtype = RD_KAFKA_VTYPE_OPAQUE
                        item.u.ptr = opaque
                        append(item)
                        guard let error = rd_kafka_produceva(client.pointer, UnsafePointer(list.baseAddress), count) else { return KafkaError?.none }
                        defer { rd_kafka_error_destroy(error) }  // the returned error object is ours
                        let code = rd_kafka_error_code(error)
                        return KafkaError(code, context: "sending to \(topic)", fatal: rd_kafka_error_is_fatal(error) != 0)
                    }
                }
            }
        }
        // Refused: the header list is still ours.
        if failure != nil, let headerList { rd_kafka_headers_destroy(headerList) }
        return failure
    }

    /// Succeeds when at least one broker answers a metadata request in time.
    public func checkBrokerReachable(timeout: Duration = .seconds(2)) async throws {
        guard let client = current?.client else {
            throw KafkaError(kind: .closed, message: "the producer is closed", context: "asking the cluster for metadata")
        }
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let result = await runBlocking("kafka-metadata") { client.fetchBrokerCount(timeoutMilliseconds: milliseconds) }
        _ = try result.get()
    }

    /// The fatal error that made this producer unusable (no new librdkafka client could
    /// replace a dead one), if any.
    public var fatalError: KafkaError? { state.withLock { $0.fatal } }

    public func run() async throws {
        let fatal = await cancelWhenGracefulShutdown { await self.fatalErrorRaised() }
        await close()
        if let fatal { throw fatal }
    }

    /// Resumes with the fatal error once there is one, or nil when the waiting task is cancelled.
    private func fatalErrorRaised() async -> KafkaError? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = state.withLock { state -> KafkaError?? in
                    if let fatal = state.fatal { return .some(fatal) }
                    if state.fatalWaitCancelled || Task.isCancelled { return .some(nil) }
                    state.fatalWaiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.fatalWaitCancelled = true
                defer { state.fatalWaiter = nil }
                return state.fatalWaiter
            }
            waiter?.resume(returning: nil)
        }
    }

    private static func raise(_ fatal: KafkaError, state: LockedState<State>, logger: Logger) {
        let waiter = state.withLock { state -> CheckedContinuation<KafkaError?, Never>?? in
            guard state.fatal == nil else { return nil }
            state.fatal = fatal
            defer { state.fatalWaiter = nil }
            return .some(state.fatalWaiter)
        }
        guard let waiter else { return }
        logger.critical("Kafka producer hit a fatal error; it cannot be used any more", metadata: ["error": "\(fatal)"])
        waiter?.resume(returning: fatal)
    }

    /// How many times the librdkafka client was replaced since the producer was made.
    public var replacementCount: Int { state.withLock { $0.replacedSoFar } }

    /// Makes librdkafka raise a fatal error, as a broker that lost the idempotence state would.
    /// For tests of what the services do then.
    public func simulateFatalError(reason: String = "simulated fatal error") {
        guard let client = current?.client else { return }
        _ = rd_kafka_test_fatal_error(client.pointer, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason)
    }

    /// Stops the poll threads after flushing (the current client's and any replaced one still
    /// flushing); idempotent.
    public func close() async {
        let generations = state.withLock { state -> [Generation] in
            state.stopRequested = true
            return (state.current.map { [$0] } ?? []) + Array(state.retiring.values)
        }
        for generation in generations {
            generation.stopRequested.withLock { $0 = true }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let alreadyClosed = generation.closed.withLock { closing -> Bool in
                    if closing.done { return true }
                    closing.waiters.append(continuation)
                    return false
                }
                if alreadyClosed { continuation.resume() }
            }
        }
    }
}

/// One record bound for a topic.
public struct KafkaRecord: Sendable {
    public var topic: String
    public var key: [UInt8]?
    /// `nil` produces a tombstone.
    public var value: [UInt8]?
    public var headers: [KafkaHeader]

    public init(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}

private struct RefusedKey: Hashable {
    let topic: String
    let key: [UInt8]?
}

/// Collects the delivery reports of one `send`; the caller resumes when the last one arrives.
private final class DeliveryBatch: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
        var waiter: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>?
    }
    private let state: LockedState<State>

    init(count: Int) {
        state = LockedState(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    func complete(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        let finished = state.withLock {
            state -> (CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>, [Result<KafkaDeliveryReport, KafkaError>])? in
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.results.map { $0! })
        }
        if let (waiter, results) = finished { waiter.resume(returning: results) }
    }

    func results() async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [Result<KafkaDeliveryReport, KafkaError>]? in
                if state.remaining == 0 { return state.results.map { $0! } }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// The message opaque librdkafka hands back in the delivery report: which batch, which record,
/// and the record's topic (so the report need not copy the name back out of librdkafka).
/// Retained while the message is in librdkafka's hands, released by the callback.
private final class DeliverySlot {
    let batch: DeliveryBatch
    let index: Int
    let topic: String
    init(batch: DeliveryBatch, index: Int, topic: String) {
        self.batch = batch
        self.index = index
        self.topic = topic
    }
}

private let deliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = { _, message, _ in
    guard let message, let opaque = message.pointee._private else { return }
    let slot = Unmanaged<DeliverySlot>.fromOpaque(opaque).takeRetainedValue()
    let record = message.pointee
    if record.err == RD_KAFKA_RESP_ERR_NO_ERROR {
        slot.batch.complete(slot.index, .success(KafkaDeliveryReport(topic: slot.topic, partition: record.partition, offset: record.offset)))
    } else {
        slot.batch.complete(slot.index, .failure(KafkaError(record.err, context: "delivering to \(slot.topic)")))
    }
}

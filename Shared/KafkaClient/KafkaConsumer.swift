import CRdKafka
import Foundation
import Logging
import Metrics
import Synchronization

/// A member of a consumer group.
///
/// - A dedicated thread polls librdkafka and serves rebalances; the application pulls
///   messages from `messages`, an `AsyncSequence` over a bounded buffer. When the buffer is
///   full the thread stops taking records: librdkafka keeps what it prefetched (its own queue
///   is bounded) and hands it over as soon as there is room. Should the buffer stay full for
///   `pauseAfterMilliseconds`, the assigned partitions are paused and the thread polls again,
///   so the member stays in the group however long the application is stuck.
/// - Offsets are at-least-once: nothing is committed until the application calls
///   `markProcessed`, which stores `offset + 1`; stored offsets are committed in the
///   background, synchronously when partitions are revoked, and on `close`.
/// - The lag of each assigned partition is a gauge, `passerelle_consumer_lag_records` (group,
///   topic, partition), refreshed from librdkafka's statistics every
///   `statisticsIntervalMilliseconds`.
/// - A member is "joined" while the group has given it its partitions; a session lost (no
///   heartbeat answered within `session.timeout.ms`) counts it out until the group gives it
///   partitions again. Left out for longer than its `rejoinPatience`, or holding partitions
///   whose statistics show records it has not fetched while it fetched nothing for as long
///   (and the application was taking records), it replaces its librdkafka client (a new
///   member id, a fresh join), as the producer replaces a fenced one: after connections to the
///   broker were reset, members were seen to wait for minutes without joining again, and to
///   hold their partitions without fetching. What it had not committed is redelivered.
public final class KafkaConsumer: Sendable {
    public let messages: KafkaConsumerMessages
    private let buffer: MessageBuffer
    private let consumerLag: ConsumerLag
    private let control: LockedState<Control>
    private let logger: Logger

    private struct Control {
        var stopRequested = false
        /// Set (under the lock) just before `rd_kafka_destroy`; no C call may follow it.
        var destroyed = false
        var paused = false
        /// The librdkafka client, set once made; replaced (on the poll thread) when its group
        /// membership does not come back.
        var client: RDClient?
        /// Since when a subscribed member has been without its group's partitions: from the
        /// start, a lost session or a failed rebalance until the next assignment. Never set for
        /// a reader of chosen partitions, which has no group to join.
        var outOfGroupSince: ContinuousClock.Instant?
        /// When the group last gave this member partitions.
        var assignedAt: ContinuousClock.Instant?
        var replacements = 0
        /// Times the partitions were paused for an application stuck with a full buffer.
        var pauses = 0
        var assignment: Set<TopicPartition> = []
        var pendingCommits: [CheckedContinuation<Void, any Error>] = []
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var fatalError: KafkaError?
    }

    public convenience init(
        configuration: KafkaConsumerConfiguration, topics: [String], metrics: any MetricsFactory = MetricsSystem.factory, logger: Logger
    ) throws {
        try self.init(configuration: configuration, source: .subscription(topics), metrics: metrics, logger: logger)
    }

    /// A reader of chosen partitions from chosen offsets, outside any group's rebalancing (no
    /// join to wait for): for replaying topics from their start. `markProcessed` and `commit`
    /// still work against the configured group id.
    public convenience init(
        configuration: KafkaConsumerConfiguration, reading partitions: [TopicPartition: Int64], metrics: any MetricsFactory = MetricsSystem.factory,
        logger: Logger
    ) throws {
        try self.init(configuration: configuration, source: .assignment(partitions), metrics: metrics, logger: logger)
    }

    private enum Source {
        case subscription([String])
        case assignment([TopicPartition: Int64])
    }

    private init(configuration: KafkaConsumerConfiguration, source: Source, metrics: any MetricsFactory, logger: Logger) throws {
        let buffer = MessageBuffer()
        var initial = Control()
        if case .subscription = source { initial.outOfGroupSince = .now }
        let control = LockedState(initial)
        let consumerLag = ConsumerLag(group: configuration.groupID, factory: metrics)
        let replacements = Counter(label: "passerelle_kafka_consumer_replacements_total", dimensions: [("group", configuration.groupID)], factory: metrics)
        self.buffer = buffer
        self.control = control
        self.consumerLag = consumerLag
        self.logger = logger
        self.messages = KafkaConsumerMessages(buffer: buffer)
        let client = try Self.makeClient(
            configuration: configuration, source: source, buffer: buffer, control: control, consumerLag: consumerLag, logger: logger)
        let rejoin: Rejoin?
        if case .subscription = source {
            rejoin = Rejoin(patience: configuration.rejoinPatience, replacements: replacements) {
                try Self.makeClient(configuration: configuration, source: source, buffer: buffer, control: control, consumerLag: consumerLag, logger: logger)
            }
        } else {
            rejoin = nil
        }
        control.withLock { $0.client = client }
        let capacity = configuration.bufferCapacity
        let pauseAfter = Duration.milliseconds(configuration.pauseAfterMilliseconds)
        let thread = Thread {
            Self.pollLoop(
                client: client, rejoin: rejoin, buffer: buffer, control: control, consumerLag: consumerLag, capacity: capacity, pauseAfter: pauseAfter,
                logger: logger)
            consumerLag.clear()  // no longer a member: another reports these partitions
        }
        thread.name = "kafka-consumer-poll"
        thread.start()
    }

    /// How a subscribed member gets back into its group when librdkafka does not.
    private struct Rejoin: Sendable {
        let patience: Duration
        let replacements: Counter
        let makeClient: @Sendable () throws -> RDClient
    }

    /// A librdkafka consumer, subscribed to (or assigned) `source`, its main queue routed to
    /// the consumer queue the poll thread polls.
    private static func makeClient(
        configuration: KafkaConsumerConfiguration, source: Source, buffer: MessageBuffer, control: LockedState<Control>, consumerLag: ConsumerLag,
        logger: Logger
    ) throws -> RDClient {
        let context = RDCallbackContext(logger: logger) { client, error, partitions in
            Self.rebalance(client: client, error: error, partitions: partitions, buffer: buffer, control: control, logger: logger)
        } statistics: { json in
            do {
                try consumerLag.record(statistics: json, assignment: control.withLock { $0.assignment })
            } catch {
                logger.warning("could not read librdkafka's statistics; consumer lag not updated", metadata: ["error": "\(error)"])
            }
        }
        let client = try RDClient(type: RD_KAFKA_CONSUMER, properties: configuration.properties, context: context) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
            rd_kafka_conf_set_stats_cb(conf, statisticsCallback)
        }
        // Route the main queue (logs, errors, rebalances) to the consumer queue we poll.
        rd_kafka_poll_set_consumer(client.pointer)
        switch source {
        case .subscription(let topics):
            guard let subscription = rd_kafka_topic_partition_list_new(Int32(topics.count)) else {
                client.destroy()
                throw KafkaError(kind: .other, message: "could not allocate a partition list", context: "subscribing")
            }
            for topic in topics { rd_kafka_topic_partition_list_add(subscription, topic, -1) }
            let subscribed = rd_kafka_subscribe(client.pointer, subscription)
            rd_kafka_topic_partition_list_destroy(subscription)
            if subscribed != RD_KAFKA_RESP_ERR_NO_ERROR {
                client.destroy()
                throw KafkaError(subscribed, context: "subscribing to \(topics.joined(separator: ", "))")
            }
        case .assignment(let partitions):
            guard let list = rd_kafka_topic_partition_list_new(Int32(partitions.count)) else {
                client.destroy()
                throw KafkaError(kind: .other, message: "could not allocate a partition list", context: "assigning partitions")
            }
            for (partition, offset) in partitions.sorted(by: { $0.key < $1.key }) {
                rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)?.pointee.offset = offset
            }
            let assigned = rd_kafka_assign(client.pointer, list)
            rd_kafka_topic_partition_list_destroy(list)
            if assigned != RD_KAFKA_RESP_ERR_NO_ERROR {
                client.destroy()
                throw KafkaError(assigned, context: "assigning \(partitions.count) partitions")
            }
            control.withLock { $0.assignment = Set(partitions.keys) }
        }
        return client
    }

    /// Whether the group has given this member its partitions (possibly none), and no lost
    /// session has taken them back since: until then, what is published waits for a
    /// rebalance, which a broker may delay by seconds for a new group.
    public var hasJoinedGroup: Bool { control.withLock { $0.outOfGroupSince == nil } }

    /// How many times the librdkafka client was replaced because the member stayed out of its
    /// group for longer than its patience.
    public var replacementCount: Int { control.withLock { $0.replacements } }

    /// Partitions currently assigned to this member.
    public var assignment: Set<TopicPartition> { control.withLock { $0.assignment } }

    /// Times the partitions were paused because the application left the buffer full for
    /// `pauseAfterMilliseconds`.
    public var pauses: Int { control.withLock { $0.pauses } }

    /// The lag of each assigned partition as last measured (what the gauges show): records not
    /// yet marked processed, or not committed, by the group.
    public var lag: [TopicPartition: Int64] { consumerLag.lags }

    /// A fatal librdkafka error that ended this consumer, if any.
    public var fatalError: KafkaError? { control.withLock { $0.fatalError } }

    /// Records that `message` (and everything before it on its partition) is done. Returns
    /// false when the partition is no longer assigned here (it was rebalanced away; the new
    /// owner will see the message again, which idempotent handling absorbs).
    @discardableResult
    public func markProcessed(_ message: KafkaMessage) -> Bool {
        control.withLock { control -> Bool in
            guard !control.destroyed, let client = control.client, let list = rd_kafka_topic_partition_list_new(1) else { return false }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            guard let entry = rd_kafka_topic_partition_list_add(list, message.topic, message.partition) else { return false }
            entry.pointee.offset = message.offset + 1  // the next offset to read
            let error = rd_kafka_offsets_store(client.pointer, list)
            let entryError = list.pointee.elems[0].err
            if error != RD_KAFKA_RESP_ERR_NO_ERROR || entryError != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.debug(
                    "offset not stored; partition no longer assigned",
                    metadata: [
                        "topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)",
                    ])
                return false
            }
            return true
        }
    }

    /// Ends `messages` without leaving the group, so the application can finish what it holds,
    /// mark it processed, then `commit` and `close`. Messages fetched afterwards are dropped
    /// here and redelivered to whoever consumes the partitions next.
    public func stopDelivering() {
        buffer.finish()
    }

    /// Commits the stored offsets now (on the poll thread) and waits for the broker's answer.
    public func commit() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let refused = control.withLock { control -> Bool in
                guard !control.stopRequested else { return true }
                control.pendingCommits.append(continuation)
                return false
            }
            if refused { continuation.resume(throwing: KafkaError(kind: .closed, message: "the consumer is closing", context: "committing offsets")) }
        }
    }

    /// Commits stored offsets, leaves the group and frees the client; `messages` then ends.
    /// Idempotent, and safe to call from any task.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = control.withLock { control -> Bool in
                control.stopRequested = true
                if control.destroyed { return true }
                control.closeWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: - Poll thread

    private static func pollLoop(
        client initial: RDClient, rejoin: Rejoin?, buffer: MessageBuffer, control: LockedState<Control>, consumerLag: ConsumerLag, capacity: Int,
        pauseAfter: Duration, logger: Logger
    ) {
        var client = initial
        var topicNames = TopicNames()
        var fullSince: ContinuousClock.Instant?
        // The last time the member handed out a record, was given partitions, or was not
        // expected to fetch (the application's buffer full).
        var lastProgress = ContinuousClock.now
        while true {
            let (stop, commits, paused, outSince, assignedAt) = control.withLock { control in
                defer { control.pendingCommits.removeAll() }
                return (control.stopRequested, control.pendingCommits, control.paused, control.outOfGroupSince, control.assignedAt)
            }
            if let assignedAt, assignedAt > lastProgress { lastProgress = assignedAt }
            if !commits.isEmpty {
                let result = commitStored(client)
                commits.forEach { $0.resume(with: result) }
            }
            if stop { break }
            if let rejoin, let outSince, ContinuousClock.now - outSince >= rejoin.patience {
                client = replace(
                    client, rejoin: rejoin, because: "it was out of its group for \(ContinuousClock.now - outSince)", buffer: buffer, control: control,
                    logger: logger)
                topicNames = TopicNames()
                fullSince = nil
                lastProgress = .now
            }
            if let rejoin, outSince == nil, let stalled = fetchStall(since: lastProgress, patience: rejoin.patience, consumerLag: consumerLag) {
                client = replace(client, rejoin: rejoin, because: stalled, buffer: buffer, control: control, logger: logger)
                topicNames = TopicNames()
                fullSince = nil
                lastProgress = .now
            }
            // Backpressure. Pausing makes librdkafka drop what it prefetched and fetch it again
            // on resume, a round trip that left consumers idle between bursts; so a full buffer
            // first only stops the taking, and pausing is kept for a stall long enough to
            // threaten the group membership (no poll for max.poll.interval.ms).
            if buffer.count >= capacity {
                let now = ContinuousClock.now
                lastProgress = now  // nothing is fetched for an application that takes nothing
                let since = fullSince ?? now
                fullSince = since
                if !paused {
                    if now - since < pauseAfter {
                        usleep(1_000)
                        continue
                    }
                    setPaused(true, client: client)
                    control.withLock {
                        $0.paused = true
                        $0.pauses += 1
                    }
                    logger.info("partitions paused: the application has not taken a record for a while", metadata: ["seconds": "\(now - since)"])
                }
            } else {
                fullSince = nil
                if paused {
                    setPaused(false, client: client)
                    control.withLock { $0.paused = false }
                }
            }
            guard let message = rd_kafka_consumer_poll(client.pointer, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            let error = message.pointee.err
            if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                if error == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                if let fatal = client.fatalError {
                    logger.critical("Kafka consumer hit a fatal error", metadata: ["error": "\(fatal)"])
                    control.withLock { $0.fatalError = fatal }
                    break
                }
                logger.warning("Kafka consumer error", metadata: ["error": "\(KafkaError(error, context: "consuming"))"])
                continue
            }
            buffer.append(copy(message, topicNames: &topicNames))
            lastProgress = .now
        }
        // librdkafka's termination sequence: close (revokes: final commit, LeaveGroup), then destroy.
        let closed = rd_kafka_consumer_close(client.pointer)
        if closed != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Kafka consumer close reported an error", metadata: ["error": "\(KafkaError(closed, context: "closing"))"])
        }
        let (waiters, commits) = control.withLock { control in
            control.destroyed = true
            defer {
                control.closeWaiters.removeAll()
                control.pendingCommits.removeAll()
            }
            return (control.closeWaiters, control.pendingCommits)
        }
        buffer.finish()
        commits.forEach { $0.resume(throwing: KafkaError(kind: .closed, message: "the consumer closed", context: "committing offsets")) }
        waiters.forEach { $0.resume() }
        // After the waiters: the group was left above, and `rd_kafka_destroy` often waits a
        // whole second for its broker threads, which nobody needs to wait for.
        client.destroy()
    }

    /// A new librdkafka client in place of one whose member stayed out of its group: the new one
    /// joins afresh; the old one is destroyed without a consumer close (its session is gone, a
    /// LeaveGroup or final commit would only wait on the coordinator that did not answer).
    /// Messages it had fetched are dropped here and redelivered to whoever owns their
    /// partitions, from the last committed offsets.
    private static func replace(
        _ old: RDClient, rejoin: Rejoin, because reason: String, buffer: MessageBuffer, control: LockedState<Control>, logger: Logger
    ) -> RDClient {
        let fresh: RDClient
        do {
            fresh = try rejoin.makeClient()
        } catch {
            // Tried again after another round of patience; the old client keeps trying meanwhile.
            logger.error("could not make a new Kafka consumer client", metadata: ["error": "\(error)"])
            control.withLock { $0.outOfGroupSince = .now }
            return old
        }
        control.withLock {
            $0.client = fresh
            $0.assignment = []
            $0.paused = false
            $0.outOfGroupSince = .now
            $0.replacements += 1
        }
        buffer.removeAll { _ in true }
        rejoin.replacements.increment()
        logger.warning("Kafka consumer client replaced: \(reason)", metadata: ["patience": "\(rejoin.patience)"])
        old.destroyInBackground(skippingConsumerClose: true)
        return fresh
    }

    /// Why a member holding its partitions counts as stalled, if it does: statistics taken after
    /// its last progress show records it has not handed out, and it handed out none for
    /// `patience` while the application was taking records.
    private static func fetchStall(since lastProgress: ContinuousClock.Instant, patience: Duration, consumerLag: ConsumerLag) -> String? {
        let now = ContinuousClock.now
        guard now - lastProgress >= patience, let unseen = consumerLag.unseen, unseen.at > lastProgress, unseen.records > 0 else { return nil }
        return "it held partitions with \(unseen.records) records it had not fetched, and fetched nothing for \(now - lastProgress)"
    }

    private static func commitStored(_ client: RDClient) -> Result<Void, any Error> {
        let error = rd_kafka_commit(client.pointer, nil, 0)
        if error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET { return .success(()) }
        return .failure(KafkaError(error, context: "committing offsets"))
    }

    private static func setPaused(_ paused: Bool, client: RDClient) {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard rd_kafka_assignment(client.pointer, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if paused {
            rd_kafka_pause_partitions(client.pointer, list)
        } else {
            rd_kafka_resume_partitions(client.pointer, list)
        }
    }

    private static func rebalance(
        client: OpaquePointer, error: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        buffer: MessageBuffer, control: LockedState<Control>, logger: Logger
    ) {
        let cooperative = rd_kafka_rebalance_protocol(client).map { String(cString: $0) } == "COOPERATIVE"
        let changed = partitions.map(partitionSet) ?? []
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if cooperative {
                if let failure = rd_kafka_incremental_assign(client, partitions) {
                    logger.error("incremental assign failed", metadata: ["error": "\(String(cString: rd_kafka_error_string(failure)))"])
                    rd_kafka_error_destroy(failure)
                }
            } else {
                rd_kafka_assign(client, partitions)
            }
            control.withLock {
                $0.assignment = cooperative ? $0.assignment.union(changed) : changed
                $0.paused = false  // new assignments start fetching; the loop re-pauses if needed
                $0.outOfGroupSince = nil
                $0.assignedAt = .now
            }
            logger.info("partitions assigned", metadata: ["partitions": "\(changed.sorted())"])
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            // Commit what was processed before giving the partitions away. Lost ones (the
            // session expired) are no longer this member's to commit, and it is out of the
            // group until it is given partitions again.
            let lost = rd_kafka_assignment_lost(client) != 0
            if !lost {
                let committed = rd_kafka_commit(client, nil, 0)
                if committed != RD_KAFKA_RESP_ERR_NO_ERROR && committed != RD_KAFKA_RESP_ERR__NO_OFFSET {
                    logger.warning("commit on revocation failed", metadata: ["error": "\(KafkaError(committed, context: "committing on revocation"))"])
                }
            }
            // Buffered messages of revoked partitions now belong to their next owner.
            buffer.removeAll { changed.contains(TopicPartition(topic: $0.topic, partition: $0.partition)) }
            if cooperative {
                if let failure = rd_kafka_incremental_unassign(client, partitions) {
                    logger.error("incremental unassign failed", metadata: ["error": "\(String(cString: rd_kafka_error_string(failure)))"])
                    rd_kafka_error_destroy(failure)
                }
            } else {
                rd_kafka_assign(client, nil)
            }
            control.withLock {
                $0.assignment = cooperative ? $0.assignment.subtracting(changed) : []
                if lost {
                    $0.outOfGroupSince = $0.outOfGroupSince ?? .now
                }
            }
            if lost {
                logger.warning("partitions lost with the group session", metadata: ["partitions": "\(changed.sorted())"])
            } else {
                logger.info("partitions revoked", metadata: ["partitions": "\(changed.sorted())"])
            }
        default:
            logger.error("rebalance failed", metadata: ["error": "\(KafkaError(error, context: "rebalancing"))"])
            rd_kafka_assign(client, nil)
            control.withLock {
                $0.assignment = []
                $0.outOfGroupSince = $0.outOfGroupSince ?? .now
            }
        }
    }

    private static func partitionSet(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Set<TopicPartition> {
        var result: Set<TopicPartition> = []
        for index in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[index]
            result.insert(TopicPartition(topic: String(cString: element.topic), partition: element.partition))
        }
        return result
    }

    /// Topic names by librdkafka topic handle: building a String per record from the C name
    /// cost a heap allocation each (names are longer than a small string).
    struct TopicNames {
        private var names: [OpaquePointer: String] = [:]

        mutating func name(of topic: OpaquePointer) -> String {
            let cName = rd_kafka_topic_name(topic)!
            // A handle freed and reused for another topic must not return the old name.
            if let known = names[topic], known.withCString({ strcmp($0, cName) == 0 }) { return known }
            let name = String(cString: cName)
            names[topic] = name
            return name
        }
    }

    private static func copy(_ message: UnsafeMutablePointer<rd_kafka_message_t>, topicNames: inout TopicNames) -> KafkaMessage {
        let record = message.pointee
        let topic = record.rkt.map { topicNames.name(of: $0) } ?? ""
        let key = record.key.map { Array(UnsafeRawBufferPointer(start: $0, count: record.key_len)) }
        let value = record.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: record.len)) }
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let headerValue = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: headerValue))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaMessage(
            topic: topic, partition: record.partition, offset: record.offset, key: key, value: value, headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp)
    }
}

private let rebalanceCallback:
    @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
        client, error, partitions, opaque in
        guard let client, let opaque else { return }
        let context = Unmanaged<RDCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
        context.rebalance?(client, error, partitions)
    }

private let statisticsCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32 = {
    client, json, length, _ in
    guard let json, let context = RDCallbackContext.from(client) else { return 0 }
    context.statistics?(UnsafeRawBufferPointer(start: json, count: length))
    return 0  // librdkafka frees the JSON
}

/// The messages of a consumer, in the order each partition delivered them. Iterate from one
/// task; the sequence ends when the consumer closes.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaMessage
    let buffer: MessageBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: MessageBuffer
        public mutating func next() async -> KafkaMessage? {
            await buffer.next()
        }

        /// Reads until every partition of `ends` has been read to its end offset, then on until
        /// nothing arrives for `quiet`: some brokers report an end short of the last record of a
        /// batch (Tansu 0.6 does for a batch of several records), and those records come in the
        /// same fetch. `body` gets the messages in the order read, in batches of what was
        /// buffered (at most `batchSize`), so a reader of whole topics pays one hand-off per
        /// batch rather than per record. `positions` holds the next offset per partition read so
        /// far, so a later call picks up where this one stopped. Returns false if the stream
        /// ended first.
        public mutating func read(
            to ends: [TopicPartition: KafkaPartitionOffsets], positions: inout [TopicPartition: Int64], quiet: Duration = .milliseconds(100),
            batchSize: Int = 1_024, _ body: ([KafkaMessage]) async throws -> Void
        ) async rethrows -> Bool {
            var unfinished = Set(
                ends.compactMap { partition, offsets in
                    !offsets.isEmpty && (positions[partition] ?? offsets.start) < offsets.end ? partition : nil
                })
            func take(_ batch: [KafkaMessage]) async throws {
                for message in batch {
                    let partition = TopicPartition(topic: message.topic, partition: message.partition)
                    positions[partition] = message.offset + 1
                    if !unfinished.isEmpty, let end = ends[partition]?.end, message.offset + 1 >= end { unfinished.remove(partition) }
                }
                try await body(batch)
            }
            while !unfinished.isEmpty {
                guard let batch = await buffer.next(upTo: batchSize, timeout: nil) else { return false }
                try await take(batch)
            }
            while let batch = await buffer.next(upTo: batchSize, timeout: quiet) { try await take(batch) }
            return true
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

/// The hand-off between the poll thread and the application. The rules live in
/// `MessageBufferState`; this holds the waiting continuation and runs the timers.
final class MessageBuffer: Sendable {
    private let state = Mutex<(buffer: MessageBufferState<KafkaMessage>, waiter: CheckedContinuation<KafkaMessage?, Never>?)>((MessageBufferState(), nil))

    var count: Int { state.withLock { $0.buffer.count } }

    func append(_ message: KafkaMessage) {
        let waiter = state.withLock { state -> CheckedContinuation<KafkaMessage?, Never>? in
            guard state.buffer.append(message) == .handToWaiter else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: message)
    }

    func removeAll(where predicate: (KafkaMessage) -> Bool) {
        state.withLock { $0.buffer.removeAll(where: predicate) }
    }

    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<KafkaMessage?, Never>? in
            guard state.buffer.finish() else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    func next() async -> KafkaMessage? {
        await next(timeout: nil)
    }

    /// What is buffered, up to `limit` messages, or the next one to arrive (waiting at most
    /// `timeout`) with whatever came with it. Nil when the wait times out or the buffer ends.
    func next(upTo limit: Int, timeout: Duration?) async -> [KafkaMessage]? {
        if let batch = state.withLock({ $0.buffer.take(upTo: limit) }) { return batch }
        guard let first = await next(timeout: timeout) else { return nil }
        return [first] + (state.withLock { $0.buffer.take(upTo: limit - 1) } ?? [])
    }

    /// With a timeout, a wait that outlasts it ends with nil; the timer can only end the wait it
    /// was started for.
    func next(timeout: Duration?) async -> KafkaMessage? {
        // Most calls find a message waiting: no continuation to set up for those.
        if case .message(let message) = state.withLock({ $0.buffer.next(orWait: false) }) { return message }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaMessage?, Never>) in
                let immediate = state.withLock { state -> KafkaMessage?? in
                    switch state.buffer.next(orWait: !Task.isCancelled) {
                    case .message(let message): return .some(message)
                    case .end: return .some(nil)
                    case .wait(let wait):
                        state.waiter = continuation
                        if let timeout { expire(wait, after: timeout) }
                        return .none
                    }
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<KafkaMessage?, Never>? in
                guard state.buffer.cancelWait() else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    private func expire(_ wait: Int, after timeout: Duration) {
        Task {
            try await Task.sleep(for: timeout)
            let waiter = state.withLock { state -> CheckedContinuation<KafkaMessage?, Never>? in
                guard state.buffer.expire(wait: wait) else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}

/// The messages between the poll thread and the application, apart from any waiting: kept
/// in arrival order, taken one or a batch at a time, handed straight to a reader that waits,
/// dropped once finished. Each wait gets a number, so a timer set for one wait can never end
/// a later one.
struct MessageBufferState<Message> {
    private var items: [Message] = []
    private var head = 0
    /// The number of the wait in progress, if a reader waits.
    private(set) var waiting: Int?
    private var waits = 0
    private(set) var finished = false

    var count: Int { items.count - head }

    enum Append: Equatable {
        /// A reader waits: resume it with the message (not buffered).
        case handToWaiter
        case buffered
        /// Finished: the message is dropped (its partition's next owner reads it again).
        case dropped
    }

    mutating func append(_ message: Message) -> Append {
        if finished { return .dropped }
        if waiting != nil {
            waiting = nil
            return .handToWaiter
        }
        items.append(message)
        return .buffered
    }

    enum Next {
        case message(Message)
        /// Nothing for this reader: finished and empty, or it may not wait.
        case end
        /// Nothing buffered: the reader now waits, as wait number `n`.
        case wait(Int)
    }

    /// The oldest message. With nothing buffered: `.end` if finished or not `orWait` (a
    /// cancelled reader), otherwise the reader becomes the waiter.
    mutating func next(orWait: Bool) -> Next {
        if let message = pop() { return .message(message) }
        if finished || !orWait { return .end }
        precondition(waiting == nil, "one task reads the buffer")
        waits += 1
        waiting = waits
        return .wait(waits)
    }

    /// Up to `limit` buffered messages in order, or nil if none.
    mutating func take(upTo limit: Int) -> [Message]? {
        guard limit > 0, head < items.count else { return nil }
        let end = min(items.count, head + limit)
        let batch = Array(items[head..<end])
        head = end
        compact()
        return batch
    }

    /// A timer for wait `wait` went off: true if that wait is still on (resume it with nil).
    mutating func expire(wait: Int) -> Bool {
        guard waiting == wait else { return false }
        waiting = nil
        return true
    }

    /// The reader's task was cancelled: true if it was waiting (resume it with nil).
    mutating func cancelWait() -> Bool {
        defer { waiting = nil }
        return waiting != nil
    }

    /// No more messages: true if a reader waits (resume it with nil).
    mutating func finish() -> Bool {
        finished = true
        return cancelWait()
    }

    mutating func removeAll(where predicate: (Message) -> Bool) {
        items = Array(items[head...].filter { !predicate($0) })
        head = 0
    }

    private mutating func pop() -> Message? {
        guard head < items.count else { return nil }
        defer {
            head += 1
            compact()
        }
        return items[head]
    }

    /// Drops what was taken once it is most of the array, so the array does not grow forever
    /// and is not shifted on every take.
    private mutating func compact() {
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }
}

extension MessageBufferState: Sendable where Message: Sendable {}
extension MessageBufferState.Next: Sendable where Message: Sendable {}

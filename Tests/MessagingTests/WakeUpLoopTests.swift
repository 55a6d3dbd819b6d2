import Backoff
import Contracts
import Foundation
import KafkaClient
import Messaging
import MetricsTestKit
import PostgresClient
import Synchronization
import TestSupport
import Testing

@Suite("Wake-up loop and outbox backlog against real servers", .enabled(if: TestEnvironment.integrationEnabled), .timeLimit(.minutes(2)))
struct WakeUpLoopTests {
    let logger = TestEnvironment.logger

    @Test("the loop steps at once on a commit of this process, on a NOTIFY from another, and keeps going after errors")
    func wakeUps() async throws {
        let channel = TestEnvironment.uniqueName("loop")
        let pool = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)
        let other = PostgresConnectionPool(configuration: TestEnvironment.postgresConfiguration(), logger: logger)
        let counts = StepCounts()
        struct Flaky: Error {}
        // Polling alone would take a minute: only wake-ups make it step within the test.
        let loop = WakeUpLoop(
            pool: pool, channel: channel, pollInterval: .seconds(60), errorBackoff: ExponentialBackoff(initial: .milliseconds(20), maximum: .milliseconds(100)),
            logger: logger)
        let running = Task {
            await loop.run {
                let step = counts.steps.add(1, ordering: .relaxed).newValue
                if step <= 2 { throw Flaky() }  // retried after the backoff, not after a wake-up
                return .afterWakeUp
            } onError: { error in
                #expect(error is Flaky)
                counts.errors.add(1, ordering: .relaxed)
            }
        }
        func settled() async throws -> Int {
            try await Task.sleep(for: .milliseconds(500))
            return counts.steps.load(ordering: .relaxed)
        }
        // Two failed steps retried after the backoff, a third that caught up, and a fourth for the
        // wake-up the listener gives once connected (pending if it came during the others).
        try #require(try await eventually(timeout: .seconds(30)) { counts.steps.load(ordering: .relaxed) >= 4 })
        #expect(counts.errors.load(ordering: .relaxed) == 2)

        var before = try await settled()
        try await pool.transaction { try await $0.notifyAfterCommit(channel) }
        #expect(try await eventually(timeout: .seconds(30)) { counts.steps.load(ordering: .relaxed) == before + 1 }, "in process")

        before = try await settled()
        try await other.transaction { try await $0.notifyAfterCommit(channel) }
        #expect(try await eventually(timeout: .seconds(30)) { counts.steps.load(ordering: .relaxed) == before + 1 }, "through the server")

        // Nothing else wakes it: the poll interval is a minute away.
        before = try await settled()
        try await Task.sleep(for: .milliseconds(500))
        #expect(counts.steps.load(ordering: .relaxed) == before)
        running.cancel()
        await running.value
        #expect(!pool.wakeUpBus.wake(channel), "a stopped loop leaves the bus")
        await pool.close()
        await other.close()
    }

    @Test("while the relay cannot publish, the backlog gauges show the waiting rows and their age; once sent, zero")
    func backlogGauges() async throws {
        let fixture = try await MessagingFixture.make(partitions: 1)
        var unreachable = KafkaProducerConfiguration(kafka: KafkaConfiguration(bootstrapServers: "127.0.0.1:\(TestEnvironment.freePort())"))
        unreachable.messageTimeoutMilliseconds = 500
        let deadProducer = try KafkaProducer(configuration: unreachable, logger: logger)
        let metrics = TestMetrics()
        let stuck = OutboxRelay(
            pool: fixture.pool, producer: deadProducer, schema: fixture.schema, gate: fixture.gate, pollInterval: .milliseconds(200),
            backlogInterval: .milliseconds(200), metrics: metrics, logger: logger)
        let dimensions = [("schema", fixture.schema)]
        @Sendable func gauge(_ label: String) -> Double? { (try? metrics.expectGauge(label, dimensions))?.lastValue }

        try await withRunning([stuck]) {
            for _ in 0..<3 { try await fixture.pool.transaction { _ = try await fixture.appendEvent(referral: UUID(), on: $0) } }
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    gauge("passerelle_outbox_waiting_rows") == 3 && (gauge("passerelle_outbox_oldest_waiting_age_seconds") ?? 0) >= 1
                },
                "waiting \(String(describing: gauge("passerelle_outbox_waiting_rows"))), age \(String(describing: gauge("passerelle_outbox_oldest_waiting_age_seconds")))"
            )
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await fixture.count("SELECT count(*) AS n FROM outbox WHERE attempts > 0") == 3
                }, "the relay tried and failed")
        }
        await deadProducer.close()

        let working = OutboxRelay(pool: fixture.pool, producer: fixture.producer, schema: fixture.schema, gate: fixture.gate, metrics: metrics, logger: logger)
        #expect(try await working.publishBatch().published == 3)
        let backlog = try await working.recordBacklog()
        #expect(backlog.waitingRows == 0 && backlog.oldestWaitingAge == .zero)
        #expect(gauge("passerelle_outbox_waiting_rows") == 0)
        #expect(gauge("passerelle_outbox_oldest_waiting_age_seconds") == 0)
        await fixture.tearDown()
    }
}

/// How often a loop stepped and how many of the steps failed.
final class StepCounts: Sendable {
    let steps = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
}

/// The loop's own rules, with PostgreSQL out of reach (its listener keeps retrying): wake-ups
/// from this process still arrive through the pool's bus. Runs without REQUIRE_INTEGRATION.
@Suite("Wake-up loop, without a server")
struct WakeUpLoopRulesTests {
    @Test("steps at once while more waits, after a delay when asked, on an in-process wake-up, and after a growing backoff on errors")
    func stepping() async throws {
        let pool = PostgresConnectionPool(
            configuration: PostgresConfiguration(port: TestEnvironment.freePort(), connectTimeoutSeconds: 1), logger: TestEnvironment.logger)
        let channel = TestEnvironment.uniqueName("rules")
        let counts = StepCounts()
        let stamps = StepStamps()
        struct Flaky: Error {}
        let loop = WakeUpLoop(
            pool: pool, channel: channel, pollInterval: .seconds(60),
            errorBackoff: ExponentialBackoff(initial: .milliseconds(100), maximum: .milliseconds(400)), logger: TestEnvironment.logger)
        let running = Task {
            await loop.run {
                let step = counts.steps.add(1, ordering: .relaxed).newValue
                stamps.record()
                switch step {
                case 1, 2: return .now  // more waiting: no pause
                case 3: return .after(.milliseconds(300))
                case 4, 5, 6: throw Flaky()  // 100, 200, 400 ms
                default: return .afterWakeUp
                }
            } onError: { _ in
                counts.errors.add(1, ordering: .relaxed)
            }
        }
        defer { running.cancel() }  // also when a requirement below fails
        // With no server and the poll a minute away, nothing wakes the loop: reaching step 7 at all
        // shows that `.now`, `.after` and failed steps go on by themselves; the gaps show the pauses.
        // A generous bound: with the whole suite running on two cores, the cooperative pool can be
        // busy for many seconds; the gaps below, not this bound, are what the test measures.
        try #require(try await eventually(timeout: .seconds(90)) { counts.steps.load(ordering: .relaxed) >= 7 })
        let gaps = stamps.gaps
        try #require(gaps.count >= 6)
        #expect(gaps[2] >= .milliseconds(300), "\(gaps)")
        #expect(gaps[3] >= .milliseconds(100) && gaps[4] >= .milliseconds(200) && gaps[5] >= .milliseconds(400), "the backoff grows: \(gaps)")
        #expect(counts.errors.load(ordering: .relaxed) == 3)

        // Caught up: only a wake-up (the poll is a minute away) makes it step again.
        try await Task.sleep(for: .milliseconds(300))
        #expect(counts.steps.load(ordering: .relaxed) == 7)
        #expect(pool.wakeUpBus.wake(channel), "the running loop waits on the bus")
        #expect(try await eventually(timeout: .seconds(30)) { counts.steps.load(ordering: .relaxed) == 8 })
        running.cancel()
        await running.value
        #expect(!pool.wakeUpBus.wake(channel))
        await pool.close()
    }
}

/// When each step started.
final class StepStamps: Sendable {
    private let instants = Mutex<[ContinuousClock.Instant]>([])
    func record() { instants.withLock { $0.append(.now) } }
    /// The time between consecutive steps.
    var gaps: [Duration] { instants.withLock { instants in zip(instants.dropFirst(), instants).map { $0 - $1 } } }
}

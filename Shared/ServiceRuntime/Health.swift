import Foundation
import Hummingbird
import KafkaClient
import Messaging
import PostgresClient
import Synchronization
import WireFormats

/// `/health/live`, `/health/ready` and `/metrics`. Readiness reflects the schema (migrated),
/// PostgreSQL (answers), the broker (answers a metadata request, and the producer is usable)
/// and the consumers (each has joined its group: before that, events wait); results are
/// cached for a second so a busy probe cannot load the dependencies.
public final class HealthRoutes: Sendable {
    let pool: PostgresConnectionPool
    let producer: KafkaProducer
    let gate: ReadinessGate
    let consumers: [IdempotentConsumer]
    private let cache = Mutex<(at: ContinuousClock.Instant, report: ReadinessReport)?>(nil)

    public init(pool: PostgresConnectionPool, producer: KafkaProducer, gate: ReadinessGate, consumers: [IdempotentConsumer] = []) {
        self.pool = pool
        self.producer = producer
        self.gate = gate
        self.consumers = consumers
    }

    public struct ReadinessReport: Codable, Sendable, Equatable {
        public var ready: Bool
        public var schema: String
        public var database: String
        public var broker: String
        public var consumers: String
    }

    public func check() async -> ReadinessReport {
        if let cached = cache.withLock({ $0 }), ContinuousClock.now - cached.at < .seconds(1) { return cached.report }
        // Bounded like the broker's check: with every pooled connection held by a query to a
        // database cut off without a reset, the ping would wait its turn for as long as the cut
        // lasts, and readiness would answer nothing instead of naming the database.
        let pool = pool
        async let database: String = Self.probe(within: .seconds(2), "the database") { try await pool.ping() }
        async let broker: String = Self.probe {
            // A reachable broker does not help a producer librdkafka has declared dead.
            if let fatal = producer.fatalError { throw fatal }
            try await producer.checkBrokerReachable(timeout: .seconds(2))
        }
        let schema = gate.isOpen ? "ok" : "migrating"
        let joining = consumers.filter { !$0.hasJoinedGroup }.count
        let members = joining == 0 ? "ok" : "joining: \(joining) of \(consumers.count) not yet given their partitions"
        let (db, kafka) = await (database, broker)
        let report = ReadinessReport(
            ready: schema == "ok" && db == "ok" && kafka == "ok" && members == "ok", schema: schema, database: db, broker: kafka, consumers: members)
        cache.withLock { $0 = (ContinuousClock.now, report) }
        return report
    }

    /// The probe's answer, or "unavailable" once `limit` has passed without one; the probe is
    /// left to end on its own (a query on a connection cut off cannot be interrupted).
    private static func probe(within limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> Void) async -> String {
        let answer = FirstAnswer()
        return await withCheckedContinuation { continuation in
            answer.wait(continuation)
            let work = Task { answer.give(await probe(body)) }
            Task {
                try? await Task.sleep(for: limit)
                answer.give("unavailable: \(what) did not answer within \(limit)")
                work.cancel()
            }
        }
    }

    /// Hands the first of two answers to the waiting check; the later one is dropped.
    private final class FirstAnswer: Sendable {
        private let waiting = Mutex<CheckedContinuation<String, Never>?>(nil)

        func wait(_ continuation: CheckedContinuation<String, Never>) {
            waiting.withLock { $0 = continuation }
        }

        func give(_ text: String) {
            let continuation = waiting.withLock { waiting -> CheckedContinuation<String, Never>? in
                defer { waiting = nil }
                return waiting
            }
            continuation?.resume(returning: text)
        }
    }

    private static func probe(_ body: @Sendable () async throws -> Void) async -> String {
        do {
            try await body()
            return "ok"
        } catch {
            return "unavailable: \(error)"
        }
    }

    public func add<Context: PasserelleContext>(to router: Router<Context>) {
        router.get("/health/live") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"status\":\"live\"}")))
        }
        router.get("/health/ready") { _, _ in
            let report = await self.check()
            let body = try JSONCoding.api.encode(report)
            var headers: HTTPFields = [.contentType: "application/json"]
            if !report.ready { headers[.retryAfter] = "5" }
            return Response(status: report.ready ? .ok : .serviceUnavailable, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: Observability.prometheusText())))
        }
    }
}

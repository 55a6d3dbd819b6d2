// Throughput of the two C-library wrappers through their public API, used the way the services
// use them, for deploy/bench/suites/wrappers.sh to set beside librdkafka's rdkafka_performance
// and PostgreSQL's pgbench. Prints one line `RESULT key=value ...`.
//
//   passerelle-wrapper-bench kafka --bootstrap 127.0.0.1:59092 --topic T [--messages 200000]
//       [--size 256] [--batch 500] [--senders 8] [--linger 1]
//   passerelle-wrapper-bench postgres --port 55432 --password P --schema S [--clients 8]
//       [--seconds 10] [--api transaction|session] [--host 127.0.0.1] [--database passerelle] [--user postgres]
import Foundation
import KafkaClient
import Logging
import PostgresClient
import Synchronization

/// A command line the benchmark cannot run, with what was wrong.
struct UsageError: Error, CustomStringConvertible {
    var description: String
}

/// `--name value` pairs after the benchmark's name.
struct Arguments {
    private var values: [String: String] = [:]

    init(_ words: ArraySlice<String>) throws {
        var words = words
        while let name = words.popFirst() {
            guard name.hasPrefix("--"), let value = words.popFirst() else {
                throw UsageError(description: "expected `--name value`, got `\(name)`")
            }
            values[String(name.dropFirst(2))] = value
        }
    }

    func text(_ name: String, default fallback: String? = nil) throws -> String {
        guard let value = values[name] ?? fallback else { throw UsageError(description: "--\(name) is required") }
        return value
    }

    func number(_ name: String, default fallback: Int) throws -> Int {
        guard let text = values[name] else { return fallback }
        guard let value = Int(text), value > 0 else { throw UsageError(description: "--\(name) must be a positive whole number, got `\(text)`") }
        return value
    }
}

/// Records of `size` bytes (no key, so librdkafka's partitioner spreads them as it does for
/// rdkafka_performance) sent in batches of `batch` by `senders` concurrent callers of the batch
/// `send`, as outbox relays do, until `messages` have been acknowledged.
func benchmarkProducer(_ arguments: Arguments, logger: Logger) async throws {
    let bootstrap = try arguments.text("bootstrap")
    let topic = try arguments.text("topic")
    let messages = try arguments.number("messages", default: 200_000)
    let size = try arguments.number("size", default: 256)
    let batch = try arguments.number("batch", default: 500)
    let senders = try arguments.number("senders", default: 8)
    let linger = try arguments.number("linger", default: 1)
    let pattern = Array("passerelle wrapper benchmark ".utf8)
    let value = (0..<size).map { pattern[$0 % pattern.count] }

    let producer = try KafkaProducer(
        configuration: KafkaProducerConfiguration(
            kafka: KafkaConfiguration(bootstrapServers: bootstrap, clientID: "passerelle-wrapper-bench"), lingerMilliseconds: linger),
        logger: logger)
    // Timed from a new producer to the last acknowledgement, as rdkafka_performance times it.
    let claimed = ClaimedRecords()
    let start = ContinuousClock.now
    let (delivered, failed) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
        for _ in 0..<senders {
            group.addTask {
                var delivered = 0
                var failed = 0
                while true {
                    let first = claimed.count.add(batch, ordering: .relaxed).oldValue
                    guard first < messages else { break }
                    let count = min(batch, messages - first)
                    let records = [KafkaRecord](repeating: KafkaRecord(topic: topic, key: nil, value: value), count: count)
                    for result in try await producer.send(records) {
                        switch result {
                        case .success: delivered += 1
                        case .failure(let error):
                            failed += 1
                            if failed == 1 { logger.error("delivery failed", metadata: ["error": "\(error)"]) }
                        }
                    }
                }
                return (delivered, failed)
            }
        }
        return try await group.reduce(into: (0, 0)) {
            $0.0 += $1.0
            $0.1 += $1.1
        }
    }
    let elapsed = ContinuousClock.now - start
    await producer.close()
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(
        "RESULT benchmark=kafka messages=\(delivered) failed=\(failed) size=\(size) batch=\(batch) senders=\(senders) seconds=\(String(format: "%.3f", seconds)) rate=\(String(format: "%.0f", Double(delivered) / seconds))"
    )
    if failed > 0 { throw UsageError(description: "\(failed) records were not delivered") }
}

/// How many records the senders have taken on so far (each takes a batch at a time).
final class ClaimedRecords: Sendable {
    let count = Atomic<Int>(0)
}

/// `clients` concurrent tasks, each running one single-row INSERT transaction after another
/// through the pool for `seconds`: `transaction` (an async body, one hop per statement) or
/// `session` (`sessionTransaction`, the services' hot-path form: one hop per transaction).
func benchmarkPool(_ arguments: Arguments, logger: Logger) async throws {
    let clients = try arguments.number("clients", default: 8)
    let seconds = try arguments.number("seconds", default: 10)
    let api = try arguments.text("api", default: "transaction")
    guard api == "transaction" || api == "session" else { throw UsageError(description: "--api is `transaction` or `session`, got `\(api)`") }
    let schema = try arguments.text("schema")
    guard PostgresConfiguration.isPlainIdentifier(schema) else { throw UsageError(description: "--schema must be a plain identifier, got `\(schema)`") }
    let configuration = PostgresConfiguration(
        host: try arguments.text("host", default: "127.0.0.1"),
        port: try arguments.number("port", default: 5432),
        database: try arguments.text("database", default: "passerelle"),
        user: try arguments.text("user", default: "postgres"),
        password: try arguments.text("password"),
        schema: schema,
        applicationName: "passerelle-wrapper-bench",
        poolSize: clients)
    let pool = PostgresConnectionPool(configuration: configuration, logger: logger)
    let payload = "referral"
    @Sendable func insert() async throws {
        if api == "session" {
            try await pool.sessionTransaction { session in
                try session.execute("INSERT INTO plain_insert (id, payload, created_at) VALUES (gen_random_uuid(), \(payload), now())")
            }
        } else {
            try await pool.transaction { connection in
                try await connection.execute("INSERT INTO plain_insert (id, payload, created_at) VALUES (gen_random_uuid(), \(payload), now())")
            }
        }
    }
    // Open every connection and prepare the statement first: pgbench's figure leaves out
    // connecting too.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<clients { group.addTask { try await insert() } }
        try await group.waitForAll()
    }
    let start = ContinuousClock.now
    let deadline = start + .seconds(seconds)
    let transactions = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<clients {
            group.addTask {
                var count = 0
                while ContinuousClock.now < deadline {
                    try await insert()
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = ContinuousClock.now - start
    await pool.close()
    let measured = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(
        "RESULT benchmark=postgres api=\(api) clients=\(clients) transactions=\(transactions) seconds=\(String(format: "%.3f", measured)) rate=\(String(format: "%.0f", Double(transactions) / measured))"
    )
}

var logger = Logger(label: "passerelle.wrapper-bench")
logger.logLevel = .warning
let words = CommandLine.arguments.dropFirst()
do {
    let arguments = try Arguments(words.dropFirst())
    switch words.first {
    case "kafka": try await benchmarkProducer(arguments, logger: logger)
    case "postgres": try await benchmarkPool(arguments, logger: logger)
    default: throw UsageError(description: "usage: passerelle-wrapper-bench kafka|postgres --name value ...")
    }
} catch {
    FileHandle.standardError.write(Data("passerelle-wrapper-bench: \(error)\n".utf8))
    exit(1)
}

import Backoff
import Logging
import Metrics
import ServiceLifecycle

/// A bounded pool of libpq connections. Connections open lazily, are checked before reuse
/// (so a restarted server costs one reconnect, not an error), and are dropped when broken.
/// While PostgreSQL is down, callers get `PostgresError.connectionUnavailable` straight away
/// instead of waiting, so an HTTP API can answer 503 and recover by itself.
///
/// As a `Service`, it closes every connection on graceful shutdown (it is listed first in a
/// service group, so it is the last to stop).
public actor PostgresConnectionPool: Service {
    public nonisolated let configuration: PostgresConfiguration
    private let logger: Logger
    private var state: ConnectionPoolState<PostgresConnection>
    private var nextID = 0
    /// The continuations of the leases `state` has queued, by waiter number: resumed with a
    /// connection handed over, nil (a slot was freed: try again) or an error.
    private var waiting: [Int: CheckedContinuation<PostgresConnection?, any Error>] = [:]
    private var nextWaiter = 0
    private let leaseWait: Timer
    /// Shared with every connection of the pool: where their commits' wake-ups go.
    private nonisolated let wakeUps = CommitWakeUps()

    public init(configuration: PostgresConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.state = ConnectionPoolState(capacity: configuration.poolSize)
        self.leaseWait = Timer(
            label: "passerelle_postgres_lease_wait_seconds", dimensions: [("schema", configuration.schema ?? "public")], preferredDisplayUnit: .seconds)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Leases a connection for the duration of `body`, which runs on the connection's own queue
    /// (its task executor preference): statements then call libpq without leaving the thread.
    /// The reuse check of an idle connection and the settling before its release happen in
    /// that same stay, so a whole lease costs two thread hops whatever it runs.
    @discardableResult
    public nonisolated func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        while true {
            let (connection, wasIdle) = try await lease()
            let outcome = await withTaskExecutorPreference(connection.executor) { () async -> (Result<T, any Error>, Settlement)? in
                if wasIdle, await !connection.isReusable() { return nil }
                let result: Result<T, any Error>
                do {
                    result = .success(try await body(connection))
                } catch {
                    result = .failure(error)
                }
                return (result, await connection.settleForRelease())
            }
            guard let (result, settlement) = outcome else {
                logger.info("dropping a stale PostgreSQL connection", metadata: ["connection": "\(connection.id)"])
                await discard(connection)
                continue
            }
            await release(connection, settlement)
            return try result.get()
        }
    }

    typealias Settlement = (inTransaction: Bool, wakeUpError: (any Error)?)

    /// Runs `body` inside a transaction and commits it. Serialization failures and deadlocks
    /// re-run the whole body (so it must not have effects outside the database) up to
    /// `maxAttempts` times with a short randomised backoff.
    @discardableResult
    public nonisolated func transaction<T: Sendable>(
        isolation: TransactionIsolation = .readCommitted,
        maxAttempts: Int = 5,
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await retryingTransientFailures(maxAttempts: maxAttempts) {
            try await withConnection { connection in
                try await connection.begin("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
                do {
                    let result = try await body(connection)
                    try await connection.query("COMMIT")
                    return result  // its wake-ups go out when the connection is released
                } catch {
                    // If ROLLBACK itself fails the connection is broken and `release` drops it.
                    await connection.rollback()
                    throw error
                }
            }
        }
    }

    /// The same, with a synchronous body that runs on the connection's own queue: the whole
    /// transaction costs one thread hop. For hot paths whose work is only SQL.
    @discardableResult
    public nonisolated func sessionTransaction<T: Sendable>(
        isolation: TransactionIsolation = .readCommitted,
        maxAttempts: Int = 5,
        _ body: @escaping @Sendable (borrowing PostgresSession) throws -> T
    ) async throws -> T {
        try await retryingTransientFailures(maxAttempts: maxAttempts) {
            try await withConnection { connection in
                try await connection.withSession { session in
                    session.begin("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
                    do {
                        let result = try body(session)
                        try session.query("COMMIT")
                        return result  // its wake-ups go out when the connection is released
                    } catch {
                        // As above: a connection that could not roll back is dropped.
                        try? session.rollback()
                        throw error
                    }
                }
            }
        }
    }

    private nonisolated func retryingTransientFailures<T: Sendable>(maxAttempts: Int, _ attempt: @Sendable () async throws -> T) async throws -> T {
        // Randomised in full, so transactions that collided do not collide again in step.
        var backoff = ExponentialBackoff(initial: .milliseconds(10), maximum: .seconds(1), jitter: .full)
        while true {
            do {
                return try await attempt()
            } catch let error as PostgresError where error.isTransientTransactionFailure && backoff.failures + 1 < maxAttempts {
                logger.debug("retrying transaction", metadata: ["attempt": "\(backoff.failures + 1)", "error": "\(error)"])
                try await Task.sleep(for: backoff.next())
            }
        }
    }

    /// `SELECT 1` on a pooled connection: what readiness checks call.
    public nonisolated func ping() async throws {
        try await withConnection { connection in
            _ = try await connection.query("SELECT 1")
        }
    }

    /// Where this pool's commits deliver their wake-ups inside the process (see
    /// `PostgresConnection.notifyAfterCommit`), made by `make` the first time: one per pool.
    public nonisolated func inProcessWakeUps<Receiver: InProcessWakeUps>(_ make: () -> Receiver) -> Receiver {
        wakeUps.receiver(make)
    }

    // MARK: - Leasing

    /// A connection, and whether it sat idle (then the caller checks it before use).
    private func lease() async throws -> (PostgresConnection, wasIdle: Bool) {
        let start = ContinuousClock.now
        defer { leaseWait.recordNanoseconds((ContinuousClock.now - start).nanoseconds) }
        while true {
            nextWaiter += 1
            let waiter = nextWaiter
            switch state.lease(waiter: waiter) {
            case .refuse:
                throw PostgresError(kind: .connectionUnavailable, message: "the connection pool is shut down")
            case .reuse(let connection):
                return (connection, true)
            case .open:
                nextID += 1
                do {
                    return (try await PostgresConnection.connect(configuration, id: nextID, wakeUps: wakeUps, logger: logger), false)
                } catch {
                    // Whoever waits would fail the same way; let them find out now.
                    resume(state.openFailed(), with: .failure(error))
                    throw error
                }
            case .wait:
                // `nil` means: a slot was freed, try again.
                let handedOver = try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PostgresConnection?, any Error>) in
                        if Task.isCancelled, state.cancel(waiter: waiter) {
                            continuation.resume(throwing: CancellationError())
                        } else {
                            waiting[waiter] = continuation
                        }
                    }
                } onCancel: {
                    Task { await self.cancel(waiter: waiter) }
                }
                if let handedOver { return (handedOver, false) }
            }
        }
    }

    private func cancel(waiter: Int) {
        if state.cancel(waiter: waiter) { resume([waiter], with: .failure(CancellationError())) }
    }

    private func resume(_ waiters: [Int], with result: Result<PostgresConnection?, any Error>) {
        for waiter in waiters { waiting.removeValue(forKey: waiter)?.resume(with: result) }
    }

    private func release(_ connection: PostgresConnection, _ settlement: Settlement) async {
        let (inTransaction, wakeUpError) = settlement
        if let wakeUpError { logger.warning("wake-ups not sent; listeners will poll", metadata: ["error": "\(wakeUpError)"]) }
        switch state.release(connection, reusable: !inTransaction) {
        case .handOver(let connection, let waiter): resume([waiter], with: .success(connection))
        case .keep: break
        case .close(let connection, let waiter):
            await connection.close()
            if let waiter { resume([waiter], with: .success(nil)) }
        }
    }

    private func discard(_ connection: PostgresConnection) async {
        let waiter = state.discarded()
        await connection.close()
        if let waiter { resume([waiter], with: .success(nil)) }
    }

    public func close() async {
        let (waiters, idle) = state.close()
        resume(waiters, with: .failure(PostgresError(kind: .connectionUnavailable, message: "the connection pool is shut down")))
        for connection in idle { await connection.close() }
    }
}

public enum TransactionIsolation: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

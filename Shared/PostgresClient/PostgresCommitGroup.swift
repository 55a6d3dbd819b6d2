import Synchronization

/// Group commit for short units of work that arrive concurrently (e.g. one per HTTP request):
/// the units waiting when a transaction starts run one after another in it, and one COMMIT
/// (one WAL flush, one round trip) serves them all. Idle, a unit runs alone at once: nothing
/// waits for a group to fill.
///
/// Each unit sees the effects of the units before it in the same transaction, as it would have
/// had they committed first; so units of one group behave as if run one after another. If
/// anything in a group fails (a unit throws, a statement it held fails at the next one, the
/// COMMIT fails), nothing of the group is kept and each unit runs again in a transaction of its
/// own, where its own failure, if any, is thrown to its caller alone. Units must therefore have
/// no effect outside the database, as for any retried transaction. A lost connection is the
/// exception: every unit of the group gets that error, as a transaction of its own would have
/// (the COMMIT's outcome may be unknown, so nothing is run again).
public final class PostgresCommitGroup: Sendable {
    private typealias Unit = @Sendable (borrowing PostgresSession) throws -> any Sendable

    private struct Waiting {
        var unit: Unit
        var continuation: CheckedContinuation<any Sendable, any Error>
    }

    /// A group's results, in the order of its units.
    private struct Results: Sendable {
        var values: [any Sendable] = []
    }

    private struct State {
        var waiting: [Waiting] = []
        var running = 0
    }

    private let pool: PostgresConnectionPool
    private let maxUnits: Int
    private let maxTransactions: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maxUnits: the most units one transaction takes.
    ///   - maxTransactions: how many group transactions may run at once (each holds a pooled
    ///     connection); units arriving while all are busy wait for the next group.
    public init(pool: PostgresConnectionPool, maxUnits: Int = 32, maxTransactions: Int = 4) {
        precondition(maxUnits >= 1 && maxTransactions >= 1)
        self.pool = pool
        self.maxUnits = maxUnits
        self.maxTransactions = maxTransactions
    }

    /// Runs `unit` in a transaction, perhaps shared with other units, and returns its result
    /// once that transaction has committed.
    public func run<T: Sendable>(_ unit: @escaping @Sendable (borrowing PostgresSession) throws -> T) async throws -> T {
        let result = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any Sendable, any Error>) in
            let startsRunner = state.withLock { state -> Bool in
                state.waiting.append(Waiting(unit: { session in try unit(session) }, continuation: continuation))
                guard state.running < maxTransactions else { return false }
                state.running += 1
                return true
            }
            if startsRunner { Task { await self.runGroups() } }
        }
        return result as! T  // what `unit` returned, erased to wait beside other units
    }

    /// Runs groups while units wait, then stops; a new runner starts with the next unit.
    private func runGroups() async {
        while let group = takeGroup() {
            await commit(group)
        }
    }

    private func takeGroup() -> [Waiting]? {
        state.withLock { state in
            guard !state.waiting.isEmpty else {
                state.running -= 1
                return nil
            }
            let count = min(maxUnits, state.waiting.count)
            defer { state.waiting.removeFirst(count) }
            return Array(state.waiting.prefix(count))
        }
    }

    private static func runAll(_ units: [Unit], on session: borrowing PostgresSession) throws -> Results {
        var results = Results()
        results.values.reserveCapacity(units.count)
        for unit in units { results.values.append(try unit(session)) }
        return results
    }

    // Left unoptimised: Swift 6.3.1's optimiser crashes (EarlyPerfInliner) specialising the
    // pool's transaction for this caller. The work here is a few calls per group.
    @_optimize(none)
    private func commit(_ group: [Waiting]) async {
        let units = group.map(\.unit)
        if group.count > 1 {
            do {
                let results = try await pool.sessionTransaction(maxAttempts: 1) { session in try Self.runAll(units, on: session) }
                for (waiting, result) in zip(group, results.values) { waiting.continuation.resume(returning: result) }
                return
            } catch let error as PostgresError where error.kind == .connectionUnavailable {
                // The server is out of reach, or the connection broke (perhaps during COMMIT, whose
                // outcome is then unknown): every unit gets what a transaction of its own would have.
                for waiting in group { waiting.continuation.resume(throwing: error) }
                return
            } catch {
                // Fall through: each unit alone, so that a failure is its own unit's.
            }
        }
        for (waiting, unit) in zip(group, units) {
            do {
                waiting.continuation.resume(returning: try await pool.sessionTransaction { session in try unit(session) })
            } catch {
                waiting.continuation.resume(throwing: error)
            }
        }
    }
}

/// The pool's bookkeeping with no I/O in it: which connections sit idle, how many are open,
/// who waits for one and in which order. `PostgresConnectionPool` tells it what happened and
/// does what it answers (open a connection, hand one over, wake or fail a waiter, close),
/// so the rules can be tested without a server. Generic over the connection so tests can use
/// plain values; waiters are the pool's numbers for them.
struct ConnectionPoolState<Connection> {
    let capacity: Int
    private(set) var idle: [Connection] = []
    /// Connections that exist or are being opened.
    private(set) var openCount = 0
    /// Waiting leases, first come first served.
    private(set) var waiters: [Int] = []
    private(set) var isClosed = false

    init(capacity: Int) {
        precondition(capacity >= 1, "a pool holds at least one connection")
        self.capacity = capacity
    }

    enum LeaseAction {
        /// Use this idle connection (check it first: it may have gone stale).
        case reuse(Connection)
        /// Open a new connection; it is already counted.
        case open
        /// Every connection is out: the waiter is queued until one comes back or a slot frees.
        case wait
        /// The pool is shut down.
        case refuse
    }

    /// A lease by `waiter`. The newest idle connection goes first (its socket is the warmest).
    mutating func lease(waiter: Int) -> LeaseAction {
        guard !isClosed else { return .refuse }
        if let connection = idle.popLast() { return .reuse(connection) }
        if openCount < capacity {
            openCount += 1
            return .open
        }
        waiters.append(waiter)
        return .wait
    }

    enum ReleaseAction {
        /// Hand the connection straight to this waiter (removed from the queue).
        case handOver(Connection, to: Int)
        /// Nobody waits: it was kept idle.
        case keep
        /// The pool is shut down or the connection unfit: close it, then wake the waiter, if
        /// any, to try again in the slot that frees (removed from the queue).
        case close(Connection, thenRetry: Int?)
    }

    /// A leased connection comes back; `reusable` false when it was left inside a transaction.
    mutating func release(_ connection: Connection, reusable: Bool) -> ReleaseAction {
        guard !isClosed, reusable else { return .close(connection, thenRetry: discarded()) }
        if !waiters.isEmpty { return .handOver(connection, to: waiters.removeFirst()) }
        idle.append(connection)
        return .keep
    }

    /// A connection is gone (broken, stale): its slot is free.
    /// Returns the waiter to wake so it tries again (and opens a connection in that slot).
    mutating func discarded() -> Int? {
        openCount -= 1
        return waiters.isEmpty ? nil : waiters.removeFirst()
    }

    /// Opening a connection failed: its slot is free, and every waiter would fail the same way,
    /// so they are returned to be told now (and removed).
    mutating func openFailed() -> [Int] {
        openCount -= 1
        defer { waiters.removeAll() }
        return waiters
    }

    /// A waiting lease was cancelled: true if it was still queued (then it must be resumed
    /// with the cancellation), false if it was already served.
    mutating func cancel(waiter: Int) -> Bool {
        guard let index = waiters.firstIndex(of: waiter) else { return false }
        waiters.remove(at: index)
        return true
    }

    /// Shuts the pool: returns the waiters to fail and the idle connections to close. Leased
    /// connections are closed as they come back.
    mutating func close() -> (waiters: [Int], idle: [Connection]) {
        isClosed = true
        defer {
            openCount -= idle.count
            waiters.removeAll()
            idle.removeAll()
        }
        return (waiters, idle)
    }
}

extension ConnectionPoolState.LeaseAction: Equatable where Connection: Equatable {}
extension ConnectionPoolState.ReleaseAction: Equatable where Connection: Equatable {}
extension ConnectionPoolState: Sendable where Connection: Sendable {}
extension ConnectionPoolState.LeaseAction: Sendable where Connection: Sendable {}
extension ConnectionPoolState.ReleaseAction: Sendable where Connection: Sendable {}

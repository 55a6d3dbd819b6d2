import Testing

@testable import PostgresClient

/// The pool's rules, with no server: these run without REQUIRE_INTEGRATION.
@Suite("Connection pool bookkeeping, without a server")
struct ConnectionPoolStateTests {
    typealias State = ConnectionPoolState<String>

    @Test("opens up to its capacity, then queues leases in arrival order")
    func capacityAndQueue() {
        var pool = State(capacity: 2)
        #expect(pool.lease(waiter: 1) == .open)
        #expect(pool.lease(waiter: 2) == .open)
        #expect(pool.openCount == 2)
        #expect(pool.lease(waiter: 3) == .wait)
        #expect(pool.lease(waiter: 4) == .wait)
        #expect(pool.waiters == [3, 4])
        #expect(pool.openCount == 2, "waiting opens nothing")
    }

    @Test("a released connection goes to the first waiter, then to the idle list; the newest idle goes out first")
    func handOverAndReuse() {
        var pool = State(capacity: 2)
        _ = pool.lease(waiter: 1)
        _ = pool.lease(waiter: 2)
        _ = pool.lease(waiter: 3)
        _ = pool.lease(waiter: 4)
        #expect(pool.release("a", reusable: true) == .handOver("a", to: 3))
        #expect(pool.release("b", reusable: true) == .handOver("b", to: 4))
        #expect(pool.release("a", reusable: true) == .keep)
        #expect(pool.release("b", reusable: true) == .keep)
        #expect(pool.idle == ["a", "b"])
        #expect(pool.lease(waiter: 5) == .reuse("b"))
        #expect(pool.lease(waiter: 6) == .reuse("a"))
        #expect(pool.lease(waiter: 7) == .wait)
    }

    @Test("a connection left in a transaction is closed, and its slot goes to the first waiter")
    func unfitRelease() {
        var pool = State(capacity: 1)
        _ = pool.lease(waiter: 1)
        _ = pool.lease(waiter: 2)
        #expect(pool.release("a", reusable: false) == .close("a", thenRetry: 2))
        #expect(pool.openCount == 0)
        #expect(pool.waiters.isEmpty)
        #expect(pool.lease(waiter: 2) == .open, "the woken waiter opens a connection in the freed slot")
        #expect(pool.release("b", reusable: false) == .close("b", thenRetry: nil))
    }

    @Test("a stale connection frees its slot for the first waiter")
    func discarded() {
        var pool = State(capacity: 1)
        _ = pool.lease(waiter: 1)
        #expect(pool.discarded() == nil)
        #expect(pool.openCount == 0)
        _ = pool.lease(waiter: 2)
        _ = pool.lease(waiter: 3)
        _ = pool.lease(waiter: 4)
        #expect(pool.discarded() == 3)
        #expect(pool.waiters == [4])
    }

    @Test("when opening fails, every waiter is told at once and the slot is free")
    func openFailure() {
        var pool = State(capacity: 1)
        _ = pool.lease(waiter: 1)
        _ = pool.lease(waiter: 2)
        _ = pool.lease(waiter: 3)
        #expect(pool.openFailed() == [2, 3])
        #expect(pool.waiters.isEmpty)
        #expect(pool.openCount == 0)
        #expect(pool.lease(waiter: 4) == .open)
    }

    @Test("a cancelled waiter leaves the queue once; one already served is not cancelled")
    func cancellation() {
        var pool = State(capacity: 1)
        _ = pool.lease(waiter: 1)
        _ = pool.lease(waiter: 2)
        _ = pool.lease(waiter: 3)
        let wasQueued = pool.cancel(waiter: 2)
        #expect(wasQueued)
        let queuedAgain = pool.cancel(waiter: 2)
        #expect(!queuedAgain)
        #expect(pool.waiters == [3])
        #expect(pool.release("a", reusable: true) == .handOver("a", to: 3))
        let servedOneCancelled = pool.cancel(waiter: 3)
        #expect(!servedOneCancelled, "served before the cancellation arrived")
    }

    @Test("closing fails the waiters, closes the idle connections, refuses leases, and closes the rest as they return")
    func closing() {
        var pool = State(capacity: 3)
        _ = pool.lease(waiter: 1)
        _ = pool.lease(waiter: 2)
        _ = pool.lease(waiter: 3)
        #expect(pool.release("a", reusable: true) == .keep)
        _ = pool.lease(waiter: 4)  // reuses a
        _ = pool.lease(waiter: 5)
        #expect(pool.waiters == [5])
        #expect(pool.release("a", reusable: true) == .handOver("a", to: 5))
        #expect(pool.release("b", reusable: true) == .keep)
        _ = pool.lease(waiter: 6)  // reuses b
        _ = pool.lease(waiter: 7)
        let (waiters, idle) = pool.close()
        #expect(waiters == [7])
        #expect(idle.isEmpty)
        #expect(pool.lease(waiter: 8) == .refuse)
        #expect(pool.release("b", reusable: true) == .close("b", thenRetry: nil))
        #expect(pool.openCount == 2)

        var quiet = State(capacity: 2)
        _ = quiet.lease(waiter: 1)
        _ = quiet.release("x", reusable: true)
        let (none, connections) = quiet.close()
        #expect(none.isEmpty)
        #expect(connections == ["x"])
        #expect(quiet.openCount == 0)
    }
}

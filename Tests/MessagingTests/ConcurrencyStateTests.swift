import KafkaClient
import Synchronization
import Testing

@testable import Messaging

/// The consumer's in-process hand-offs, with no server: these run without REQUIRE_INTEGRATION.
@Suite("Lanes, in-flight limit and wake-ups, without a server")
struct ConcurrencyStateTests {
    @Test("the outbox counts only the record's own refusals towards the dead letter, never a fenced or closed producer's")
    func refusals() {
        let fenced = KafkaError(kind: .fatal, code: 90, message: "Broker: Producer fenced", context: "delivering to t")
        #expect(!OutboxRelay.isRefusal(fenced), "a fenced producer's failures must not dead-letter good records")
        for kind: KafkaError.Kind in [.unavailable, .messageTimedOut, .closed, .heldBehindRefusal] {
            #expect(!OutboxRelay.isRefusal(KafkaError(kind: kind, message: "m", context: "c")), "\(kind)")
        }
        for kind: KafkaError.Kind in [.recordRejected, .unknownTopic, .other] {
            #expect(OutboxRelay.isRefusal(KafkaError(kind: kind, message: "m", context: "c")), "\(kind)")
        }
    }

    @Test("the limit grants its capacity, then makes the acquirer wait; a release hands the permit straight over")
    func limitPermits() {
        var limit = InFlightLimitState(capacity: 2)
        #expect(limit.acquire(isCancelled: false) == .granted)
        #expect(limit.acquire(isCancelled: false) == .granted)
        #expect(limit.available == 0)
        #expect(limit.acquire(isCancelled: false) == .wait)
        #expect(limit.hasWaiter)
        #expect(limit.release() == .handToWaiter)
        #expect(limit.available == 0, "the waiter took the permit")
        #expect(!limit.hasWaiter)
        #expect(limit.release() == .freed)
        #expect(limit.release() == .freed)
        #expect(limit.available == 2)
    }

    @Test("a cancelled acquirer goes on without a permit and never leaves a waiter behind")
    func limitCancellation() {
        var limit = InFlightLimitState(capacity: 1)
        #expect(limit.acquire(isCancelled: true) == .granted, "a free permit is still taken")
        #expect(limit.acquire(isCancelled: true) == .cancelled)
        #expect(!limit.hasWaiter)
        #expect(limit.acquire(isCancelled: false) == .wait)
        let wasWaiting = limit.cancel()
        #expect(wasWaiting)
        let stillWaiting = limit.cancel()
        #expect(!stillWaiting)
        #expect(limit.release() == .freed, "the cancelled waiter took nothing")
        #expect(limit.available == 1)
    }

    @Test("an acquirer waiting on a full limit resumes on release, and on cancellation")
    func limitWaits() async throws {
        let limit = InFlightLimit(capacity: 1)
        await limit.acquire()
        let acquired = Flag()
        let waiter = Task {
            await limit.acquire()
            acquired.set()
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!acquired.isSet, "no permit is free")
        limit.release()
        await waiter.value
        #expect(acquired.isSet)

        let cancelled = Task { await limit.acquire() }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        await cancelled.value  // returns, without a permit
        limit.release()
        await limit.acquire()  // the permit released above is there: no wait
    }

    @Test("a lane hands out everything waiting at once, in order, and ends once finished and empty")
    func laneBatches() {
        var lane = LaneState<Int>()
        guard case .wait = lane.take(orWait: false) else {
            Issue.record("an empty lane has nothing")
            return
        }
        #expect(!lane.hasWaiter, "a look without waiting leaves no waiter")
        #expect(lane.append(1) == nil)
        #expect(lane.append(2) == nil)
        guard case .messages([1, 2]) = lane.take(orWait: true) else {
            Issue.record("expected [1, 2]")
            return
        }
        guard case .wait = lane.take(orWait: true) else {
            Issue.record("expected a wait")
            return
        }
        #expect(lane.append(3) == [3], "the waiting taker gets it directly")
        #expect(lane.messages.isEmpty)
        #expect(lane.append(4) == nil)
        let takerWoken = lane.finish()
        #expect(!takerWoken)
        guard case .messages([4]) = lane.take(orWait: true) else {
            Issue.record("what was left comes out first")
            return
        }
        guard case .finished = lane.take(orWait: true) else {
            Issue.record("then the lane ends")
            return
        }

        var waiting = LaneState<Int>()
        _ = waiting.take(orWait: true)
        let waitingTakerWoken = waiting.finish()
        #expect(waitingTakerWoken, "the waiting taker is woken to see the end")
    }

    @Test("messages go to lanes by partition: a partition always to the same lane, partitions spread over all lanes")
    func laneAssignment() {
        #expect((0..<12).map { laneIndex(partition: $0, lanes: 4) } == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
        #expect((0..<5).allSatisfy { laneIndex(partition: $0, lanes: 1) == 0 })
        // One partition's messages, interleaved with another's, keep their order in their lane.
        var lanes = [LaneState<(Int32, Int)>(), LaneState<(Int32, Int)>()]
        for offset in 0..<10 {
            for partition: Int32 in [0, 1, 2] { _ = lanes[laneIndex(partition: partition, lanes: 2)].append((partition, offset)) }
        }
        guard case .messages(let first) = lanes[0].take(orWait: false) else {
            Issue.record("lane 0 is empty")
            return
        }
        #expect(first.filter { $0.0 == 0 }.map(\.1) == Array(0..<10))
        #expect(first.filter { $0.0 == 2 }.map(\.1) == Array(0..<10))
        #expect(!first.contains { $0.0 == 1 })
    }

    @Test("the bus wakes the signals subscribed to a channel, and says when nobody waits")
    func bus() async {
        let bus = WakeUpBus()
        let signal = WakeUpSignal()
        let other = WakeUpSignal()
        #expect(!bus.wake("a"))
        bus.subscribe(signal, to: "a")
        bus.subscribe(other, to: "b")
        #expect(bus.wake("a"))
        // The signal was set: a wait returns at once rather than after its (long) timeout.
        let start = ContinuousClock.now
        await signal.wait(timeout: .seconds(100))
        #expect(ContinuousClock.now - start < .seconds(50))
        bus.unsubscribe(signal, from: "a")
        #expect(!bus.wake("a"))
        #expect(bus.wake("b"))
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}

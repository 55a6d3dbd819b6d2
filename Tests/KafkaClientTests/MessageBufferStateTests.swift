import Foundation
import MetricsTestKit
import Testing

@testable import KafkaClient

/// The consumer's hand-off rules, with no broker: these run without REQUIRE_INTEGRATION.
@Suite("Kafka consumer buffer and lag, without a broker")
struct MessageBufferStateTests {
    @Test("messages come out in arrival order, one at a time or in batches, and compaction keeps them")
    func order() {
        var buffer = MessageBufferState<Int>()
        for value in 0..<3_000 { #expect(buffer.append(value) == .buffered) }
        #expect(buffer.count == 3_000)
        var taken: [Int] = []
        while taken.count < 1_500, case .message(let value) = buffer.next(orWait: true) { taken.append(value) }
        taken += buffer.take(upTo: 1_000) ?? []
        #expect(buffer.count == 500)
        taken += buffer.take(upTo: 10_000) ?? []
        #expect(taken == Array(0..<3_000))
        #expect(buffer.take(upTo: 1) == nil)
        #expect(buffer.take(upTo: 0) == nil)
    }

    @Test("a reader that finds nothing waits; the next message goes to it directly, not into the buffer")
    func handOver() {
        var buffer = MessageBufferState<String>()
        guard case .wait(let first) = buffer.next(orWait: true) else {
            Issue.record("expected a wait")
            return
        }
        #expect(buffer.waiting == first)
        #expect(buffer.append("a") == .handToWaiter)
        #expect(buffer.count == 0)
        #expect(buffer.waiting == nil)
        #expect(buffer.append("b") == .buffered)
        guard case .message("b") = buffer.next(orWait: true) else {
            Issue.record("expected b")
            return
        }
    }

    @Test("a timer ends only the wait it was set for")
    func timeouts() {
        var buffer = MessageBufferState<Int>()
        guard case .wait(let first) = buffer.next(orWait: true) else {
            Issue.record("expected a wait")
            return
        }
        #expect(buffer.append(1) == .handToWaiter)
        guard case .wait(let second) = buffer.next(orWait: true) else {
            Issue.record("expected a wait")
            return
        }
        #expect(second != first)
        let lateTimerEnded = buffer.expire(wait: first)
        #expect(!lateTimerEnded, "the first wait's timer fires late: the second wait goes on")
        #expect(buffer.waiting == second)
        let timerEnded = buffer.expire(wait: second)
        #expect(timerEnded)
        let endedAgain = buffer.expire(wait: second)
        #expect(!endedAgain, "ended once")
        #expect(buffer.append(2) == .buffered, "nobody waits any more")
    }

    @Test("a cancelled reader neither waits nor keeps its wait")
    func cancellation() {
        var buffer = MessageBufferState<Int>()
        guard case .end = buffer.next(orWait: false) else {
            Issue.record("a reader that may not wait gets nothing")
            return
        }
        #expect(buffer.waiting == nil)
        guard case .wait = buffer.next(orWait: true) else {
            Issue.record("expected a wait")
            return
        }
        let wasWaiting = buffer.cancelWait()
        #expect(wasWaiting)
        let stillWaiting = buffer.cancelWait()
        #expect(!stillWaiting)
        #expect(buffer.append(1) == .buffered)
    }

    @Test("finishing wakes the waiting reader with nothing, drops later messages, and still hands out what was buffered")
    func finishing() {
        var buffer = MessageBufferState<Int>()
        #expect(buffer.append(1) == .buffered)
        let readerWoken = buffer.finish()
        #expect(!readerWoken, "nobody waited")
        #expect(buffer.append(2) == .dropped)
        guard case .message(1) = buffer.next(orWait: true) else {
            Issue.record("expected 1")
            return
        }
        guard case .end = buffer.next(orWait: true) else {
            Issue.record("expected the end")
            return
        }

        var waited = MessageBufferState<Int>()
        guard case .wait = waited.next(orWait: true) else {
            Issue.record("expected a wait")
            return
        }
        let waitingReaderWoken = waited.finish()
        #expect(waitingReaderWoken)
        #expect(waited.waiting == nil)
    }

    @Test("revoked partitions' messages leave the buffer, the others keep their order")
    func revocation() {
        var buffer = MessageBufferState<(partition: Int, offset: Int)>()
        for offset in 0..<6 { _ = buffer.append((offset % 2, offset)) }
        _ = buffer.next(orWait: true)  // (0, 0) taken
        buffer.removeAll { $0.partition == 1 }
        #expect(buffer.take(upTo: 10)?.map(\.offset) == [2, 4])
    }

    @Test("the lag of assigned partitions: behind what was marked, else what was committed, else everything held")
    func lagFromStatistics() throws {
        let json = """
            {"name": "c#consumer-1", "type": "consumer", "topics": {
              "orders": {"topic": "orders", "partitions": {
                "0": {"partition": 0, "hi_offset": 100, "lo_offset": 0, "consumer_lag": 40, "consumer_lag_stored": 10},
                "1": {"partition": 1, "hi_offset": 50, "lo_offset": 5, "consumer_lag": 20, "consumer_lag_stored": -1},
                "2": {"partition": 2, "hi_offset": 30, "lo_offset": 4, "consumer_lag": -1, "consumer_lag_stored": -1},
                "3": {"partition": 3, "hi_offset": -1001, "lo_offset": -1001, "consumer_lag": -1, "consumer_lag_stored": -1},
                "4": {"partition": 4, "hi_offset": 9, "lo_offset": 0, "consumer_lag": 9},
                "-1": {"partition": -1, "consumer_lag": -1}}}}}
            """
        let assigned = Set((0...3).map { TopicPartition(topic: "orders", partition: $0) })
        let lags = try ConsumerLag.lags(in: Data(json.utf8), assignment: assigned)
        #expect(
            lags == [
                TopicPartition(topic: "orders", partition: 0): 10, TopicPartition(topic: "orders", partition: 1): 20,
                TopicPartition(topic: "orders", partition: 2): 26,
            ])
        #expect(try ConsumerLag.lags(in: Data(#"{"name": "p", "type": "producer"}"#.utf8), assignment: assigned).isEmpty)
        #expect(throws: DecodingError.self) { try ConsumerLag.lags(in: Data("[]".utf8), assignment: assigned) }
    }

    @Test("records not yet fetched: beyond what the application was handed, else what was committed, else from the start; assigned only")
    func unseenFromStatistics() throws {
        let json = """
            {"name": "c#consumer-1", "type": "consumer", "topics": {
              "orders": {"topic": "orders", "partitions": {
                "0": {"partition": 0, "hi_offset": 100, "lo_offset": 0, "app_offset": 90, "committed_offset": 60},
                "1": {"partition": 1, "hi_offset": 50, "lo_offset": 5, "app_offset": -1001, "committed_offset": 45},
                "2": {"partition": 2, "hi_offset": 30, "lo_offset": 4, "app_offset": -1001, "committed_offset": -1001},
                "3": {"partition": 3, "hi_offset": -1001, "lo_offset": -1001, "app_offset": -1001},
                "4": {"partition": 4, "hi_offset": 12, "lo_offset": 0, "app_offset": 12},
                "5": {"partition": 5, "hi_offset": 900, "lo_offset": 0, "app_offset": 0}}}}}
            """
        let assigned = Set((0...4).map { TopicPartition(topic: "orders", partition: $0) })
        // 10 after what was handed out, 5 after the commit, 26 from the start; nothing where the
        // end is unknown or reached; partition 5 is not this member's.
        #expect(try ConsumerLag.measure(in: Data(json.utf8), assignment: assigned).unseen == 41)
        let caughtUp = Set([TopicPartition(topic: "orders", partition: 4)])
        #expect(try ConsumerLag.measure(in: Data(json.utf8), assignment: caughtUp).unseen == 0)
    }

    @Test("lag gauges by group, topic and partition; a partition no longer assigned loses its gauge")
    func lagGauges() throws {
        let metrics = TestMetrics()
        let lag = ConsumerLag(group: "matching", factory: metrics)
        func statistics(_ partitions: [Int32: Int64]) -> String {
            let entries = partitions.map { #""\#($0.key)": {"partition": \#($0.key), "consumer_lag": \#($0.value)}"# }
            return #"{"topics": {"t": {"partitions": {\#(entries.joined(separator: ","))}}}}"#
        }
        let both: Set = [TopicPartition(topic: "t", partition: 0), TopicPartition(topic: "t", partition: 1)]
        try Array(statistics([0: 5, 1: 7]).utf8).withUnsafeBytes { try lag.record(statistics: $0, assignment: both) }
        #expect(try metrics.expectGauge("passerelle_consumer_lag_records", [("group", "matching"), ("topic", "t"), ("partition", "0")]).lastValue == 5)
        #expect(try metrics.expectGauge("passerelle_consumer_lag_records", [("group", "matching"), ("topic", "t"), ("partition", "1")]).lastValue == 7)

        try Array(statistics([0: 2, 1: 7]).utf8).withUnsafeBytes { try lag.record(statistics: $0, assignment: [TopicPartition(topic: "t", partition: 0)]) }
        #expect(try metrics.expectGauge("passerelle_consumer_lag_records", [("group", "matching"), ("topic", "t"), ("partition", "0")]).lastValue == 2)
        #expect(throws: (any Error).self) {
            try metrics.expectGauge("passerelle_consumer_lag_records", [("group", "matching"), ("topic", "t"), ("partition", "1")])
        }
        #expect(lag.lags == [TopicPartition(topic: "t", partition: 0): 2])
        lag.clear()
        #expect(metrics.recorders.isEmpty)
    }
}

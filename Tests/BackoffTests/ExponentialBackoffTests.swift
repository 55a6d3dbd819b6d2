import Backoff
import Testing

/// Deterministic random numbers (SplitMix64), so jitter can be checked exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Always the largest value a range allows (`random(in:)` maps UInt64.max to the top).
struct HighestGenerator: RandomNumberGenerator {
    mutating func next() -> UInt64 { .max }
}

/// Always the smallest value (1, not 0: `random(in:)` rejects 0 for most range sizes and would
/// ask again forever).
struct LowestGenerator: RandomNumberGenerator {
    mutating func next() -> UInt64 { 1 }
}

@Suite("Exponential backoff")
struct ExponentialBackoffTests {
    @Test("doubles from the initial delay after each failure, up to the cap, and starts over after reset")
    func doublesAndCaps() {
        var backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(1))
        let delays = (0..<7).map { _ in backoff.next() }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1), .seconds(1)])
        #expect(backoff.failures == 7)
        backoff.reset()
        #expect(backoff.failures == 0)
        #expect(backoff.next() == .milliseconds(100))
    }

    @Test("the delay after an attempt: attempts below 1 count as the first, huge ones do not overflow")
    func afterAttempt() {
        let backoff = ExponentialBackoff(initial: .seconds(2), maximum: .seconds(600))
        #expect(backoff.ceiling(afterAttempt: 0) == .seconds(2))
        #expect(backoff.ceiling(afterAttempt: 1) == .seconds(2))
        #expect(backoff.ceiling(afterAttempt: 3) == .seconds(8))
        #expect(backoff.ceiling(afterAttempt: 9) == .seconds(512))
        #expect(backoff.ceiling(afterAttempt: 10) == .seconds(600))
        #expect(backoff.ceiling(afterAttempt: .max) == .seconds(600))
        #expect(ExponentialBackoff(initial: .zero, maximum: .seconds(1)).ceiling(afterAttempt: 5) == .zero)
    }

    @Test("half jitter stays between half and all of the delay and reaches both ends")
    func halfJitter() {
        let backoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(5), jitter: .half)
        var high = HighestGenerator()
        var low = LowestGenerator()
        #expect(backoff.delay(afterAttempt: 3, using: &high) == .milliseconds(400))
        #expect(backoff.delay(afterAttempt: 3, using: &low) == .milliseconds(200))
        var seeded = SeededGenerator(state: 42)
        let samples = (0..<1_000).map { _ in backoff.delay(afterAttempt: 3, using: &seeded) }
        #expect(samples.allSatisfy { $0 >= .milliseconds(200) && $0 <= .milliseconds(400) })
        #expect(Set(samples).count > 900, "spread, not one value")
    }

    @Test("full jitter stays between nothing and the delay")
    func fullJitter() {
        var backoff = ExponentialBackoff(initial: .milliseconds(10), maximum: .seconds(1), jitter: .full)
        var low = LowestGenerator()
        var high = HighestGenerator()
        #expect(backoff.delay(afterAttempt: 4, using: &low) == .zero)
        #expect(backoff.delay(afterAttempt: 4, using: &high) == .milliseconds(80))
        var seeded = SeededGenerator(state: 7)
        for attempt in 1...12 {
            let delay = backoff.next(using: &seeded)
            #expect(delay >= .zero && delay <= min(.milliseconds(10) * (1 << (attempt - 1)), .seconds(1)), "attempt \(attempt)")
        }
    }

    @Test("a duration in seconds")
    func seconds() {
        #expect(Duration.milliseconds(1_500).inSeconds == 1.5)
        #expect(Duration.seconds(600).inSeconds == 600)
    }
}

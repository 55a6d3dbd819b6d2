/// How long to wait before trying again: `initial` after the first failure, doubling with each
/// further one, never more than `maximum`; optionally spread by jitter, so that replicas retrying
/// one dependency do not all retry in step.
///
/// Used two ways: as a value that counts consecutive failures (`next()` after each, `reset()`
/// after a success), or as a policy asked for the delay after a given attempt (retries whose
/// count is stored elsewhere, e.g. in a row).
public struct ExponentialBackoff: Sendable, Equatable {
    public enum Jitter: Sendable, Equatable {
        /// Exactly the computed delay.
        case none
        /// Anywhere between half and all of it: spread, yet never much shorter than asked.
        case half
        /// Anywhere between nothing and all of it.
        case full
    }

    public var initial: Duration
    public var maximum: Duration
    public var jitter: Jitter
    /// Failures counted by `next()` since the last `reset()`.
    public private(set) var failures = 0

    public init(initial: Duration, maximum: Duration, jitter: Jitter = .none) {
        precondition(initial >= .zero && maximum >= initial, "a backoff needs 0 ≤ initial ≤ maximum")
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The delay after the given (1-based) failed attempt, before jitter: `initial`·2^(attempt-1),
    /// capped at `maximum`. Attempts below 1 count as the first.
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        var delay = initial
        var doubled = 1
        // Doubling stops at the cap, so no attempt number can overflow.
        while doubled < attempt && delay < maximum && delay > .zero {
            delay = delay * 2
            doubled += 1
        }
        return min(delay, maximum)
    }

    /// The delay after the given (1-based) failed attempt, with jitter drawn from `generator`.
    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(afterAttempt: attempt)
        let nanoseconds = ceiling.wholeNanoseconds
        switch jitter {
        case .none:
            return ceiling
        case .half:
            return .nanoseconds(Int64.random(in: (nanoseconds / 2)...nanoseconds, using: &generator))
        case .full:
            return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &generator))
        }
    }

    /// The same with the system's random numbers.
    public func delay(afterAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }

    /// Counts one more failure and returns how long to wait before the next try.
    public mutating func next(using generator: inout some RandomNumberGenerator) -> Duration {
        failures += 1
        return delay(afterAttempt: failures, using: &generator)
    }

    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// After a success: the next failure waits `initial` again.
    public mutating func reset() {
        failures = 0
    }
}

extension Duration {
    /// The duration in (fractional) seconds, for APIs that take a `TimeInterval`.
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole nanoseconds (a backoff needs no finer grain); saturates rather than overflowing.
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

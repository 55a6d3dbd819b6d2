import Synchronization

/// A counting limit for one acquirer: `acquire` waits while `capacity` permits are out, and
/// any task may `release`. The consumer's dispatcher acquires one per message it hands to a
/// lane; the lane releases it once the message is handled. The rules live in
/// `InFlightLimitState`; this holds the waiting continuation.
final class InFlightLimit: Sendable {
    private let state: Mutex<(limit: InFlightLimitState, waiter: CheckedContinuation<Void, Never>?)>

    init(capacity: Int) {
        state = Mutex((InFlightLimitState(capacity: capacity), nil))
    }

    /// Returns early, without a permit, when the task is cancelled: the lanes that would have
    /// released one have stopped too.
    func acquire() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let proceed = state.withLock { state -> Bool in
                    switch state.limit.acquire(isCancelled: Task.isCancelled) {
                    case .granted, .cancelled: return true
                    case .wait:
                        state.waiter = continuation
                        return false
                    }
                }
                if proceed { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard state.limit.cancel() else { return nil }
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.limit.release() == .handToWaiter else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}

/// The permits of an `InFlightLimit`, apart from any waiting: what `acquire`, `release` and
/// a cancelled acquirer do to them.
struct InFlightLimitState: Equatable {
    private(set) var available: Int
    private(set) var hasWaiter = false

    init(capacity: Int) {
        precondition(capacity >= 1, "a limit allows at least one")
        available = capacity
    }

    enum Acquire: Equatable {
        /// A permit is taken.
        case granted
        /// None free and the acquirer is cancelled: go on without one.
        case cancelled
        /// None free: wait until a release hands one over.
        case wait
    }

    mutating func acquire(isCancelled: Bool) -> Acquire {
        if available > 0 {
            available -= 1
            return .granted
        }
        if isCancelled { return .cancelled }
        precondition(!hasWaiter, "one task acquires")
        hasWaiter = true
        return .wait
    }

    enum Release: Equatable {
        /// The waiting acquirer takes the permit directly: resume it.
        case handToWaiter
        /// Nobody waits: the permit is free again.
        case freed
    }

    mutating func release() -> Release {
        if hasWaiter {
            hasWaiter = false
            return .handToWaiter
        }
        available += 1
        return .freed
    }

    /// The acquirer's task was cancelled: true if it was waiting (resume it, without a permit).
    mutating func cancel() -> Bool {
        defer { hasWaiter = false }
        return hasWaiter
    }
}

import Synchronization

/// A counting limit for one acquirer: `acquire` waits while `capacity` permits are out, and
/// any task may `release`. The consumer's dispatcher acquires one per message it hands to a
/// lane; the lane releases it once the message is handled.
final class InFlightLimit: Sendable {
    private struct State {
        var available: Int
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state: Mutex<State>

    init(capacity: Int) {
        state = Mutex(State(available: capacity))
    }

    /// Returns early, without a permit, when the task is cancelled: the lanes that would have
    /// released one have stopped too.
    func acquire() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let granted = state.withLock { state -> Bool in
                    if state.available > 0 {
                        state.available -= 1
                        return true
                    }
                    if Task.isCancelled { return true }
                    precondition(state.waiter == nil, "one task acquires")
                    state.waiter = continuation
                    return false
                }
                if granted { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            // A waiting acquirer takes the permit directly.
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.available += 1
            return nil
        }
        waiter?.resume()
    }
}

import Synchronization

/// Takes, inside this process, the wake-ups that a pool's commits ask for
/// (`PostgresConnection.notifyAfterCommit`), so that they need no NOTIFY through the server.
/// Messaging's `WakeUpBus` is the one there is; a pool has at most one.
public protocol InProcessWakeUps: AnyObject, Sendable {
    /// Wakes whoever in this process waits on `channel`; false if nobody does (then a NOTIFY
    /// goes to the server for listeners elsewhere).
    func wake(_ channel: String) -> Bool
}

/// What a pool's connections do with the wake-ups of a committed transaction: wake this
/// process's waiters directly, and NOTIFY through the server only the channels nobody here
/// waits on, at most once per channel within the window the writers gave.
final class CommitWakeUps: Sendable {
    private let receiver = Mutex<(any InProcessWakeUps)?>(nil)
    /// When a NOTIFY last went out on each channel, from any connection of the pool.
    private let lastNotified = Mutex<[String: ContinuousClock.Instant]>([:])

    /// The receiver of this pool's in-process wake-ups, made by `make` the first time.
    func receiver<Receiver: InProcessWakeUps>(_ make: () -> Receiver) -> Receiver {
        receiver.withLock { installed -> Receiver in
            if let installed {
                guard let same = installed as? Receiver else {
                    preconditionFailure("a pool's in-process wake-ups have one receiver type, not \(type(of: installed)) and \(Receiver.self)")
                }
                return same
            }
            let made = make()
            installed = made
            return made
        }
    }

    /// Wakes the waiters of this process on each channel of `pending` (channel → window), and
    /// returns, sorted, the channels that still need a NOTIFY: nobody here waits on them and no
    /// NOTIFY went out on them within their window. Those are recorded as sent now, before
    /// sending: the NOTIFY reaches listeners when it commits, later still.
    func channelsToNotify(_ pending: [String: Duration], now: ContinuousClock.Instant = .now) -> [String] {
        let receiver = receiver.withLock { $0 }
        let remote = pending.filter { channel, _ in !(receiver?.wake(channel) ?? false) }
        guard !remote.isEmpty else { return [] }
        return lastNotified.withLock { last in
            remote.filter { channel, window in
                if let sent = last[channel], now - sent < window { return false }
                last[channel] = now
                return true
            }.keys.sorted()
        }
    }
}

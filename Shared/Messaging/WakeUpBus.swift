import PostgresClient
import Synchronization

/// The wake-ups of one pool's commits inside this process, by channel: a transaction that asked
/// for a wake-up on a channel (`notifyAfterCommit`) wakes, once it commits, the loops of this
/// process waiting on that channel, without a NOTIFY through the server. Only when no loop
/// here waits on a channel does the commit NOTIFY it, for listeners in other processes.
///
/// There is one per pool (`PostgresConnectionPool.wakeUpBus`): loops and writers find it
/// through the pool they share.
public final class WakeUpBus: InProcessWakeUps {
    private let waiting = Mutex<[String: [ObjectIdentifier: WakeUpSignal]]>([:])

    public init() {}

    /// `signal` is signalled by every commit that asks for a wake-up on `channel`, until
    /// `unsubscribe`.
    public func subscribe(_ signal: WakeUpSignal, to channel: String) {
        waiting.withLock { $0[channel, default: [:]][ObjectIdentifier(signal)] = signal }
    }

    public func unsubscribe(_ signal: WakeUpSignal, from channel: String) {
        waiting.withLock { waiting in
            waiting[channel]?[ObjectIdentifier(signal)] = nil
            if waiting[channel]?.isEmpty == true { waiting[channel] = nil }
        }
    }

    /// Signals the waiters on `channel`; false if there are none.
    public func wake(_ channel: String) -> Bool {
        let signals = waiting.withLock { $0[channel].map { Array($0.values) } ?? [] }
        for signal in signals { signal.signal() }
        return !signals.isEmpty
    }
}

extension PostgresConnectionPool {
    /// Where the wake-ups of this pool's commits go inside the process.
    public nonisolated var wakeUpBus: WakeUpBus { inProcessWakeUps(WakeUpBus.init) }
}

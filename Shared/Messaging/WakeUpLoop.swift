import Backoff
import Logging
import PostgresClient
import ServiceLifecycle

/// The loop of a worker whose work waits in a table (outbox rows, due deliveries): run a step
/// (claim what is due and process it); once it has caught up, wait until a commit says there
/// is more — a wake-up from this process (`WakeUpBus`) or a NOTIFY from another
/// (`PostgresListener`), both on `channel` — or until `pollInterval` passes, since wake-ups are
/// only hints (lost while disconnected). A step that throws runs again after a backoff that
/// grows while failures repeat. Ends on graceful shutdown or cancellation.
public struct WakeUpLoop: Sendable {
    /// What to do after a step.
    public enum Next: Sendable, Equatable {
        /// More is waiting: step again at once.
        case now
        /// Caught up: wait for a wake-up or the poll interval.
        case afterWakeUp
        /// Step again after this delay, whatever wakes the loop meanwhile.
        case after(Duration)
    }

    public let channel: String
    public let pollInterval: Duration
    /// How long to wait after a wake-up before stepping, so one step takes several commits
    /// that land close together.
    public let settleDelay: Duration
    public let errorBackoff: ExponentialBackoff
    private let pool: PostgresConnectionPool
    private let logger: Logger

    public init(
        pool: PostgresConnectionPool, channel: String, pollInterval: Duration, settleDelay: Duration = .zero,
        errorBackoff: ExponentialBackoff = ExponentialBackoff(initial: .milliseconds(100), maximum: .seconds(5)), logger: Logger
    ) {
        precondition(PostgresConfiguration.isPlainIdentifier(channel), "channel must be a plain identifier")
        self.pool = pool
        self.channel = channel
        self.pollInterval = pollInterval
        self.settleDelay = settleDelay
        self.errorBackoff = errorBackoff
        self.logger = logger
    }

    /// Runs `step` (in this task, one at a time) until graceful shutdown or cancellation;
    /// `onError` hears each error a step throws, before the backoff.
    public func run(_ step: () async throws -> Next, onError: (any Error) -> Void) async {
        let signal = WakeUpSignal()
        let bus = pool.wakeUpBus
        bus.subscribe(signal, to: channel)
        defer { bus.unsubscribe(signal, from: channel) }
        let listener = PostgresListener(configuration: pool.configuration, channel: channel, logger: logger)
        listener.start()
        defer { listener.stop() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in listener.wakeUps { signal.signal() } }
            await loop(signal, step, onError)
            group.cancelAll()
        }
    }

    /// The same for a step that handles its own failures.
    public func run(_ step: () async -> Next) async {
        await run(step) { _ in }  // unreachable: the step cannot throw
    }

    private func loop(_ signal: WakeUpSignal, _ step: () async throws -> Next, _ onError: (any Error) -> Void) async {
        var backoff = errorBackoff
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let next: Next
            do {
                next = try await step()
                backoff.reset()
            } catch {
                onError(error)
                await Self.pause(backoff.next())
                continue
            }
            switch next {
            case .now:
                continue
            case .after(let delay):
                await Self.pause(delay)
            case .afterWakeUp:
                let pollInterval = pollInterval
                await cancelWhenGracefulShutdown { await signal.wait(timeout: pollInterval) }
                if settleDelay > .zero { await Self.pause(settleDelay) }
            }
        }
    }

    /// A sleep that shutdown cuts short (a cancelled sleep returns at once; the loop then ends).
    private static func pause(_ delay: Duration) async {
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
    }
}

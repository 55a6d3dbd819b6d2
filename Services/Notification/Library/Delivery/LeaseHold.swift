import Synchronization

/// Until when this worker surely holds the leases of the notifications it is delivering: the
/// moment it asked for them (or last renewed them) plus the lease. The database's `lease_until`
/// is set later than that moment, by a clock that only another worker's claim compares with it,
/// so while `expiresAt` has not passed no other worker can claim these notifications.
/// Deliveries bound every wait by it: an exchange that would outlast the lease is abandoned
/// before another worker could start the same message.
final class LeaseHold: Sendable {
    private let until: Mutex<ContinuousClock.Instant>

    init(until: ContinuousClock.Instant) {
        self.until = Mutex(until)
    }

    var expiresAt: ContinuousClock.Instant { until.withLock { $0 } }

    func extend(to instant: ContinuousClock.Instant) {
        until.withLock { $0 = max($0, instant) }
    }
}

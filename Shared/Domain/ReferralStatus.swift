/// The closed loop, aligned with FHIR `Task.status` so an EHR can follow a referral.
public enum ReferralStatus: String, Codable, Sendable, CaseIterable {
    case received
    /// A link worker owns it.
    case accepted
    /// The client was contacted and goals set.
    case inProgress = "in-progress"
    /// Closed with an outcome.
    case completed
    /// Not appropriate for social prescribing.
    case rejected
    /// Withdrawn by the referrer.
    case cancelled
    case onHold = "on-hold"
    /// The client could not be reached.
    case failed

    public var isTerminal: Bool {
        switch self {
        case .completed, .rejected, .cancelled, .failed: return true
        default: return false
        }
    }
}

/// What a person does to a referral; each is checked against the status machine.
public enum ReferralAction: String, Codable, Sendable, CaseIterable {
    case accept, start, hold, resume, complete, reject, cancel, fail

    /// reject, cancel, hold and fail must say why.
    public var requiresReason: Bool {
        switch self {
        case .reject, .cancel, .hold, .fail: return true
        default: return false
        }
    }

    public var requiresOutcome: Bool { self == .complete }
}

extension ReferralStatus {
    /// The actions allowed from this status, in a stable order.
    public var allowedActions: [ReferralAction] {
        switch self {
        case .received: return [.accept, .hold, .reject, .cancel]
        case .accepted: return [.start, .hold, .reject, .cancel, .fail]
        case .inProgress: return [.complete, .hold, .cancel, .fail]
        case .onHold: return [.resume, .cancel, .fail]
        case .completed, .rejected, .cancelled, .failed: return []
        }
    }

    /// The status after `action`. `resumeTo` is the status a held referral returns to (the one
    /// it had when it was put on hold).
    public func applying(_ action: ReferralAction, resumeTo: ReferralStatus? = nil) throws(DomainError) -> ReferralStatus {
        guard allowedActions.contains(action) else {
            throw .illegalTransition(from: self, action: action, allowed: allowedActions)
        }
        switch action {
        case .accept: return .accepted
        case .start: return .inProgress
        case .hold: return .onHold
        case .resume: return resumeTo.flatMap { $0.isTerminal || $0 == .onHold ? nil : $0 } ?? .accepted
        case .complete: return .completed
        case .reject: return .rejected
        case .cancel: return .cancelled
        case .fail: return .failed
        }
    }
}

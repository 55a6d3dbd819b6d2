import Contracts
import Domain
import Foundation
import WireFormats

/// A consumed event as notification reads it, and what it leads to (`step`): the changes to what
/// is kept about a referral's audience and its client, and the occasion to plan messages for.
/// Pure: no I/O, so the decisions are testable without a server; `AudienceStore` writes the
/// changes and `NotificationPlanner` plans the occasion.
enum NotificationEvent: Sendable {
    case received(ReferralReceivedV1)
    case profile(ClientProfileV1)
    case consentChanged(ClientConsentChangedV1)
    case erased(ClientErasedV1)
    /// The client's profile tombstone on the clients topic.
    case profileRemoved(clientID: UUID, at: Date)
    case assigned(ReferralAssignedV1, eventID: UUID)
    case statusChanged(ReferralStatusChangedV1, eventID: UUID)
    case connectionProposed(ConnectionProposedV1, eventID: UUID)
    case connectionChanged(ConnectionChangedV1, eventID: UUID)
    case overdue(ReferralOverdueV1, eventID: UUID)

    func step() -> NotificationStep {
        var step = NotificationStep()
        switch self {
        case .received(let referral):
            // Occasions parked for this referral wait on it: planned once it is kept, under the
            // referral's lock so a concurrent occasion is not parked behind it.
            step.lockedReferral = referral.referralID
            step.changes = [.keepAudience(referral)]
            step.plansParked = true
        case .profile(let profile):
            step.changes = [.keepContact(profile)]
        case .consentChanged(let change):
            // Takes effect for every message not sent yet: sending re-reads consent.
            step.changes = [.consent(clientID: change.clientID, clientVersion: change.clientVersion, change.consent)]
        case .erased(let erased):
            step.changes = [
                .withholdMessages(referralID: erased.referralID), .forgetReferral(erased.referralID, at: erased.erasedAt),
                .forgetClient(erased.clientID, at: erased.erasedAt),
            ]
        case .profileRemoved(let clientID, let time):
            // Erases the contact details even if the referrals' erasure events are behind (or
            // lost to a replay that starts later).
            step.changes = [.forgetClient(clientID, at: time)]
        case .assigned(let assigned, let eventID):
            step.occasion = PlannedOccasion(
                record: OccasionRecord(occasion: Occasion.assigned.code, facts: [:], linkWorkerID: assigned.linkWorkerID),
                referralID: assigned.referralID, sourceEventID: eventID, at: assigned.assignedAt)
        case .statusChanged(let change, let eventID):
            guard let status = ReferralStatus(rawValue: change.to) else { break }
            var facts: [String: TemplateValue] = ["status": .text(change.to)]
            // Codes only: words a person wrote stay in intake and never arrive here.
            if let reason = change.reason { facts["reason"] = .text(reason) }
            if let outcome = change.outcome { facts["outcome"] = .text(outcome) }
            step.occasion = PlannedOccasion(
                record: OccasionRecord(occasion: Occasion.referralStatus(status).code, facts: facts),
                referralID: change.referralID, sourceEventID: eventID, at: change.changedAt)
        case .connectionProposed(let proposed, let eventID):
            let facts: [String: TemplateValue] = [
                "resourceName": .text(proposed.resourceName ?? ""), "resourceKind": .text(proposed.resourceKind), "categories": .list(proposed.categories),
                "address": .text(proposed.address ?? ""), "schedule": .text(proposed.schedule ?? ""), "directions": .text(proposed.address ?? ""),
            ]
            step.occasion = PlannedOccasion(
                record: OccasionRecord(occasion: Occasion.connectionProposed.code, facts: facts, resourceID: proposed.resourceID),
                referralID: proposed.referralID, sourceEventID: eventID, at: proposed.proposedAt)
        case .connectionChanged(let change, let eventID):
            guard let status = ConnectionStatus(rawValue: change.to) else { break }
            let facts: [String: TemplateValue] = [
                "resourceName": .text(change.resourceName ?? ""), "resourceKind": .text(change.resourceKind ?? ""),
                "categories": .list(change.categories ?? []),
            ]
            step.occasion = PlannedOccasion(
                record: OccasionRecord(occasion: Occasion.connectionStatus(status).code, facts: facts, resourceID: change.resourceID),
                referralID: change.referralID, sourceEventID: eventID, at: change.changedAt)
        case .overdue(let overdue, let eventID):
            // The owner is nudged, then the site's coordinators are told; once per referral,
            // step and level, whichever event id carries it.
            let occasion: Occasion = overdue.level == .overdue ? .followUpOverdue : .followUpEscalated
            let facts: [String: TemplateValue] = ["step": .text(overdue.step), "dueDate": .text(String(UTCTimestamp.iso8601(overdue.dueAt).prefix(10)))]
            step.occasion = PlannedOccasion(
                record: OccasionRecord(
                    occasion: occasion.code, facts: facts, ownerID: overdue.ownerID, once: "overdue|\(overdue.step)|\(overdue.level.rawValue)"),
                referralID: overdue.referralID, sourceEventID: eventID, at: overdue.raisedAt)
        }
        return step
    }
}

/// What one event leads to, in the order the handler carries it out: lock the referral, write
/// the changes, plan what was parked for the referral, plan the occasion.
struct NotificationStep: Sendable {
    var lockedReferral: UUID?
    var changes: [AudienceChange] = []
    var plansParked = false
    var occasion: PlannedOccasion?
}

/// An occasion to plan messages for, with where it came from.
struct PlannedOccasion: Sendable {
    var record: OccasionRecord
    var referralID: UUID
    var sourceEventID: UUID
    var at: Date
}

/// A change to what notification keeps about the people a referral's messages go to.
enum AudienceChange: Sendable {
    /// The referral as the audience of later messages: kept unless its client was erased (a
    /// replay of the topic from its beginning); a newer version updates its consent.
    case keepAudience(ReferralReceivedV1)
    /// The client's contact details: kept unless the client was erased (a profile handled after
    /// the erasure, from another topic and lane); a newer version replaces them.
    case keepContact(ClientProfileV1)
    /// The client's consent, on every referral of theirs and on their contact details.
    case consent(clientID: UUID, clientVersion: Int, Consent)
    /// Messages not sent yet are withheld and every sent one loses its address and facts.
    case withholdMessages(referralID: UUID)
    /// The referral's audience and parked occasions go; it is remembered by id only, so an
    /// occasion arriving later is dropped rather than parked.
    case forgetReferral(UUID, at: Date)
    /// The client's contact details go; the client is remembered as erased, by id only.
    case forgetClient(UUID, at: Date)
}

import Contracts
import Domain
import Foundation
import Testing

@testable import NotificationService

/// What each consumed event leads to, decided without a server (`NotificationEvent.step`).
@Suite("Notification: what each event changes and plans")
struct NotificationEventTests {
    let referral = UUID()
    let client = UUID()
    let event = UUID()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("an erasure withholds the referral's messages, forgets the referral, then the client, and plans nothing")
    func erasure() {
        let step = NotificationEvent.erased(ClientErasedV1(referralID: referral, clientID: client, erasedAt: now)).step()
        #expect(step.occasion == nil && step.lockedReferral == nil && !step.plansParked)
        let kinds = step.changes.map { change -> String in
            switch change {
            case .withholdMessages(let id): return "withhold \(id == referral)"
            case .forgetReferral(let id, let at): return "referral \(id == referral) \(at == now)"
            case .forgetClient(let id, let at): return "client \(id == client) \(at == now)"
            default: return "other"
            }
        }
        #expect(kinds == ["withhold true", "referral true true", "client true true"])
    }

    @Test("a profile's tombstone forgets the client alone")
    func tombstone() {
        let step = NotificationEvent.profileRemoved(clientID: client, at: now).step()
        guard case .forgetClient(let id, _) = step.changes.first, step.changes.count == 1 else {
            Issue.record("expected one forgetClient, got \(step.changes)")
            return
        }
        #expect(id == client)
    }

    @Test("a received referral is kept under its lock and plans what was parked for it")
    func received() {
        let received = ReferralReceivedV1.sample(referral: referral, client: client, at: now)
        let step = NotificationEvent.received(received).step()
        #expect(step.lockedReferral == referral && step.plansParked && step.occasion == nil)
        guard case .keepAudience(let kept) = step.changes.first else {
            Issue.record("expected keepAudience, got \(step.changes)")
            return
        }
        #expect(kept.referralID == referral && kept.clientID == client)
    }

    @Test("a status change plans its occasion with codes only; an unknown status plans nothing")
    func statusChange() {
        func change(to: String) -> ReferralStatusChangedV1 {
            ReferralStatusChangedV1(
                referralID: referral, referralVersion: 2, site: "site-a", from: "accepted", to: to, action: "x", actorRole: "link-worker", actorID: "sam",
                reason: "client-request", outcome: nil, changedAt: now)
        }
        let step = NotificationEvent.statusChanged(change(to: "on-hold"), eventID: event).step()
        let occasion = try? #require(step.occasion)
        #expect(occasion?.record.occasion == Occasion.referralStatus(.onHold).code)
        #expect(occasion?.record.facts == ["status": .text("on-hold"), "reason": .text("client-request")])
        #expect(occasion?.sourceEventID == event && occasion?.referralID == referral && occasion?.at == now)
        #expect(step.changes.isEmpty)
        #expect(NotificationEvent.statusChanged(change(to: "lost-in-space"), eventID: event).step().occasion == nil)
    }

    @Test("an overdue step is planned once per step and level, whatever event carries it")
    func overdue() {
        func raised(_ level: ReferralOverdueV1.Level, by id: UUID) -> PlannedOccasion? {
            NotificationEvent.overdue(
                ReferralOverdueV1(
                    referralID: referral, referralVersion: 3, site: "site-a", ownerID: "sam", step: "first-contact", level: level,
                    dueAt: now, raisedAt: now), eventID: id
            ).step().occasion
        }
        let first = raised(.overdue, by: UUID())
        let again = raised(.overdue, by: UUID())
        let escalated = raised(.escalated, by: UUID())
        #expect(first?.record.once != nil && first?.record.once == again?.record.once)
        #expect(escalated?.record.once != first?.record.once)
        #expect(first?.record.occasion == Occasion.followUpOverdue.code && escalated?.record.occasion == Occasion.followUpEscalated.code)
        #expect(first?.record.ownerID == "sam")
    }

    @Test("a connection change to a status notification does not know plans nothing")
    func unknownConnectionStatus() {
        let change = ConnectionChangedV1(
            connectionID: UUID(), referralID: referral, referralVersion: 3, resourceID: UUID(), from: "accepted", to: "teleported", reason: nil,
            changedAt: now)
        #expect(NotificationEvent.connectionChanged(change, eventID: event).step().occasion == nil)
    }
}

extension ReferralReceivedV1 {
    static func sample(referral: UUID, client: UUID, at time: Date) -> ReferralReceivedV1 {
        ReferralReceivedV1(
            referralID: referral, referralVersion: 1, clientID: client, site: "site-a", referrerID: "dr-tremblay", referrerRole: "referrer",
            needs: ["loneliness"], interests: [], supportLevel: "light", priority: "routine", preferredLanguage: "fr", postalArea: nil,
            coordinates: nil, ageBand: "65-74", accessibilityNeeds: [], preferredChannel: "sms",
            consent: Consent(contact: true, shareWithPartners: true, evaluationUse: true), sociodemographics: nil, receivedAt: time)
    }
}

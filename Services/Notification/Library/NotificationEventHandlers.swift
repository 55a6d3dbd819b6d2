import Contracts
import Foundation
import Messaging
import PostgresClient

extension NotificationService {
    /// What each consumed event does: read as a `NotificationEvent`, whose pure `step` says what
    /// changes in the audience of later messages (written by `AudienceStore`) and which occasion
    /// the planner turns into messages.
    static func eventHandlers(planner: NotificationPlanner) -> EventHandlers {
        var handlers = EventHandlers()
        let handle: @Sendable (NotificationEvent, PostgresConnection) async throws -> Void = { event, connection in
            let step = event.step()
            if let referral = step.lockedReferral { try await planner.lock(referralID: referral, on: connection) }
            for change in step.changes { try await AudienceStore.apply(change, on: connection) }
            if step.plansParked, let referral = step.lockedReferral { try await planner.planParked(referralID: referral, on: connection) }
            if let occasion = step.occasion {
                try await planner.plan(occasion.record, referralID: occasion.referralID, sourceEventID: occasion.sourceEventID, at: occasion.at, on: connection)
            }
        }
        handlers.on(ReferralReceivedV1.self) { try await handle(.received($0), $2) }
        handlers.on(ClientProfileV1.self) { try await handle(.profile($0), $2) }
        handlers.on(ClientConsentChangedV1.self) { try await handle(.consentChanged($0), $2) }
        handlers.on(ClientErasedV1.self) { try await handle(.erased($0), $2) }
        handlers.onTombstone { key, consumed, connection in
            guard let clientID = UUID(uuidString: key) else { throw PermanentEventFailure("a tombstone whose key \(key.prefix(40)) is not a client id") }
            try await handle(.profileRemoved(clientID: clientID, at: consumed.event.time), connection)
        }
        handlers.on(ReferralAssignedV1.self) { try await handle(.assigned($0, eventID: $1.event.id), $2) }
        handlers.on(ReferralStatusChangedV1.self) { try await handle(.statusChanged($0, eventID: $1.event.id), $2) }
        handlers.on(ConnectionProposedV1.self) { try await handle(.connectionProposed($0, eventID: $1.event.id), $2) }
        handlers.on(ConnectionChangedV1.self) { try await handle(.connectionChanged($0, eventID: $1.event.id), $2) }
        handlers.on(ReferralOverdueV1.self) { try await handle(.overdue($0, eventID: $1.event.id), $2) }
        return handlers
    }
}

import Contracts
import Messaging
import PostgresClient

extension MatchingService {
    /// What each consumed event does: a received referral is matched and assigned, a status
    /// change may release its seats and caseload, an erased client's referral releases what it held and is forgotten.
    static func eventHandlers(_ matchmaker: Matchmaker) -> EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ReferralReceivedV1.self) { referral, _, connection in
            try await matchmaker.receive(referral, on: connection)
        }
        handlers.on(ReferralStatusChangedV1.self) { change, _, connection in
            try await matchmaker.statusChanged(change, on: connection)
        }
        handlers.on(ClientErasedV1.self) { erased, _, connection in
            try await matchmaker.erase(erased, on: connection)
        }
        return handlers
    }
}

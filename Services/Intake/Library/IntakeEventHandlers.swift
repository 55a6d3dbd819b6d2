import Contracts
import Messaging
import PostgresClient

extension IntakeService {
    /// What each consumed event does: matching's connection events become the outputs of the
    /// referral's FHIR Task, so an EHR sees the connections made.
    static func eventHandlers() -> EventHandlers {
        var handlers = EventHandlers()
        handlers.on(ConnectionProposedV1.self) { event, _, connection in
            try await connection.withSession {
                try ReferralTasks.recordConnection(
                    event.connectionID, referral: event.referralID, state: "proposed", resourceName: event.resourceName,
                    resourceKind: event.resourceKind, at: event.proposedAt, on: $0)
            }
        }
        handlers.on(ConnectionChangedV1.self) { event, _, connection in
            try await connection.withSession {
                try ReferralTasks.recordConnection(
                    event.connectionID, referral: event.referralID, state: event.to, resourceName: event.resourceName,
                    resourceKind: event.resourceKind, at: event.changedAt, on: $0)
            }
        }
        return handlers
    }
}

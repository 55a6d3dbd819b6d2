import Contracts
import PostgresClient

/// Routes consumed events to typed handlers by their CloudEvents `type`. Types nobody
/// registered are skipped (consumers ignore event types they do not know); a body that does not
/// decode as its type is a permanent failure, so it goes to the dead-letter topic.
public struct EventHandlers: Sendable {
    public typealias Handler<Payload: EventPayload> = @Sendable (Payload, ConsumedEvent, PostgresConnection) async throws -> Void

    private var routes: [String: @Sendable (ConsumedEvent, PostgresConnection) async throws -> Void] = [:]

    public init() {}

    public mutating func on<Payload: EventPayload>(_ type: Payload.Type, _ handler: @escaping Handler<Payload>) {
        routes[Payload.eventType] = { consumed, connection in
            try await handler(try consumed.event.decode(Payload.self), consumed, connection)
        }
    }

    /// A tombstone on a compacted topic: `key` is the record key (the client id on the clients
    /// topic). Tombstones have no body; without this handler they are skipped like any type
    /// nobody registered.
    public mutating func onTombstone(_ handler: @escaping @Sendable (_ key: String, ConsumedEvent, PostgresConnection) async throws -> Void) {
        routes[CloudEvent.tombstoneType] = { consumed, connection in
            try await handler(consumed.key ?? consumed.event.subject, consumed, connection)
        }
    }

    /// The event types handled, for logs and tests.
    public var eventTypes: Set<String> { Set(routes.keys) }

    /// One handler for `IdempotentConsumer`.
    public var handler: IdempotentConsumer.Handler {
        let routes = routes
        return { consumed, connection in
            guard let route = routes[consumed.event.type] else { return }
            try await route(consumed, connection)
        }
    }
}

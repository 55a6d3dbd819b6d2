import Contracts
import Foundation
import PostgresClient

/// Writes events into the outbox inside the caller's transaction, so a state change and its
/// event commit (or roll back) together. The relay publishes them afterwards.
///
/// Ordering: writers lock the aggregate's row before appending its event, so for one key the
/// outbox ids follow commit order and the relay publishes them in that order.
public struct Outbox: Sendable {
    public let topics: TopicNames
    /// The CloudEvents `source` of this service, e.g. `/passerelle/intake`.
    public let source: String

    public init(topics: TopicNames, source: String) {
        self.topics = topics
        self.source = source
    }

    /// Appends a typed event; returns its envelope.
    @discardableResult
    public func append<Payload: EventPayload>(_ payload: Payload, on connection: PostgresConnection, id: UUID = UUID(), time: Date = Date()) async throws -> CloudEvent {
        let event = try CloudEvent(payload, source: source, id: id, time: time)
        try await append(event, topic: topics.name(Payload.topic), key: payload.subject, on: connection)
        return event
    }

    /// Appends a tombstone for `key` on a compacted topic (erasure).
    public func appendTombstone(topic: TopicName, key: String, on connection: PostgresConnection) async throws {
        let event = CloudEvent(source: source, type: "passerelle.tombstone", subject: key, data: nil)
        try await append(event, topic: topics.name(topic), key: key, on: connection)
    }

    public func append(_ event: CloudEvent, topic: String, key: String, on connection: PostgresConnection) async throws {
        let headers = Dictionary(uniqueKeysWithValues: event.headers.map { ($0.key, $0.value) })
        let headerJSON = String(decoding: try JSONEncoder().encode(headers), as: UTF8.self)
        let payload = event.data.map { String(decoding: $0, as: UTF8.self) }
        try await connection.query("""
            INSERT INTO outbox (event_id, event_type, topic, record_key, headers, payload)
            VALUES (\(event.id)::uuid, \(event.type), \(topic), \(key), \(headerJSON)::jsonb, \(payload))
            """)
    }
}
